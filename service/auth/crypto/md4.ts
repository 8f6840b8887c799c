// MD4 (RFC 1320), written here because Node 20's OpenSSL 3 keeps MD4 in the legacy provider, which
// witnessd must not load. MD4 is broken as a hash; NTLM needs it only for the NT one-way function
// (MS-NLMP §3.3.1 NTOWFv1: MD4 of the UTF-16LE password), the "NT hash" that NTOWFv2 keys its HMAC
// with. Nothing else may use it.

const INIT = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476] as const;

// Round 2 and 3 word orders and the shift amounts of each round (RFC 1320 §3.4).
const R2_ORDER = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15] as const;
const R3_ORDER = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15] as const;
const R1_SHIFT = [3, 7, 11, 19] as const;
const R2_SHIFT = [3, 5, 9, 13] as const;
const R3_SHIFT = [3, 9, 11, 15] as const;
const R2_K = 0x5a827999;
const R3_K = 0x6ed9eba1;

const rotl = (x: number, s: number): number => ((x << s) | (x >>> (32 - s))) >>> 0;

/** MD4 digest (16 bytes) of `data`. */
export function md4(data: Uint8Array): Buffer {
  // Padding (RFC 1320 §3.1-3.2): 0x80, zeros up to 56 mod 64, then the bit length as a 64-bit
  // little-endian integer.
  const blocks = Math.floor((data.length + 8) / 64) + 1;
  const msg = Buffer.alloc(blocks * 64);
  msg.set(data, 0);
  msg[data.length] = 0x80;
  const bits = data.length * 8;
  msg.writeUInt32LE(bits >>> 0, blocks * 64 - 8);
  msg.writeUInt32LE(Math.floor(bits / 0x100000000) >>> 0, blocks * 64 - 4);

  let [a, b, c, d] = INIT as readonly number[] as [number, number, number, number];
  const x = new Uint32Array(16);
  for (let off = 0; off < msg.length; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = msg.readUInt32LE(off + i * 4);
    const [aa, bb, cc, dd] = [a, b, c, d];
    const word = (k: number): number => x[k] ?? 0;

    // Round 1: F(x,y,z) = xy | ~x z.
    for (let i = 0; i < 16; i++) {
      const s = R1_SHIFT[i % 4] ?? 0;
      const f = (b & c) | (~b & d);
      const t = rotl((a + f + word(i)) >>> 0, s);
      [a, b, c, d] = [d, t, b, c];
    }
    // Round 2: G(x,y,z) = xy | xz | yz.
    for (let i = 0; i < 16; i++) {
      const s = R2_SHIFT[i % 4] ?? 0;
      const g = (b & c) | (b & d) | (c & d);
      const t = rotl((a + g + word(R2_ORDER[i] ?? 0) + R2_K) >>> 0, s);
      [a, b, c, d] = [d, t, b, c];
    }
    // Round 3: H(x,y,z) = x ^ y ^ z.
    for (let i = 0; i < 16; i++) {
      const s = R3_SHIFT[i % 4] ?? 0;
      const h = b ^ c ^ d;
      const t = rotl((a + h + word(R3_ORDER[i] ?? 0) + R3_K) >>> 0, s);
      [a, b, c, d] = [d, t, b, c];
    }
    a = (a + aa) >>> 0;
    b = (b + bb) >>> 0;
    c = (c + cc) >>> 0;
    d = (d + dd) >>> 0;
  }
  const out = Buffer.alloc(16);
  out.writeUInt32LE(a, 0);
  out.writeUInt32LE(b, 4);
  out.writeUInt32LE(c, 8);
  out.writeUInt32LE(d, 12);
  return out;
}

/**
 * The NT hash, NTOWFv1 (MS-NLMP §3.3.1): MD4 of the password as UTF-16LE, no terminator. What
 * an account file stores instead of a password, and the key of NTOWFv2 (§3.3.2).
 */
export function ntHash(password: string): Buffer {
  return md4(Buffer.from(password, 'utf16le'));
}
