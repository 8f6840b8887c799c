// Lists a keytab's entries (principal, kvno, enctype) for witnessd's start-up log and warnings:
// the MIT/Heimdal FILE keytab format, version 0x0502 (big-endian), as MIT's keytab.txt describes
// it. Keys are skipped, never kept. The GSS library reads the keytab for real; this is only so an
// admin sees which principals and kvnos are served.
import fs from 'node:fs';
import { etypeName } from './ap-req.ts';

/** A keytab larger than this is not listed (one entry is ~100 bytes). */
const MAX_KEYTAB = 4 * 1024 * 1024;

export interface KeytabEntry {
  principal: string;
  kvno: number;
  enctype: string;
}

export function listKeytab(file: string): KeytabEntry[] {
  const b = fs.readFileSync(file);
  if (b.length > MAX_KEYTAB) throw new Error(`keytab over ${MAX_KEYTAB} bytes`);
  if (b[0] !== 5 || b[1] !== 2) throw new Error('not a version 0x0502 keytab');
  const out: KeytabEntry[] = [];
  let pos = 2;
  while (pos + 4 <= b.length) {
    const size = b.readInt32BE(pos);
    pos += 4;
    if (size < 0) {
      pos += -size; // a hole left by a removed entry
      continue;
    }
    if (size === 0 || pos + size > b.length) break;
    out.push(entry(b.subarray(pos, pos + size)));
    pos += size;
  }
  return out;
}

function entry(e: Buffer): KeytabEntry {
  let p = 0;
  const need = (n: number): void => {
    if (p + n > e.length) throw new Error('truncated keytab entry');
  };
  const u16 = (): number => {
    need(2);
    const v = e.readUInt16BE(p);
    p += 2;
    return v;
  };
  const str = (): string => {
    const n = u16();
    need(n);
    const v = e.toString('utf8', p, p + n);
    p += n;
    return v;
  };
  const count = u16();
  const realm = str();
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(str());
  need(4 + 4 + 1);
  p += 8; // name type, timestamp
  let kvno = e.readUInt8(p);
  p += 1;
  const enctype = u16();
  const keyLen = u16();
  need(keyLen);
  p += keyLen;
  // A 32-bit kvno follows when there is room; it wins over the 8-bit one unless zero.
  if (p + 4 <= e.length) {
    const k32 = e.readUInt32BE(p);
    if (k32 !== 0) kvno = k32;
  }
  return { principal: `${parts.join('/')}@${realm}`, kvno, enctype: etypeName(enctype) };
}
