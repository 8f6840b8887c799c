// NTLMSSP session security with extended session security (MS-NLMP §3.4): signing (§3.4.4.2) and
// sealing (§3.4.3), acceptor side. Each direction has its own signing key, RC4 sealing handle and
// sequence number: the server signs and seals with the server-to-client ones and checks with the
// client-to-server ones (§3.4.5.2-3). DCE/RPC is connection-oriented, so each handle is ONE
// continuous RC4 keystream for the life of the session and sequence numbers start at 0 and go up
// by one per signature in each direction (§3.4.4: "the SeqNum parameter MUST start at 0 and is
// incremented by one for each message sent").
//
// Signature (§2.2.2.9.2): Version (1) | Checksum (8) | SeqNum (4), where Checksum is the first 8
// bytes of HMAC_MD5(SigningKey, SeqNum || message), RC4-encrypted with the direction's sealing
// handle when NTLMSSP_NEGOTIATE_KEY_EXCH was negotiated.
//
// Sealing (§3.4.3) uses the same handle for the data and then for the checksum, so the order of
// the RC4 operations is part of the protocol: wrap = HMAC over the plaintext, RC4 the data, RC4
// the checksum; unwrap = RC4 the data, HMAC over the plaintext, RC4 the checksum.
//
// Cost (bench/auth-pdu-cost.ts, docs/auth-performance.md): every PDU of a signed or sealed
// connection passes here once, and a cluster event answers tens of thousands of them in one loop,
// so the per-call work is kept small:
// - HMAC-MD5 is computed here (RFC 2104 over RFC 1321's MD5) with the MD5 states after the key's
//   inner and outer pads computed once per session: a signature then costs the MD5 blocks of
//   SeqNum || message plus one: 0.5 µs for 20 bytes, 0.9 µs for 100 (a witness PDU), where
//   node:crypto's createHmac costs 2.3–2.5 µs for either (an OpenSSL 3 MAC context made per call
//   and freed by the garbage collector). Messages longer than INLINE_HMAC_MAX go to createHmac,
//   whose MD5 is faster per byte (the two cost the same at about 900 bytes).
// - No Buffer is allocated per call except the 16-byte signature returned (a small on-heap array).
// - A session's keys and RC4 states are one 640-byte slot of a shared slab (session-memory.ts: a
//   connection lives for days, and an ArrayBuffer of its own would cost 1.5 KB of RSS, not 640
//   bytes); its sequence numbers and RC4 positions are fields of the one session object.

import crypto from 'node:crypto';
import { rc4Schedule, rc4Xor } from '../crypto/rc4.ts';
import { NegotiateFlag } from './constants.ts';
import { ntlmError } from './errors.ts';
import { sealKey, signKey, type Direction } from './keys.ts';
import { sessionSlot, SLOT_BYTES } from './session-memory.ts';

export const SIGNATURE_SIZE = 16;
const SIGNATURE_VERSION = 1;

/** Longest message whose HMAC is computed here; longer ones go to node:crypto (same cost at ~900 bytes). */
const INLINE_HMAC_MAX = 768;

// ── HMAC-MD5 with precomputed pads ────────────────────────────────────────────────────────────

function le32(src: Uint8Array, p: number): number {
  return (src[p] ?? 0) | ((src[p + 1] ?? 0) << 8) | ((src[p + 2] ?? 0) << 16) | ((src[p + 3] ?? 0) << 24);
}

/** MD5's compression function (RFC 1321 §3.4): the 64 bytes at src[off] into the state st[0..4). */
function md5Block(st: Int32Array, src: Uint8Array, off: number): void {
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

const MD5_IV = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476] as const;

// Scratch for one HMAC at a time (JavaScript runs one at a time): the running state and the last block(s).
const work = new Int32Array(4);
const tail = new Uint8Array(64);

/** pads[at..at+4): MD5 state after (key ⊕ ipad), pads[at+4..at+8): after (key ⊕ opad) (RFC 2104; key ≤ 64 bytes). */
function hmacPads(key: Uint8Array, pads: Int32Array, at: number): void {
  for (const [half, byte] of [[0, 0x36], [4, 0x5c]] as const) {
    tail.fill(byte);
    for (let i = 0; i < key.length; i++) tail[i] = (tail[i] ?? 0) ^ (key[i] ?? 0);
    work.set(MD5_IV);
    md5Block(work, tail, 0);
    pads.set(work, at + half);
  }
}

function putLe32(dst: Uint8Array, p: number, v: number): void {
  dst[p] = v & 0xff;
  dst[p + 1] = (v >>> 8) & 0xff;
  dst[p + 2] = (v >>> 16) & 0xff;
  dst[p + 3] = (v >>> 24) & 0xff;
}

/**
 * The first 8 bytes of HMAC_MD5(key, SeqNum || message) into out[at..at+8), for a key whose pads
 * are pads[p..p+8) (hmacPads) and a message of at most INLINE_HMAC_MAX bytes.
 */
function hmacMd5Seq8(pads: Int32Array, p: number, seq: number, m: Uint8Array, out: Uint8Array, at: number): void {
  // Inner hash over the stream SeqNum (4 bytes) || m, after the 64-byte inner pad.
  work[0] = pads[p] ?? 0;
  work[1] = pads[p + 1] ?? 0;
  work[2] = pads[p + 2] ?? 0;
  work[3] = pads[p + 3] ?? 0;
  putLe32(tail, 0, seq);
  const total = 4 + m.length;
  let fill = 4; // bytes in `tail`
  let pos = 0; // bytes of m consumed
  if (total >= 64) {
    for (let i = 0; i < 60; i++) tail[4 + i] = m[i] ?? 0;
    md5Block(work, tail, 0);
    pos = 60;
    // Whole blocks straight from m: stream offset 64k is m's offset 64k - 4.
    while (m.length - pos >= 64) {
      md5Block(work, m, pos);
      pos += 64;
    }
    fill = 0;
  }
  for (; pos < m.length; pos++) tail[fill++] = m[pos] ?? 0;
  tail[fill++] = 0x80;
  if (fill > 56) {
    tail.fill(0, fill, 64);
    md5Block(work, tail, 0);
    fill = 0;
  }
  tail.fill(0, fill, 56);
  const bits = (64 + total) * 8; // the pad block is part of the hashed stream
  putLe32(tail, 56, bits);
  putLe32(tail, 60, Math.floor(bits / 0x100000000));
  md5Block(work, tail, 0);
  // Outer hash over the 16-byte inner digest, after the 64-byte outer pad.
  for (let w = 0; w < 4; w++) putLe32(tail, w * 4, work[w] ?? 0);
  tail[16] = 0x80;
  tail.fill(0, 17, 56);
  putLe32(tail, 56, (64 + 16) * 8);
  putLe32(tail, 60, 0);
  work[0] = pads[p + 4] ?? 0;
  work[1] = pads[p + 5] ?? 0;
  work[2] = pads[p + 6] ?? 0;
  work[3] = pads[p + 7] ?? 0;
  md5Block(work, tail, 0);
  putLe32(out, at, work[0] ?? 0);
  putLe32(out, at + 4, work[1] ?? 0);
}

// ── per-direction state ───────────────────────────────────────────────────────────────────────

/**
 * Where one direction's state lies in the session's slot, from the direction's base: the RC4
 * permutation, the sealing key, the signing key and the HMAC pads (8 words). The server sends
 * with the first direction and receives with the second.
 */
const RC4_AT = 0;
const SEAL_KEY_AT = 256;
const SIGN_KEY_AT = 272;
const PADS_AT = 288;
const DIRECTION_BYTES = 320;
const SEND = 0;
const RECV = DIRECTION_BYTES;
if (2 * DIRECTION_BYTES !== SLOT_BYTES) throw new Error('NTLMSSP session layout does not fill its slot');

/** The expected signature's checksum while a received one is compared (one at a time). */
const expected = new Uint8Array(8);

/**
 * One session: flags, sequence numbers and RC4 stream positions in fields, keys and RC4
 * permutations in a slot of a shared slab (session-memory.ts). One object per session.
 */
export class NtlmSession {
  private readonly keyExch: boolean;
  private readonly canSign: boolean;
  private readonly canSeal: boolean;
  /** The slab's bytes and words, and this session's slot in them. */
  private readonly mem: Uint8Array;
  private readonly words: Int32Array;
  private readonly base: number;
  private sendSeqNum = 0;
  private recvSeqNum = 0;
  /** RC4 stream positions (i | j << 8), per direction. */
  private sendIj = 0;
  private recvIj = 0;
  /** Set after a checksum mismatch on receive: that handle's keystream position is lost. */
  private recvBroken = false;

  /**
   * `flags` are the negotiated flags; they must include EXTENDED_SESSIONSECURITY (the acceptor
   * refuses signing and sealing without it), and should include NEGOTIATE_128.
   */
  constructor(exportedSessionKey: Buffer, flags: number) {
    if ((flags & NegotiateFlag.EXTENDED_SESSIONSECURITY) === 0) throw ntlmError('policy', 'signing and sealing need extended session security');
    this.keyExch = (flags & NegotiateFlag.KEY_EXCH) !== 0;
    this.canSeal = (flags & NegotiateFlag.SEAL) !== 0;
    // Sealing implies signing: a sealed message always carries a signature (§3.4.3).
    this.canSign = (flags & (NegotiateFlag.SIGN | NegotiateFlag.SEAL)) !== 0;
    const slot = sessionSlot(this);
    this.mem = slot.bytes;
    this.words = slot.words;
    this.base = slot.base;
    this.initDirection(SEND, exportedSessionKey, flags, 'server-to-client');
    this.initDirection(RECV, exportedSessionKey, flags, 'client-to-server');
  }

  private initDirection(d: number, exported: Buffer, flags: number, dir: Direction): void {
    const at = this.base + d;
    this.mem.set(sealKey(exported, flags, dir), at + SEAL_KEY_AT);
    const sk = signKey(exported, dir);
    this.mem.set(sk, at + SIGN_KEY_AT);
    hmacPads(sk, this.words, (at + PADS_AT) / 4);
    this.rekey(d);
  }

  /** Direction d's RC4 permutation scheduled afresh from its sealing key (its stream position is the caller's to reset). */
  private rekey(d: number): void {
    const at = this.base + d;
    rc4Schedule(this.mem, at + RC4_AT, this.mem.subarray(at + SEAL_KEY_AT, at + SEAL_KEY_AT + 16));
  }

  /**
   * The next sequence numbers (for logs and tests).
   * @testOnly the next sequence numbers, checked by the capture tests.
   */
  get sendSeq(): number {
    return this.sendSeqNum;
  }
  /** @testOnly the next sequence numbers, checked by the capture tests. */
  get recvSeq(): number {
    return this.recvSeqNum;
  }

  /**
   * Both RC4 handles back to their state right after authentication (re-keyed from the sealing
   * keys); sequence numbers are NOT reset. See NtlmAcceptor.resetCrypto for when SPNEGO needs it.
   */
  resetHandles(): void {
    this.rekey(SEND);
    this.rekey(RECV);
    this.sendIj = 0;
    this.recvIj = 0;
  }

  /** MAC (§3.4.4.2) over `message` for the next outgoing sequence number. */
  sign(message: Buffer): Buffer {
    this.requireSign();
    const seq = this.nextSendSeq();
    const sig = Buffer.alloc(SIGNATURE_SIZE);
    this.checksum(SEND, seq, message, sig, 4);
    return this.assemble(sig, seq);
  }

  /** Checks the client's signature over `message`. Throws SecurityError('integrity'/'malformed'). */
  verify(message: Buffer, signature: Buffer): void {
    this.requireSign();
    this.checkHeader(signature);
    this.checkChecksum(message, signature);
  }

  /** SEAL (§3.4.3): signature over the plaintext `message`, then message[start, end) encrypted in place. */
  seal(message: Buffer, start: number, end: number): Buffer {
    this.requireSeal();
    checkRange(message, start, end);
    const seq = this.nextSendSeq();
    const sig = Buffer.alloc(SIGNATURE_SIZE);
    this.checksum(SEND, seq, message, sig, 4);
    this.sendIj = rc4Xor(this.mem, this.base + SEND + RC4_AT, this.sendIj, message, start, end);
    return this.assemble(sig, seq);
  }

  /** Decrypts message[start, end) in place, then checks `signature` over the plaintext message. */
  unseal(message: Buffer, start: number, end: number, signature: Buffer): void {
    this.requireSeal();
    checkRange(message, start, end);
    this.checkHeader(signature);
    this.recvIj = rc4Xor(this.mem, this.base + RECV + RC4_AT, this.recvIj, message, start, end);
    this.checkChecksum(message, signature);
  }

  /** The first 8 bytes of HMAC_MD5(SigningKey, seq || message) into out[at..at+8), for direction d. */
  private checksum(d: number, seq: number, message: Uint8Array, out: Uint8Array, at: number): void {
    const base = this.base + d;
    if (message.length <= INLINE_HMAC_MAX) {
      hmacMd5Seq8(this.words, (base + PADS_AT) / 4, seq, message, out, at);
      return;
    }
    const s = Buffer.alloc(4);
    s.writeUInt32LE(seq >>> 0);
    const key = this.mem.subarray(base + SIGN_KEY_AT, base + SIGN_KEY_AT + 16);
    out.set(crypto.createHmac('md5', key).update(s).update(message).digest().subarray(0, 8), at);
  }

  private nextSendSeq(): number {
    const seq = this.sendSeqNum;
    this.sendSeqNum = (seq + 1) >>> 0;
    return seq;
  }

  private requireSign(): void {
    if (!this.canSign) throw ntlmError('policy', 'signing was not negotiated (NTLMSSP_NEGOTIATE_SIGN)');
  }

  private requireSeal(): void {
    if (!this.canSeal) throw ntlmError('policy', 'sealing was not negotiated (NTLMSSP_NEGOTIATE_SEAL)');
  }

  /** Completes a signature whose sig[4..12) holds the plain checksum: version, encrypted checksum, SeqNum. */
  private assemble(sig: Buffer, seq: number): Buffer {
    sig.writeUInt32LE(SIGNATURE_VERSION, 0);
    if (this.keyExch) this.sendIj = rc4Xor(this.mem, this.base + SEND + RC4_AT, this.sendIj, sig, 4, 12);
    sig.writeUInt32LE(seq >>> 0, 12);
    return sig;
  }

  /**
   * Length, version and sequence number: checked before any RC4 state is used, so a replayed or
   * out-of-order signature leaves the session as it was (§3.4.4: SeqNum is not incremented).
   */
  private checkHeader(signature: Buffer): void {
    if (this.recvBroken) throw ntlmError('integrity', 'an earlier signature from the client failed to verify; the session is unusable');
    if (signature.length !== SIGNATURE_SIZE) throw ntlmError('malformed', `signature of ${signature.length} bytes, expected ${SIGNATURE_SIZE}`);
    const version = signature.readUInt32LE(0);
    if (version !== SIGNATURE_VERSION) throw ntlmError('integrity', `signature version ${version}, expected ${SIGNATURE_VERSION}`);
    const seq = signature.readUInt32LE(12);
    if (seq !== this.recvSeqNum) throw ntlmError('integrity', `signature sequence number ${seq}, expected ${this.recvSeqNum}`);
  }

  private checkChecksum(message: Buffer, signature: Buffer): void {
    const seq = this.recvSeqNum;
    this.checksum(RECV, seq, message, expected, 0);
    if (this.keyExch) this.recvIj = rc4Xor(this.mem, this.base + RECV + RC4_AT, this.recvIj, expected, 0, 8);
    // The RC4 handle has moved on whatever the outcome; a mismatch leaves it out of step.
    // Compared without an early exit (as crypto.timingSafeEqual would).
    let diff = 0;
    for (let i = 0; i < 8; i++) diff |= (expected[i] ?? 0) ^ (signature[4 + i] ?? 0);
    if (diff !== 0) {
      this.recvBroken = true;
      throw ntlmError('integrity', `signature checksum does not match (sequence number ${seq})`);
    }
    this.recvSeqNum = (seq + 1) >>> 0;
  }
}

function checkRange(message: Buffer, start: number, end: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > message.length) {
    throw ntlmError('malformed', `sealed region [${start}, ${end}) is not inside a ${message.length}-byte message`);
  }
}
