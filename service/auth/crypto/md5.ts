// MD5 (RFC 1321) and HMAC-MD5 (RFC 2104) in JavaScript, for NTLM's key computations and signatures.
//
// Why not node:crypto: OpenSSL 3 sets up a digest or MAC context on every createHash/createHmac
// (3 µs and 5 µs on this kind of machine before a byte is hashed, more while the process is cold),
// and an NTLMSSP logon needs four HMACs and four MD5s of short inputs (MS-NLMP §3.3.2, §3.4.5):
// in a storm of new clients that was a tenth of witnessd's CPU per registration. One 64-byte block
// costs ~0.2 µs here once V8 has optimised it, so inputs up to a few hundred bytes are cheaper
// here; NtlmSession sends messages above its own threshold to node:crypto, whose per-byte cost is
// lower. MD5 is broken as a hash; NTLM needs it, nothing else may use it.
//
// One computation at a time (JavaScript runs one at a time and nothing here awaits), so the
// running state and the partial block are module-level scratch, and nothing is allocated but the
// digest returned.

function le32(src: Uint8Array, p: number): number {
  return (src[p] ?? 0) | ((src[p + 1] ?? 0) << 8) | ((src[p + 2] ?? 0) << 16) | ((src[p + 3] ?? 0) << 24);
}

/** MD5's compression function (RFC 1321 §3.4): the 64 bytes at src[off] into the state st[0..4). */
export function md5Block(st: Int32Array, src: Uint8Array, off: number): void {
  const x0 = le32(src, off), x1 = le32(src, off + 4), x2 = le32(src, off + 8), x3 = le32(src, off + 12);
  const x4 = le32(src, off + 16), x5 = le32(src, off + 20), x6 = le32(src, off + 24), x7 = le32(src, off + 28);
  const x8 = le32(src, off + 32), x9 = le32(src, off + 36), x10 = le32(src, off + 40), x11 = le32(src, off + 44);
  const x12 = le32(src, off + 48), x13 = le32(src, off + 52), x14 = le32(src, off + 56), x15 = le32(src, off + 60);
  let a = st[0] ?? 0;
  let b = st[1] ?? 0;
  let c = st[2] ?? 0;
  let d = st[3] ?? 0;
  // round 1: F
  a = (a + ((b & c) | (~b & d)) + x0 - 680876936) | 0;
  a = (((a << 7) | (a >>> 25)) + b) | 0;
  d = (d + ((a & b) | (~a & c)) + x1 - 389564586) | 0;
  d = (((d << 12) | (d >>> 20)) + a) | 0;
  c = (c + ((d & a) | (~d & b)) + x2 + 606105819) | 0;
  c = (((c << 17) | (c >>> 15)) + d) | 0;
  b = (b + ((c & d) | (~c & a)) + x3 - 1044525330) | 0;
  b = (((b << 22) | (b >>> 10)) + c) | 0;
  a = (a + ((b & c) | (~b & d)) + x4 - 176418897) | 0;
  a = (((a << 7) | (a >>> 25)) + b) | 0;
  d = (d + ((a & b) | (~a & c)) + x5 + 1200080426) | 0;
  d = (((d << 12) | (d >>> 20)) + a) | 0;
  c = (c + ((d & a) | (~d & b)) + x6 - 1473231341) | 0;
  c = (((c << 17) | (c >>> 15)) + d) | 0;
  b = (b + ((c & d) | (~c & a)) + x7 - 45705983) | 0;
  b = (((b << 22) | (b >>> 10)) + c) | 0;
  a = (a + ((b & c) | (~b & d)) + x8 + 1770035416) | 0;
  a = (((a << 7) | (a >>> 25)) + b) | 0;
  d = (d + ((a & b) | (~a & c)) + x9 - 1958414417) | 0;
  d = (((d << 12) | (d >>> 20)) + a) | 0;
  c = (c + ((d & a) | (~d & b)) + x10 - 42063) | 0;
  c = (((c << 17) | (c >>> 15)) + d) | 0;
  b = (b + ((c & d) | (~c & a)) + x11 - 1990404162) | 0;
  b = (((b << 22) | (b >>> 10)) + c) | 0;
  a = (a + ((b & c) | (~b & d)) + x12 + 1804603682) | 0;
  a = (((a << 7) | (a >>> 25)) + b) | 0;
  d = (d + ((a & b) | (~a & c)) + x13 - 40341101) | 0;
  d = (((d << 12) | (d >>> 20)) + a) | 0;
  c = (c + ((d & a) | (~d & b)) + x14 - 1502002290) | 0;
  c = (((c << 17) | (c >>> 15)) + d) | 0;
  b = (b + ((c & d) | (~c & a)) + x15 + 1236535329) | 0;
  b = (((b << 22) | (b >>> 10)) + c) | 0;
  // round 2: G
  a = (a + ((b & d) | (c & ~d)) + x1 - 165796510) | 0;
  a = (((a << 5) | (a >>> 27)) + b) | 0;
  d = (d + ((a & c) | (b & ~c)) + x6 - 1069501632) | 0;
  d = (((d << 9) | (d >>> 23)) + a) | 0;
  c = (c + ((d & b) | (a & ~b)) + x11 + 643717713) | 0;
  c = (((c << 14) | (c >>> 18)) + d) | 0;
  b = (b + ((c & a) | (d & ~a)) + x0 - 373897302) | 0;
  b = (((b << 20) | (b >>> 12)) + c) | 0;
  a = (a + ((b & d) | (c & ~d)) + x5 - 701558691) | 0;
  a = (((a << 5) | (a >>> 27)) + b) | 0;
  d = (d + ((a & c) | (b & ~c)) + x10 + 38016083) | 0;
  d = (((d << 9) | (d >>> 23)) + a) | 0;
  c = (c + ((d & b) | (a & ~b)) + x15 - 660478335) | 0;
  c = (((c << 14) | (c >>> 18)) + d) | 0;
  b = (b + ((c & a) | (d & ~a)) + x4 - 405537848) | 0;
  b = (((b << 20) | (b >>> 12)) + c) | 0;
  a = (a + ((b & d) | (c & ~d)) + x9 + 568446438) | 0;
  a = (((a << 5) | (a >>> 27)) + b) | 0;
  d = (d + ((a & c) | (b & ~c)) + x14 - 1019803690) | 0;
  d = (((d << 9) | (d >>> 23)) + a) | 0;
  c = (c + ((d & b) | (a & ~b)) + x3 - 187363961) | 0;
  c = (((c << 14) | (c >>> 18)) + d) | 0;
  b = (b + ((c & a) | (d & ~a)) + x8 + 1163531501) | 0;
  b = (((b << 20) | (b >>> 12)) + c) | 0;
  a = (a + ((b & d) | (c & ~d)) + x13 - 1444681467) | 0;
  a = (((a << 5) | (a >>> 27)) + b) | 0;
  d = (d + ((a & c) | (b & ~c)) + x2 - 51403784) | 0;
  d = (((d << 9) | (d >>> 23)) + a) | 0;
  c = (c + ((d & b) | (a & ~b)) + x7 + 1735328473) | 0;
  c = (((c << 14) | (c >>> 18)) + d) | 0;
  b = (b + ((c & a) | (d & ~a)) + x12 - 1926607734) | 0;
  b = (((b << 20) | (b >>> 12)) + c) | 0;
  // round 3: H
  a = (a + (b ^ c ^ d) + x5 - 378558) | 0;
  a = (((a << 4) | (a >>> 28)) + b) | 0;
  d = (d + (a ^ b ^ c) + x8 - 2022574463) | 0;
  d = (((d << 11) | (d >>> 21)) + a) | 0;
  c = (c + (d ^ a ^ b) + x11 + 1839030562) | 0;
  c = (((c << 16) | (c >>> 16)) + d) | 0;
  b = (b + (c ^ d ^ a) + x14 - 35309556) | 0;
  b = (((b << 23) | (b >>> 9)) + c) | 0;
  a = (a + (b ^ c ^ d) + x1 - 1530992060) | 0;
  a = (((a << 4) | (a >>> 28)) + b) | 0;
  d = (d + (a ^ b ^ c) + x4 + 1272893353) | 0;
  d = (((d << 11) | (d >>> 21)) + a) | 0;
  c = (c + (d ^ a ^ b) + x7 - 155497632) | 0;
  c = (((c << 16) | (c >>> 16)) + d) | 0;
  b = (b + (c ^ d ^ a) + x10 - 1094730640) | 0;
  b = (((b << 23) | (b >>> 9)) + c) | 0;
  a = (a + (b ^ c ^ d) + x13 + 681279174) | 0;
  a = (((a << 4) | (a >>> 28)) + b) | 0;
  d = (d + (a ^ b ^ c) + x0 - 358537222) | 0;
  d = (((d << 11) | (d >>> 21)) + a) | 0;
  c = (c + (d ^ a ^ b) + x3 - 722521979) | 0;
  c = (((c << 16) | (c >>> 16)) + d) | 0;
  b = (b + (c ^ d ^ a) + x6 + 76029189) | 0;
  b = (((b << 23) | (b >>> 9)) + c) | 0;
  a = (a + (b ^ c ^ d) + x9 - 640364487) | 0;
  a = (((a << 4) | (a >>> 28)) + b) | 0;
  d = (d + (a ^ b ^ c) + x12 - 421815835) | 0;
  d = (((d << 11) | (d >>> 21)) + a) | 0;
  c = (c + (d ^ a ^ b) + x15 + 530742520) | 0;
  c = (((c << 16) | (c >>> 16)) + d) | 0;
  b = (b + (c ^ d ^ a) + x2 - 995338651) | 0;
  b = (((b << 23) | (b >>> 9)) + c) | 0;
  // round 4: I
  a = (a + (c ^ (b | ~d)) + x0 - 198630844) | 0;
  a = (((a << 6) | (a >>> 26)) + b) | 0;
  d = (d + (b ^ (a | ~c)) + x7 + 1126891415) | 0;
  d = (((d << 10) | (d >>> 22)) + a) | 0;
  c = (c + (a ^ (d | ~b)) + x14 - 1416354905) | 0;
  c = (((c << 15) | (c >>> 17)) + d) | 0;
  b = (b + (d ^ (c | ~a)) + x5 - 57434055) | 0;
  b = (((b << 21) | (b >>> 11)) + c) | 0;
  a = (a + (c ^ (b | ~d)) + x12 + 1700485571) | 0;
  a = (((a << 6) | (a >>> 26)) + b) | 0;
  d = (d + (b ^ (a | ~c)) + x3 - 1894986606) | 0;
  d = (((d << 10) | (d >>> 22)) + a) | 0;
  c = (c + (a ^ (d | ~b)) + x10 - 1051523) | 0;
  c = (((c << 15) | (c >>> 17)) + d) | 0;
  b = (b + (d ^ (c | ~a)) + x1 - 2054922799) | 0;
  b = (((b << 21) | (b >>> 11)) + c) | 0;
  a = (a + (c ^ (b | ~d)) + x8 + 1873313359) | 0;
  a = (((a << 6) | (a >>> 26)) + b) | 0;
  d = (d + (b ^ (a | ~c)) + x15 - 30611744) | 0;
  d = (((d << 10) | (d >>> 22)) + a) | 0;
  c = (c + (a ^ (d | ~b)) + x6 - 1560198380) | 0;
  c = (((c << 15) | (c >>> 17)) + d) | 0;
  b = (b + (d ^ (c | ~a)) + x13 + 1309151649) | 0;
  b = (((b << 21) | (b >>> 11)) + c) | 0;
  a = (a + (c ^ (b | ~d)) + x4 - 145523070) | 0;
  a = (((a << 6) | (a >>> 26)) + b) | 0;
  d = (d + (b ^ (a | ~c)) + x11 - 1120210379) | 0;
  d = (((d << 10) | (d >>> 22)) + a) | 0;
  c = (c + (a ^ (d | ~b)) + x2 + 718787259) | 0;
  c = (((c << 15) | (c >>> 17)) + d) | 0;
  b = (b + (d ^ (c | ~a)) + x9 - 343485551) | 0;
  b = (((b << 21) | (b >>> 11)) + c) | 0;
  st[0] = ((st[0] ?? 0) + a) | 0;
  st[1] = ((st[1] ?? 0) + b) | 0;
  st[2] = ((st[2] ?? 0) + c) | 0;
  st[3] = ((st[3] ?? 0) + d) | 0;
}

/** MD5's initial state (RFC 1321 §3.3), as signed 32-bit words. */
export const MD5_IV = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476] as const;

/** Writes v as 4 little-endian bytes at dst[p]. */
export function putLe32(dst: Uint8Array, p: number, v: number): void {
  dst[p] = v & 0xff;
  dst[p + 1] = (v >>> 8) & 0xff;
  dst[p + 2] = (v >>> 16) & 0xff;
  dst[p + 3] = (v >>> 24) & 0xff;
}

// The running hash: its state, the bytes of the current block not yet compressed, how many, and
// the length hashed so far.
const state = new Int32Array(4);
const partial = new Uint8Array(64);
let fill = 0;
let length = 0;

function start(): void {
  state.set(MD5_IV);
  fill = 0;
  length = 0;
}

function update(data: Uint8Array): void {
  let i = 0;
  const n = data.length;
  length += n;
  if (fill > 0) {
    while (fill < 64 && i < n) partial[fill++] = data[i++] ?? 0;
    if (fill < 64) return;
    md5Block(state, partial, 0);
    fill = 0;
  }
  for (; n - i >= 64; i += 64) md5Block(state, data, i);
  while (i < n) partial[fill++] = data[i++] ?? 0;
}

/**
 * MD5's final padding (RFC 1321 §3.1-2) for a running hash kept by the caller: `tail[0..fill)` are
 * the bytes not yet compressed (tail is a 64-byte block it may overwrite) and `total` the length of
 * the whole stream hashed. Leaves the digest's four words in `st`.
 */
export function md5Pad(st: Int32Array, tail: Uint8Array, fill: number, total: number): void {
  const bits = total * 8;
  tail[fill++] = 0x80;
  if (fill > 56) {
    tail.fill(0, fill, 64);
    md5Block(st, tail, 0);
    fill = 0;
  }
  tail.fill(0, fill, 56);
  putLe32(tail, 56, bits >>> 0);
  putLe32(tail, 60, Math.floor(bits / 0x100000000));
  md5Block(st, tail, 0);
}

/** Pads and writes the 16-byte digest to out[at]. */
function finish(out: Uint8Array, at: number): void {
  md5Pad(state, partial, fill, length);
  for (let w = 0; w < 4; w++) putLe32(out, at + 4 * w, state[w] ?? 0);
}

/** MD5 of the concatenation of `parts`. */
export function md5(...parts: Uint8Array[]): Buffer {
  start();
  for (const p of parts) update(p);
  const out = Buffer.allocUnsafe(16);
  finish(out, 0);
  return out;
}

// The key block of an HMAC (the key, or its MD5 when longer than a block, zero-padded to 64 bytes)
// and the inner digest between the two hashes.
const keyBlock = new Uint8Array(64);
const pad = new Uint8Array(64);
const inner = new Uint8Array(16);

function padded(byte: number): Uint8Array {
  for (let i = 0; i < 64; i++) pad[i] = (keyBlock[i] ?? 0) ^ byte;
  return pad;
}

/** HMAC-MD5 (RFC 2104) of the concatenation of `parts` under `key`. */
export function hmacMd5(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  keyBlock.fill(0);
  if (key.length > 64) {
    start();
    update(key);
    finish(keyBlock, 0);
  } else keyBlock.set(key);
  start();
  update(padded(0x36));
  for (const p of parts) update(p);
  finish(inner, 0);
  start();
  update(padded(0x5c));
  update(inner);
  const out = Buffer.allocUnsafe(16);
  finish(out, 0);
  // The scratch held the key and the inner hash state: not left lying in memory.
  keyBlock.fill(0);
  pad.fill(0);
  inner.fill(0);
  partial.fill(0);
  return out;
}
