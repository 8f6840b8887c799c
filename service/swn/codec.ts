// NDR stubs of the witness methods (MS-SWN §3.1.4, IDL in §6), requests decoded and responses
// encoded. test/unit/swn-codec.test.ts holds Windows-captured stubs of every method as golden bytes.

import { DecodeError } from '../bytes/decode-error.ts';
import { NdrReader, NdrWriter } from '../rpc/ndr.ts';
import { INTERFACE_GROUP_NAME_CHARS, WitnessVersion, type WinErrorValue } from './constants.ts';
import type { WitnessInterface } from './interface-list.ts';
import { addressBytes } from './messages.ts';
import type { Notification } from './notification.ts';

export interface RegisterArgs {
  version: number;
  netName: string | null;
  ipAddress: string | null;
  clientName: string | null;
}

export interface RegisterExArgs extends RegisterArgs {
  shareName: string | null;
  flags: number;
  keepAliveSec: number;
}

/** WitnessrRegister: Version, then NetName, IpAddress, ClientComputerName as [unique, string]. */
export function decodeRegister(stub: Buffer): RegisterArgs {
  const r = new NdrReader(stub);
  const version = r.u32('Version');
  const netName = r.uniqueWideString('NetName');
  const ipAddress = r.uniqueWideString('IpAddress');
  const clientName = r.uniqueWideString('ClientComputerName');
  return { version, netName, ipAddress, clientName };
}

/** WitnessrRegisterEx: Version, NetName, ShareName, IpAddress, ClientComputerName, Flags, KeepAliveTimeout. */
export function decodeRegisterEx(stub: Buffer): RegisterExArgs {
  const r = new NdrReader(stub);
  const version = r.u32('Version');
  const netName = r.uniqueWideString('NetName');
  const shareName = r.uniqueWideString('ShareName');
  const ipAddress = r.uniqueWideString('IpAddress');
  const clientName = r.uniqueWideString('ClientComputerName');
  const flags = r.u32('Flags');
  const keepAliveSec = r.u32('KeepAliveTimeout');
  return { version, netName, shareName, ipAddress, clientName, flags, keepAliveSec };
}

/** UnRegister, AsyncNotify, UnRegisterEx: a single context handle. */
export function decodeHandle(stub: Buffer): Buffer {
  return new NdrReader(stub).contextHandle('pContext');
}

export function encodeStatus(status: WinErrorValue): Buffer {
  return new NdrWriter().u32(status).finish();
}

export function encodeHandleAndStatus(handle: Buffer, status: WinErrorValue): Buffer {
  return new NdrWriter().contextHandle(handle).u32(status).finish();
}

/**
 * WITNESS_INTERFACE_INFO, 552 bytes: WCHAR InterfaceGroupName[260], ULONG Version, USHORT State
 * (+2 padding), ULONG IPV4, USHORT IPV6[8], ULONG Flags; addresses in network byte order.
 * Version: Windows Server 2012 R2 and later send 0xFFFFFFFF here rather than their
 * WitnessServiceVersion (MS-SWN §3.1.4.1 says the latter); clients read it as "V2 or later", so we
 * follow Windows.
 */
function writeInterface(w: NdrWriter, i: WitnessInterface): void {
  const name = Buffer.alloc(INTERFACE_GROUP_NAME_CHARS * 2);
  name.write(i.groupName.slice(0, INTERFACE_GROUP_NAME_CHARS - 1), 'utf16le');
  w.align(4).bytes(name).u32(WitnessVersion.UNSPECIFIED).u16(i.state).align(4);
  const { family, bytes } = addressBytes(i.address);
  w.bytes(family === 4 ? bytes : Buffer.alloc(4)).bytes(family === 6 ? bytes : Buffer.alloc(16)).u32(i.flags);
}

/** [out] PWITNESS_INTERFACE_LIST *InterfaceList, then the WERROR. */
export function encodeInterfaceList(status: WinErrorValue, list: readonly WitnessInterface[]): Buffer {
  const w = new NdrWriter();
  if (list.length === 0) return w.nullPointer().u32(status).finish();
  w.referent().u32(list.length).referent();
  w.u32(list.length); // conformant array max_count, then the entries (deferred pointee)
  for (const i of list) writeInterface(w, i);
  return w.u32(status).finish();
}

/** [out] PRESP_ASYNC_NOTIFY *pResp: NULL on error (as Samba and Windows clients expect), then the WERROR. */
export function encodeAsyncNotify(status: WinErrorValue, n: Notification | null): Buffer {
  const w = new NdrWriter();
  if (!n) return w.nullPointer().u32(status).finish();
  w.referent().u32(n.type).u32(n.buffer.length).u32(n.count);
  w.referent().u32(n.buffer.length).bytes(n.buffer);
  return w.u32(status).finish();
}

// Decoders of the responses, for our own test and benchmark clients and for captured bytes.

export interface InterfaceListResponse {
  status: number;
  interfaces: { groupName: string; version: number; state: number; ipv4: string; ipv6: Buffer; flags: number }[];
}

/** @testOnly the client direction of this wire format, for round-trip and golden-byte tests and the benches' clients. */
export function decodeInterfaceListResponse(stub: Buffer): InterfaceListResponse {
  const r = new NdrReader(stub);
  const interfaces: InterfaceListResponse['interfaces'] = [];
  if (r.pointer('InterfaceList') !== 0) {
    const n = r.u32('NumberOfInterfaces');
    if (r.pointer('InterfaceInfo') !== 0) {
      const max = r.u32('max_count');
      if (max !== n) throw new DecodeError(`interface list: max_count ${max} but NumberOfInterfaces ${n}`);
      if (n * 552 > r.remaining) throw new DecodeError(`interface list: ${n} entries do not fit in ${r.remaining} bytes`);
      for (let i = 0; i < n; i++) {
        r.align(4);
        const name = r.bytes(520, 'InterfaceGroupName');
        let cut = 0;
        while (cut < name.length && name.readUInt16LE(cut) !== 0) cut += 2;
        const version = r.u32('Version');
        const state = r.u16('State');
        r.align(4);
        const ipv4 = Array.from(r.bytes(4, 'IPV4')).join('.');
        const ipv6 = Buffer.from(r.bytes(16, 'IPV6'));
        const flags = r.u32('Flags');
        interfaces.push({ groupName: name.subarray(0, cut).toString('utf16le'), version, state, ipv4, ipv6, flags });
      }
    }
  }
  return { status: r.u32('WERROR'), interfaces };
}

export interface AsyncNotifyResponse {
  status: number;
  type: number | null;
  count: number;
  buffer: Buffer;
}

/** @testOnly the client direction of this wire format, for round-trip and golden-byte tests and the benches' clients. */
export function decodeAsyncNotifyResponse(stub: Buffer): AsyncNotifyResponse {
  const r = new NdrReader(stub);
  if (r.pointer('pResp') === 0) return { status: r.u32('WERROR'), type: null, count: 0, buffer: Buffer.alloc(0) };
  const type = r.u32('MessageType');
  const length = r.u32('Length');
  const count = r.u32('NumberOfMessages');
  let buffer = Buffer.alloc(0);
  if (r.pointer('MessageBuffer') !== 0) {
    const max = r.u32('max_count');
    if (max !== length) throw new DecodeError(`MessageBuffer: max_count ${max} but Length ${length}`);
    buffer = Buffer.from(r.bytes(length, 'MessageBuffer'));
  }
  return { status: r.u32('WERROR'), type, count, buffer };
}

/** @testOnly the client direction of this wire format, for round-trip and golden-byte tests and the benches' clients. */
export function decodeHandleAndStatus(stub: Buffer): { handle: Buffer; status: number } {
  const r = new NdrReader(stub);
  const handle = r.contextHandle('ppContext');
  return { handle, status: r.u32('WERROR') };
}

/** @testOnly the client direction of this wire format, for round-trip and golden-byte tests and the benches' clients. */
export function encodeRegister(a: RegisterArgs): Buffer {
  return new NdrWriter().u32(a.version).uniqueWideString(a.netName).uniqueWideString(a.ipAddress).uniqueWideString(a.clientName).finish();
}

/** @testOnly the client direction of this wire format, for round-trip and golden-byte tests and the benches' clients. */
export function encodeRegisterEx(a: RegisterExArgs): Buffer {
  return new NdrWriter()
    .u32(a.version)
    .uniqueWideString(a.netName)
    .uniqueWideString(a.shareName)
    .uniqueWideString(a.ipAddress)
    .uniqueWideString(a.clientName)
    .u32(a.flags)
    .u32(a.keepAliveSec)
    .finish();
}
