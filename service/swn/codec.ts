// NDR stubs of the witness methods (MS-SWN §3.1.4, IDL in §6), requests decoded and responses
// encoded. The layouts and the Windows-captured vectors are in shared/reference/swn-protocol.md
// §1.5; test/unit/swn-codec.test.ts holds them as golden bytes.

import { NdrReader, NdrWriter } from '../rpc/ndr.ts';
import { INTERFACE_GROUP_NAME_CHARS, WitnessVersion, type WinErrorValue } from './constants.ts';
import type { WitnessInterface } from './interfaces.ts';
import { addressBytes } from './messages.ts';
import type { Notification } from './registry.ts';

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
