// A minimal, bounded DER (ITU-T X.690) reader and writer: just what SPNEGO tokens need (RFC 4178
// §4: "The encoding of the SPNEGO protocol messages shall obey the Distinguished Encoding Rules").
//
// What it accepts, and why so little:
// - identifiers in the low-tag-number form only (one octet, tag number 0..30, X.690 §8.1.2.2):
//   every tag SPNEGO, NegHints and the GSS-API framing use fits; the high form (0x1f) is refused;
// - definite lengths in their shortest form (X.690 §10.1): the short form below 128, otherwise
//   the long form with no leading zero octet and at most 4 length octets. The indefinite form
//   (0x80, BER only) and the reserved 0xff are refused;
// - a length never reaches past its enclosing element: nothing is allocated or sliced before that
//   is checked, so a forged length cannot make us allocate or read anything;
// - nesting of constructed elements down to MAX_DEPTH levels.
// Every refusal is a SecurityError('malformed') with a message saying what and where.

import { SecurityError } from '../context.ts';

/** Deepest nesting of constructed elements accepted; SPNEGO itself needs 6 (NegHints in Init2). */
export const MAX_DEPTH = 16;

/** Identifier octets (X.690 §8.1.2): class, constructed bit, tag number — one octet each here. */
export const Tag = {
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  ENUMERATED: 0x0a,
  GENERAL_STRING: 0x1b,
  SEQUENCE: 0x30,
  /** [APPLICATION 0] constructed: RFC 2743 §3.1 InitialContextToken. */
  APPLICATION_0: 0x60,
} as const;

/** The identifier octet of a constructed context-specific tag [n] (EXPLICIT tagging, RFC 4178 §4). */
export function contextTag(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 30) throw new RangeError(`context tag [${n}] outside 0..30`);
  return 0xa0 | n;
}

const CONSTRUCTED = 0x20;

function malformed(message: string): SecurityError {
  return new SecurityError('malformed', message);
}

/** One element as read: views into the input buffer, never copies. */
export interface DerElement {
  /** The identifier octet. */
  tag: number;
  /** The whole encoding: identifier, length and contents (e.g. the MechTypeList the mechListMIC covers). */
  bytes: Buffer;
  /** The contents octets. */
  value: Buffer;
  /** Where the element starts in the buffer the reader was made on. */
  offset: number;
}

export function tagName(tag: number): string {
  const cls = tag >> 6;
  const n = tag & 0x1f;
  if (cls === 2) return `[${n}]`;
  if (cls === 1) return `[APPLICATION ${n}]`;
  return `tag 0x${tag.toString(16).padStart(2, '0')}`;
}

/**
 * Reads the elements of one level of a DER encoding, in order. A reader covers buf[start, end);
 * `enter` gives a reader for the contents of a constructed element one level deeper.
 */
export class DerReader {
  readonly buf: Buffer;
  private pos: number;
  readonly end: number;
  readonly depth: number;

  constructor(buf: Buffer, start = 0, end = buf.length, depth = 0) {
    if (start < 0 || end > buf.length || start > end) throw new RangeError('DerReader bounds outside the buffer');
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.depth = depth;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** The identifier octet of the next element, or null at the end of this level. */
  peekTag(): number | null {
    return this.pos < this.end ? (this.buf[this.pos] ?? null) : null;
  }

  /** Reads the next element's identifier and length and returns it without looking inside. */
  read(what = 'element'): DerElement {
    const start = this.pos;
    if (start >= this.end) throw malformed(`DER: ${what} missing at offset ${start}`);
    const tag = this.buf[start] ?? 0;
    if ((tag & 0x1f) === 0x1f) throw malformed(`DER: ${what} at offset ${start} uses the high tag number form`);
    let p = start + 1;
    if (p >= this.end) throw malformed(`DER: ${what} at offset ${start} is truncated in its length`);
    const first = this.buf[p++] ?? 0;
    let length: number;
    if (first < 0x80) {
      length = first;
    } else if (first === 0x80) {
      throw malformed(`DER: ${what} at offset ${start} has an indefinite length`);
    } else {
      const count = first & 0x7f;
      if (count > 4) throw malformed(`DER: ${what} at offset ${start} has a ${count}-octet length`);
      if (p + count > this.end) throw malformed(`DER: ${what} at offset ${start} is truncated in its length`);
      if (this.buf[p] === 0) throw malformed(`DER: ${what} at offset ${start} has a length with a leading zero octet`);
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + (this.buf[p++] ?? 0);
      if (length < 0x80) throw malformed(`DER: ${what} at offset ${start} uses the long form for a length below 128`);
    }
    if (length > this.end - p) {
      throw malformed(`DER: ${what} at offset ${start} claims ${length} octets, only ${this.end - p} remain`);
    }
    this.pos = p + length;
    return { tag, bytes: this.buf.subarray(start, p + length), value: this.buf.subarray(p, p + length), offset: start };
  }

  /** Reads the next element and insists on its identifier. */
  expect(tag: number, what: string): DerElement {
    const next = this.peekTag();
    if (next === null) throw malformed(`DER: ${what} missing`);
    if (next !== tag) throw malformed(`DER: expected ${what} (${tagName(tag)}), found ${tagName(next)} at offset ${this.pos}`);
    return this.read(what);
  }

  /** Reads the next element only when it has this identifier (OPTIONAL fields). */
  optional(tag: number, what: string): DerElement | null {
    return this.peekTag() === tag ? this.read(what) : null;
  }

  /** A reader over the contents of a constructed element read from this reader. */
  enter(el: DerElement, what: string): DerReader {
    if ((el.tag & CONSTRUCTED) === 0) throw malformed(`DER: ${what} is not constructed`);
    if (this.depth + 1 > MAX_DEPTH) throw malformed(`DER: ${what} nested deeper than ${MAX_DEPTH} levels`);
    const start = el.value.byteOffset - this.buf.byteOffset;
    return new DerReader(this.buf, start, start + el.value.length, this.depth + 1);
  }

  /** Insists that this level has nothing left. */
  expectEnd(what: string): void {
    if (!this.done) throw malformed(`DER: ${this.end - this.pos} unexpected octets after ${what} at offset ${this.pos}`);
  }
}

/**
 * Checks that buf holds exactly one DER element whose constructed descendants all parse, down to
 * MAX_DEPTH levels. Runs before any structured parsing, so that fields a parser skips (unknown
 * extensions, RFC 4178 §6) cannot hide bad encodings or deep nesting. Iterative, so a hostile
 * nesting costs neither stack nor more than one pass over the input.
 */
export function checkDer(buf: Buffer, what: string): void {
  const root = new DerReader(buf);
  root.read(what);
  root.expectEnd(what);
  const stack: DerReader[] = [new DerReader(buf)];
  while (stack.length > 0) {
    const r = stack[stack.length - 1];
    if (r === undefined) break;
    if (r.done) {
      stack.pop();
      continue;
    }
    const el = r.read(what);
    if ((el.tag & CONSTRUCTED) !== 0) stack.push(r.enter(el, what));
  }
}

// --- values ---

/**
 * Decodes OBJECT IDENTIFIER contents (X.690 §8.19) to dotted form. Refuses empty contents,
 * subidentifiers with a leading 0x80 octet (not minimal), a truncated last subidentifier and arcs
 * beyond 2^53.
 */
export function decodeOid(value: Buffer): string {
  if (value.length === 0) throw malformed('DER: empty OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let acc = 0;
  let fresh = true;
  for (const b of value) {
    if (fresh && b === 0x80) throw malformed('DER: OBJECT IDENTIFIER subidentifier not in its shortest form');
    if (acc > (Number.MAX_SAFE_INTEGER - 0x7f) / 128) throw malformed('DER: OBJECT IDENTIFIER arc too large');
    acc = acc * 128 + (b & 0x7f);
    fresh = (b & 0x80) === 0;
    if (fresh) {
      if (arcs.length === 0) {
        // The first subidentifier packs the first two arcs (X.690 §8.19.4).
        const first = acc < 40 ? 0 : acc < 80 ? 1 : 2;
        arcs.push(first, acc - first * 40);
      } else {
        arcs.push(acc);
      }
      acc = 0;
    }
  }
  if (!fresh) throw malformed('DER: OBJECT IDENTIFIER truncated in its last subidentifier');
  return arcs.join('.');
}

/** Encodes a dotted OID to OBJECT IDENTIFIER contents. Throws RangeError on a bad OID (our bug). */
export function encodeOid(oid: string): Buffer {
  const parts = oid.split('.');
  if (parts.length < 2 || parts.some((p) => !/^(0|[1-9][0-9]*)$/.test(p))) throw new RangeError(`not an OID: ${oid}`);
  const arcs = parts.map(Number);
  const [a0 = 0, a1 = 0] = arcs;
  // Under arc 2 the second arc is unbounded, so the first subidentifier (a0 * 40 + a1) must be an
  // exact integer too: beyond 2^53 it would round and encode another OID.
  if (a0 > 2 || (a0 < 2 && a1 > 39) || arcs.some((a) => !Number.isSafeInteger(a)) || !Number.isSafeInteger(a0 * 40 + a1)) throw new RangeError(`not an OID: ${oid}`);
  const subs = [a0 * 40 + a1, ...arcs.slice(2)];
  const out: number[] = [];
  for (const s of subs) {
    const groups: number[] = [];
    let v = s;
    do {
      groups.unshift(v % 128);
      v = Math.floor(v / 128);
    } while (v > 0);
    groups.forEach((g, i) => out.push(i < groups.length - 1 ? g | 0x80 : g));
  }
  return Buffer.from(out);
}

/** Decodes INTEGER / ENUMERATED contents (X.690 §8.3) in minimal two's complement, up to 4 octets. */
export function decodeInteger(value: Buffer, what: string): number {
  if (value.length === 0) throw malformed(`DER: empty ${what}`);
  if (value.length > 4) throw malformed(`DER: ${what} longer than 4 octets`);
  const b0 = value[0] ?? 0;
  const b1 = value[1] ?? 0;
  if (value.length > 1 && ((b0 === 0 && b1 < 0x80) || (b0 === 0xff && b1 >= 0x80))) {
    throw malformed(`DER: ${what} not in its shortest form`);
  }
  return value.readIntBE(0, value.length);
}

/** Encodes INTEGER / ENUMERATED contents in minimal two's complement. */
export function encodeInteger(n: number): Buffer {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new RangeError(`integer ${n} outside 32 bits`);
  let len = 1;
  while (len < 4 && (n < -(2 ** (8 * len - 1)) || n >= 2 ** (8 * len - 1))) len++;
  const out = Buffer.alloc(len);
  out.writeIntBE(n, 0, len);
  return out;
}

// --- writing ---

function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const octets: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) octets.unshift(v % 256);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

/** One element: identifier, shortest definite length, contents (concatenated when a list). */
export function tlv(tag: number, contents: Buffer | readonly Buffer[]): Buffer {
  const body = Buffer.isBuffer(contents) ? contents : Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body]);
}

export const der = {
  sequence: (children: readonly Buffer[]): Buffer => tlv(Tag.SEQUENCE, children),
  /** [n] EXPLICIT: a constructed context tag around one element. */
  context: (n: number, child: Buffer): Buffer => tlv(contextTag(n), child),
  oid: (oid: string): Buffer => tlv(Tag.OID, encodeOid(oid)),
  octetString: (b: Buffer): Buffer => tlv(Tag.OCTET_STRING, b),
  enumerated: (n: number): Buffer => tlv(Tag.ENUMERATED, encodeInteger(n)),
  /** BIT STRING from its contents octets as they go on the wire (unused-bits count first). */
  bitString: (contents: Buffer): Buffer => tlv(Tag.BIT_STRING, contents),
  generalString: (s: string): Buffer => tlv(Tag.GENERAL_STRING, Buffer.from(s, 'latin1')),
  /** [APPLICATION 0] IMPLICIT SEQUENCE: the GSS-API InitialContextToken framing (RFC 2743 §3.1). */
  application0: (children: readonly Buffer[]): Buffer => tlv(Tag.APPLICATION_0, children),
};
