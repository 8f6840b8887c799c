// Protocol towers (C706 Appendix L, MS-RPCE §3.1.3.5.3): the endpoint mapper's description of
// "interface X, NDR, connection-oriented RPC over TCP port P at address A". Not NDR: a u16 floor
// count, then per floor a u16 LHS length + LHS bytes and a u16 RHS length + RHS bytes, all
// little-endian except the TCP port and IP address (network order).

import type { SyntaxId } from '../rpc/pdu.ts';
import { uuidFromWire, uuidToWire } from '../rpc/uuid.ts';

export type { SyntaxId };

export const ProtocolId = {
  UUID: 0x0d,
  NCACN: 0x0b, // connection-oriented RPC
  TCP: 0x07,
  IP: 0x09,
} as const;

/** NDR 2.0 transfer syntax. */
export const NDR_SYNTAX = { uuid: '8a885d04-1ceb-11c9-9fe8-08002b104860', version: 2 } as const;

/** MS-RPCE §3.1.3.5.3: reject towers with more than six floors. */
const MAX_FLOORS = 6;

export interface Floor {
  lhs: Buffer;
  rhs: Buffer;
}

export class TowerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TowerError';
  }
}

export function parseFloors(buf: Buffer): Floor[] {
  if (buf.length < 2) throw new TowerError(`tower: ${buf.length} bytes, need 2 for the floor count`);
  const count = buf.readUInt16LE(0);
  if (count > MAX_FLOORS) throw new TowerError(`tower: ${count} floors, at most ${MAX_FLOORS} accepted`);
  const floors: Floor[] = [];
  let off = 2;
  const take = (what: string): Buffer => {
    if (buf.length - off < 2) throw new TowerError(`tower: truncated before the ${what} length`);
    const len = buf.readUInt16LE(off);
    off += 2;
    if (buf.length - off < len) throw new TowerError(`tower: ${what} of ${len} bytes but only ${buf.length - off} left`);
    const b = buf.subarray(off, off + len);
    off += len;
    return b;
  };
  for (let i = 0; i < count; i++) floors.push({ lhs: take(`floor ${i + 1} LHS`), rhs: take(`floor ${i + 1} RHS`) });
  return floors;
}

export function serializeFloors(floors: readonly Floor[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(2)];
  parts[0]?.writeUInt16LE(floors.length, 0);
  for (const f of floors) {
    const l = Buffer.alloc(2);
    l.writeUInt16LE(f.lhs.length, 0);
    const r = Buffer.alloc(2);
    r.writeUInt16LE(f.rhs.length, 0);
    parts.push(l, f.lhs, r, f.rhs);
  }
  return Buffer.concat(parts);
}

function uuidFloor(s: SyntaxId): Floor {
  const lhs = Buffer.alloc(19);
  lhs[0] = ProtocolId.UUID;
  uuidToWire(s.uuid).copy(lhs, 1);
  lhs.writeUInt16LE(s.version, 17);
  const rhs = Buffer.alloc(2);
  rhs.writeUInt16LE(s.minor, 0);
  return { lhs, rhs };
}

function readUuidFloor(f: Floor | undefined, which: string): SyntaxId {
  if (f?.lhs.length !== 19 || f.lhs[0] !== ProtocolId.UUID || f.rhs.length < 2) throw new TowerError(`tower: floor ${which} is not a UUID floor`);
  return { uuid: uuidFromWire(f.lhs.subarray(1, 17)), version: f.lhs.readUInt16LE(17), minor: f.rhs.readUInt16LE(0) };
}

export interface TcpTower {
  iface: SyntaxId;
  transfer: SyntaxId;
  port: number;
  /** IPv4 address; 0.0.0.0 when the client asks without one. */
  address: string;
}

/** Builds the five-floor ncacn_ip_tcp tower: interface, NDR, RPC CO, TCP port, IP address. */
export function buildTcpTower(t: TcpTower): Buffer {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(t.port, 0);
  const ip = Buffer.from(t.address.split('.').map(Number));
  const minor = Buffer.alloc(2);
  return serializeFloors([
    uuidFloor(t.iface),
    uuidFloor(t.transfer),
    { lhs: Buffer.from([ProtocolId.NCACN]), rhs: minor },
    { lhs: Buffer.from([ProtocolId.TCP]), rhs: port },
    { lhs: Buffer.from([ProtocolId.IP]), rhs: ip.length === 4 ? ip : Buffer.alloc(4) },
  ]);
}

/** Reads the floors a client sends in ept_map; only the first three must be present and valid. */
export function parseMapTower(buf: Buffer): { iface: SyntaxId; transfer: SyntaxId; protocol: number | null } {
  const floors = parseFloors(buf);
  if (floors.length < 3) throw new TowerError(`tower: ${floors.length} floors, need at least 3`);
  const proto = floors[2]?.lhs[0] ?? null;
  return { iface: readUuidFloor(floors[0], '1'), transfer: readUuidFloor(floors[1], '2'), protocol: proto };
}
