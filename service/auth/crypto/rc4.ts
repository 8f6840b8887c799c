// RC4 (ARCFOUR), written here for the same reason as md4.ts: OpenSSL 3 keeps it in the legacy
// provider. NTLMSSP uses it for key exchange (MS-NLMP §3.1.5.1.2: EncryptedRandomSessionKey), for
// sealing and for encrypting signature checksums (§3.4.3, §3.4.4.2). Those uses need one continuous
// keystream per direction for the life of a session ("Handle" in MS-NLMP), so this is a class whose
// instance is that state, not a one-shot function.

/**
 * One RC4 keystream. `update` XORs the next `buf.length` keystream bytes into `buf` IN PLACE and
 * returns the same buffer (no copy, so sealing a PDU region does not allocate); use `transform`
 * for a fresh buffer and an untouched input.
 */
export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Uint8Array) {
    if (key.length < 1 || key.length > 256) throw new RangeError(`RC4 key length ${key.length}: must be 1..256 bytes`);
    const s = this.s;
    for (let n = 0; n < 256; n++) s[n] = n;
    // Key scheduling.
    let j = 0;
    for (let n = 0; n < 256; n++) {
      const sn = s[n] ?? 0;
      j = (j + sn + (key[n % key.length] ?? 0)) & 0xff;
      s[n] = s[j] ?? 0;
      s[j] = sn;
    }
  }

  /** Encrypts or decrypts `buf` in place (the same operation) and returns it. */
  update<T extends Uint8Array>(buf: T): T {
    const s = this.s;
    let { i, j } = this;
    for (let n = 0; n < buf.length; n++) {
      i = (i + 1) & 0xff;
      const si = s[i] ?? 0;
      j = (j + si) & 0xff;
      const sj = s[j] ?? 0;
      s[i] = sj;
      s[j] = si;
      buf[n] = (buf[n] ?? 0) ^ (s[(si + sj) & 0xff] ?? 0);
    }
    this.i = i;
    this.j = j;
    return buf;
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
