// AV_PAIR lists (MS-NLMP §2.2.2.1): the target info we send in CHALLENGE, and the list the client
// echoes (with additions such as MsvAvFlags) inside its NTLMv2 blob.

import { DecodeError } from '../../bytes/decode-error.ts';
import { ByteReader } from '../../bytes/reader.ts';
import { ByteWriter } from '../../bytes/writer.ts';
import { AvId, FILETIME_UNIX_EPOCH, Limits } from './constants.ts';

export interface AvPair {
  id: number;
  value: Buffer;
}

/**
 * Parses an AV_PAIR list up to MsvAvEOL. Bounded: every AvLen is checked against what is left, the
 * list must end with MsvAvEOL, and at most Limits.AV_PAIRS_MAX pairs are read. Values are views
 * into `buf`, not copies. Throws DecodeError (the caller converts it).
 */
export function parseAvPairs(buf: Buffer, start = 0, end = buf.length): AvPair[] {
  const r = new ByteReader(buf, start, end);
  const pairs: AvPair[] = [];
  for (;;) {
    if (pairs.length >= Limits.AV_PAIRS_MAX) throw new DecodeError(`AV pairs: more than ${Limits.AV_PAIRS_MAX}`);
    const id = r.u16('AvId');
    const len = r.u16('AvLen');
    const value = r.bytes(len, `AV pair ${id} value`);
    if (id === AvId.EOL) return pairs;
    pairs.push({ id, value });
  }
}

/** Serialises AV pairs followed by MsvAvEOL. */
export function buildAvPairs(pairs: readonly AvPair[]): Buffer {
  const w = new ByteWriter(128);
  for (const p of pairs) w.u16(p.id).u16(p.value.length).bytes(p.value);
  w.u16(AvId.EOL).u16(0);
  return w.finish();
}

export function findAvPair(pairs: readonly AvPair[], id: number): Buffer | undefined {
  return pairs.find((p) => p.id === id)?.value;
}

/**
 * Milliseconds since the Unix epoch as a FILETIME (100 ns ticks since 1601), little-endian, for
 * MsvAvTimestamp. The sub-millisecond part of `ms` is kept to the microsecond (a double near
 * 1.8e12 ms resolves about 0.25 µs, so finer ticks would be noise).
 */
export function filetimeFromMs(ms: number): Buffer {
  const whole = Math.floor(ms);
  const micros = Math.round((ms - whole) * 1000);
  const ticks = FILETIME_UNIX_EPOCH + BigInt(whole) * 10000n + BigInt(micros) * 10n;
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(ticks);
  return out;
}

/**
 * The inverse of filetimeFromMs (for logs and tests).
 * @testOnly the inverse of filetimeFromMs, to read the timestamps of captured CHALLENGE messages.
 */
export function msFromFiletime(ft: Buffer): number {
  const ticks = ft.readBigUInt64LE(0) - FILETIME_UNIX_EPOCH;
  const whole = ticks / 10000n;
  return Number(whole) + Number(ticks - whole * 10000n) / 10000;
}
