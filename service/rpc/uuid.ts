// GUIDs on the wire (MS-DTYP §2.3.4.2 / C706): Data1 (u32), Data2 (u16), Data3 (u16) little-endian,
// then Data4's 8 bytes as they are.
//
// Every bind and bind_ack carries the same few syntax UUIDs (the witness and endpoint mapper
// interfaces, NDR, NDR64, the bind-time feature set), so both directions keep the ones they have
// converted, up to KNOWN_MAX of them, instead of parsing hex and building strings per PDU. A client
// sending other UUIDs fills the table once; after that they are converted each time.

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const KNOWN_MAX = 32;
const toWire = new Map<string, Buffer>();
/** Wire forms already seen, as four little-endian words each, and their strings. */
const fromWireWords: number[] = [];
const fromWireText: string[] = [];

export function uuidToWire(uuid: string): Buffer {
  const known = toWire.get(uuid);
  if (known) return Buffer.from(known);
  if (!UUID_RE.test(uuid)) throw new Error(`not a UUID: ${JSON.stringify(uuid)}`);
  const hex = Buffer.from(uuid.replace(/-/g, ''), 'hex');
  const b = Buffer.alloc(16);
  b.writeUInt32LE(hex.readUInt32BE(0), 0);
  b.writeUInt16LE(hex.readUInt16BE(4), 4);
  b.writeUInt16LE(hex.readUInt16BE(6), 6);
  hex.copy(b, 8, 8, 16);
  if (toWire.size < KNOWN_MAX) toWire.set(uuid, Buffer.from(b));
  return b;
}

export function uuidFromWire(b: Buffer): string {
  if (b.length < 16) throw new Error(`UUID needs 16 bytes, got ${b.length}`);
  const w0 = b.readInt32LE(0), w1 = b.readInt32LE(4), w2 = b.readInt32LE(8), w3 = b.readInt32LE(12);
  for (let i = 0, k = 0; i < fromWireText.length; i++, k += 4) {
    if (fromWireWords[k] === w0 && fromWireWords[k + 1] === w1 && fromWireWords[k + 2] === w2 && fromWireWords[k + 3] === w3) return fromWireText[i] ?? '';
  }
  const hex = Buffer.alloc(16);
  hex.writeUInt32BE(b.readUInt32LE(0), 0);
  hex.writeUInt16BE(b.readUInt16LE(4), 4);
  hex.writeUInt16BE(b.readUInt16LE(6), 6);
  b.copy(hex, 8, 8, 16);
  const s = hex.toString('hex');
  const text = `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  if (fromWireText.length < KNOWN_MAX) {
    fromWireWords.push(w0, w1, w2, w3);
    fromWireText.push(text);
  }
  return text;
}
