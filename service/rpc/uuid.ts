// GUIDs on the wire (MS-DTYP §2.3.4.2 / C706): Data1 (u32), Data2 (u16), Data3 (u16) little-endian,
// then Data4's 8 bytes as they are.

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function uuidToWire(uuid: string): Buffer {
  if (!UUID_RE.test(uuid)) throw new Error(`not a UUID: ${JSON.stringify(uuid)}`);
  const hex = Buffer.from(uuid.replace(/-/g, ''), 'hex');
  const b = Buffer.alloc(16);
  b.writeUInt32LE(hex.readUInt32BE(0), 0);
  b.writeUInt16LE(hex.readUInt16BE(4), 4);
  b.writeUInt16LE(hex.readUInt16BE(6), 6);
  hex.copy(b, 8, 8, 16);
  return b;
}

export function uuidFromWire(b: Buffer): string {
  if (b.length < 16) throw new Error(`UUID needs 16 bytes, got ${b.length}`);
  const hex = Buffer.alloc(16);
  hex.writeUInt32BE(b.readUInt32LE(0), 0);
  hex.writeUInt16BE(b.readUInt16LE(4), 4);
  hex.writeUInt16BE(b.readUInt16LE(6), 6);
  b.copy(hex, 8, 8, 16);
  const s = hex.toString('hex');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}
