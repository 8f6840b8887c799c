// RC4 (ARCFOUR), written here for the same reason as md4.ts: OpenSSL 3 keeps it in the legacy
// provider. NTLMSSP uses it for key exchange (MS-NLMP §3.1.5.1.2: EncryptedRandomSessionKey), for
// sealing and for encrypting signature checksums (§3.4.3, §3.4.4.2). Those uses need one continuous
// keystream per direction for the life of a session ("Handle" in MS-NLMP), so this is a class whose
// instance is that state, not a one-shot function.
//
// Memory: a session keeps two keystreams for as long as its connection lives (tens of thousands of
// connections), so the 256-byte state can live in storage the caller owns (rc4Schedule / rc4Xor
// over a slot of a shared slab) instead of an ArrayBuffer and an object of its own each.

/**
 * Key scheduling into s[o .. o + 256). For states kept in someone else's storage (NTLMSSP
 * sessions keep theirs in a shared slab, with i and j beside it): see rc4Xor.
 */
export function rc4Schedule(s: Uint8Array, o: number, key: Uint8Array): void {
  if (key.length < 1 || key.length > 256) throw new RangeError(`RC4 key length ${key.length}: must be 1..256 bytes`);
  if (!(Number.isInteger(o) && o >= 0 && o + 256 <= s.length)) throw new RangeError(`RC4 state at ${o} of ${s.length} bytes: needs 256`);
  for (let n = 0; n < 256; n++) s[o + n] = n;
  let j = 0;
  for (let n = 0; n < 256; n++) {
    const sn = s[o + n] ?? 0;
    j = (j + sn + (key[n % key.length] ?? 0)) & 0xff;
    s[o + n] = s[o + j] ?? 0;
    s[o + j] = sn;
  }
}

/**
 * XORs the keystream of the state s[o .. o + 256) into buf[start, end) in place (no subarray, no
 * allocation). `ij` is the stream position, i | j << 8 (0 after rc4Schedule); returns the new one.
 */
export function rc4Xor(s: Uint8Array, o: number, ij: number, buf: Uint8Array, start: number, end: number): number {
  let i = ij & 0xff;
  let j = (ij >>> 8) & 0xff;
  const stop = Math.min(end, buf.length);
  for (let n = Math.max(0, start); n < stop; n++) {
    i = (i + 1) & 0xff;
    const si = s[o + i] ?? 0;
    j = (j + si) & 0xff;
    const sj = s[o + j] ?? 0;
    s[o + i] = sj;
    s[o + j] = si;
    buf[n] = (buf[n] ?? 0) ^ (s[o + ((si + sj) & 0xff)] ?? 0);
  }
  return i | (j << 8);
}

/**
 * One RC4 keystream. `update` XORs the next `buf.length` keystream bytes into `buf` IN PLACE and
 * returns the same buffer (no copy, so sealing a PDU region does not allocate); use `transform`
 * for a fresh buffer and an untouched input.
 */
export class Rc4 {
  /** The permutation is s[o .. o + 256). */
  private readonly s: Uint8Array;
  private readonly o: number;
  /** The stream position, i | j << 8. */
  private ij = 0;

  /** `state`, `offset`: where to keep the 256-byte permutation (default: a new array of its own). */
  constructor(key: Uint8Array, state?: Uint8Array, offset = 0) {
    if (state !== undefined && !(Number.isInteger(offset) && offset >= 0 && offset + 256 <= state.length)) {
      throw new RangeError(`RC4 state at ${offset} of ${state.length} bytes: needs 256`);
    }
    this.s = state ?? new Uint8Array(256);
    this.o = state ? offset : 0;
    this.rekey(key);
  }

  /** Starts the keystream again from `key` (key scheduling), in the same state storage. */
  rekey(key: Uint8Array): void {
    rc4Schedule(this.s, this.o, key);
    this.ij = 0;
  }

  /** Encrypts or decrypts `buf` in place (the same operation) and returns it. */
  update<T extends Uint8Array>(buf: T): T {
    this.updateRange(buf, 0, buf.length);
    return buf;
  }

  /** Encrypts or decrypts buf[start, end) in place (no subarray, no allocation). */
  updateRange(buf: Uint8Array, start: number, end: number): void {
    this.ij = rc4Xor(this.s, this.o, this.ij, buf, start, end);
  }

  /** Like `update` but into a copy: `data` is left as it was. */
  transform(data: Uint8Array): Buffer {
    return this.update(Buffer.from(data));
  }
}

/** One-shot RC4 with a fresh key (MS-NLMP §6 RC4K): for the key exchange, where no state is kept. */
export function rc4Once(key: Uint8Array, data: Uint8Array): Buffer {
  return new Rc4(key).transform(data);
}
