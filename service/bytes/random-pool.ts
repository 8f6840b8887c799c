// Random bytes for values that are made once per client: the NTLM server challenge (8 bytes) and
// the witness context handle's GUID (16). crypto.randomBytes costs ~7 µs per call whatever the
// size (a call into OpenSSL's DRBG each time); a storm of new clients makes thousands of these a
// second. Taking them from a 4 KB block filled by the same generator costs one such call per 512
// challenges. Each byte is handed out once and the block is refilled when used up; what is left
// in memory is what a process that can read witnessd's memory could read anyway (the keys).

import crypto from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES; // empty: filled on first use

/** Copies n fresh random bytes (n ≤ 4,096) to dst[at]. */
export function randomInto(dst: Uint8Array, at: number, n: number): void {
  if (n > POOL_BYTES) throw new RangeError(`randomInto: ${n} bytes is more than the pool holds`);
  if (POOL_BYTES - used < n) {
    crypto.randomFillSync(pool);
    used = 0;
  }
  pool.copy(dst, at, used, used + n);
  pool.fill(0, used, used + n);
  used += n;
}

/** n fresh random bytes (n ≤ 4,096) in a new Buffer. */
export function randomBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  randomInto(b, 0, n);
  return b;
}
