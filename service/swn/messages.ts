// RESP_ASYNC_NOTIFY.MessageBuffer payloads (MS-SWN §2.2.2.1–2.2.2.3). These are NOT NDR: plain
// little-endian byte structures with no alignment padding, except that IPv4/IPv6 addresses are
// in network byte order (as Windows sends them; Samba fixed its endianness to match).
//
// encode* build the bytes a client receives; decode* are strict, bounded parsers used by tests
// and by anything that must read a captured buffer.

import net from 'node:net';
import { ChangeType, IpAddrFlags, type ChangeTypeValue } from './constants.ts';
import { ipv6Groups } from '../../store/address.ts';

export class MessageDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MessageDecodeError';
  }
}

export interface ResourceChange {
  changeType: ChangeTypeValue;
  resourceName: string;
}

/** RESOURCE_CHANGE: u32 Length (whole entry incl. NUL), u32 ChangeType, WCHAR ResourceName[] NUL-terminated. */
export function encodeResourceChanges(changes: readonly ResourceChange[]): Buffer {
  const parts = changes.map((c) => {
    const name = Buffer.from(`${c.resourceName}\0`, 'utf16le');
    const b = Buffer.alloc(8 + name.length);
    b.writeUInt32LE(b.length, 0);
    b.writeUInt32LE(c.changeType, 4);
    name.copy(b, 8);
    return b;
  });
  return Buffer.concat(parts);
}

/** @testOnly the client direction of this wire format, for round-trip and golden-byte tests and the benches' clients. */
export function decodeResourceChanges(buf: Buffer, count: number): ResourceChange[] {
  const out: ResourceChange[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (buf.length - off < 8) throw new MessageDecodeError(`RESOURCE_CHANGE ${i}: ${buf.length - off} bytes left, need 8 for the header`);
    const len = buf.readUInt32LE(off);
    const type = buf.readUInt32LE(off + 4);
    if (len < 10 || len > buf.length - off || len % 2 !== 0) throw new MessageDecodeError(`RESOURCE_CHANGE ${i}: bad Length ${len} with ${buf.length - off} bytes left`);
    if (type !== ChangeType.UNKNOWN && type !== ChangeType.AVAILABLE && type !== ChangeType.UNAVAILABLE) {
      throw new MessageDecodeError(`RESOURCE_CHANGE ${i}: unknown ChangeType 0x${type.toString(16)}`);
    }
    const name = buf.subarray(off + 8, off + len);
    if (name.readUInt16LE(name.length - 2) !== 0) throw new MessageDecodeError(`RESOURCE_CHANGE ${i}: ResourceName is not NUL-terminated`);
    out.push({ changeType: type, resourceName: name.subarray(0, name.length - 2).toString('utf16le') });
    off += len;
  }
  if (off !== buf.length) throw new MessageDecodeError(`RESOURCE_CHANGE: ${buf.length - off} trailing bytes after ${count} entries`);
  return out;
}

export interface IpAddrInfo {
  /** Dotted IPv4 or textual IPv6. */
  address: string;
  /** OFFLINE/ONLINE state (V2 only); null → neither bit set (V1 clients). */
  online: boolean | null;
}

const IPADDR_INFO_SIZE = 24;
const IPADDR_INFO_LIST_HEADER = 12;

function ipv6Bytes(addr: string): Buffer {
  // Expand "::" and embedded IPv4 into 16 bytes without external helpers.
  const out = Buffer.alloc(16);
  let text = addr;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  const groups: number[] = [];
  if (v4?.[1] !== undefined) {
    const o = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length) + `${(((o[0] ?? 0) << 8) | (o[1] ?? 0)).toString(16)}:${(((o[2] ?? 0) << 8) | (o[3] ?? 0)).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  for (const g of h) groups.push(parseInt(g, 16));
  for (let i = 0; i < fill; i++) groups.push(0);
  for (const g of t) groups.push(parseInt(g, 16));
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Compress the longest run of zero groups, as the canonical textual form does (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Writes an address into 4 (IPv4) or 16 (IPv6) bytes in network order; used by interface lists too. */
export function addressBytes(address: string): { family: 4 | 6; bytes: Buffer } {
  if (net.isIPv4(address)) return { family: 4, bytes: Buffer.from(address.split('.').map(Number)) };
  // store/address's parser, not net.isIPv6 (whose first call costs node 20 ~60 ms of CPU).
  if (ipv6Groups(address) !== null) return { family: 6, bytes: ipv6Bytes(address) };
  throw new Error(`not an IP address: ${JSON.stringify(address)}`);
}

export function bytesToAddress(family: 4 | 6, bytes: Buffer): string {
  return family === 4 ? Array.from(bytes.subarray(0, 4)).join('.') : ipv6Text(bytes.subarray(0, 16));
}

/** IPADDR_INFO_LIST: u32 Length (incl. 12-byte header), u32 Reserved 0, u32 IPAddrInstances, IPADDR_INFO[] of 24 bytes. */
export function encodeIpAddrInfoList(list: readonly IpAddrInfo[]): Buffer {
  const b = Buffer.alloc(IPADDR_INFO_LIST_HEADER + IPADDR_INFO_SIZE * list.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt32LE(0, 4);
  b.writeUInt32LE(list.length, 8);
  list.forEach((info, i) => {
    const off = IPADDR_INFO_LIST_HEADER + i * IPADDR_INFO_SIZE;
    const { family, bytes } = addressBytes(info.address);
    let flags: number = family === 4 ? IpAddrFlags.V4 : IpAddrFlags.V6;
    if (info.online === true) flags |= IpAddrFlags.ONLINE;
    if (info.online === false) flags |= IpAddrFlags.OFFLINE;
    b.writeUInt32LE(flags, off);
    if (family === 4) bytes.copy(b, off + 4);
    else bytes.copy(b, off + 8);
  });
  return b;
}

/** @testOnly the client direction of this wire format, for round-trip and golden-byte tests and the benches' clients. */
export function decodeIpAddrInfoList(buf: Buffer): IpAddrInfo[] {
  if (buf.length < IPADDR_INFO_LIST_HEADER) throw new MessageDecodeError(`IPADDR_INFO_LIST: ${buf.length} bytes, need at least 12`);
  const len = buf.readUInt32LE(0);
  const count = buf.readUInt32LE(8);
  if (len !== buf.length) throw new MessageDecodeError(`IPADDR_INFO_LIST: Length ${len} but the buffer holds ${buf.length} bytes`);
  if (count !== (len - IPADDR_INFO_LIST_HEADER) / IPADDR_INFO_SIZE) {
    throw new MessageDecodeError(`IPADDR_INFO_LIST: ${count} instances do not fit Length ${len}`);
  }
  const out: IpAddrInfo[] = [];
  for (let i = 0; i < count; i++) {
    const off = IPADDR_INFO_LIST_HEADER + i * IPADDR_INFO_SIZE;
    const flags = buf.readUInt32LE(off);
    const v4 = (flags & IpAddrFlags.V4) !== 0;
    const v6 = (flags & IpAddrFlags.V6) !== 0;
    if (v4 === v6) throw new MessageDecodeError(`IPADDR_INFO ${i}: flags 0x${flags.toString(16)} must set exactly one of V4 and V6`);
    const online = (flags & IpAddrFlags.ONLINE) !== 0 ? true : (flags & IpAddrFlags.OFFLINE) !== 0 ? false : null;
    out.push({ address: v4 ? bytesToAddress(4, buf.subarray(off + 4, off + 8)) : bytesToAddress(6, buf.subarray(off + 8, off + 24)), online });
  }
  return out;
}
