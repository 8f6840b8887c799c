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
// - HMAC-MD5 is computed here (RFC 2104 over ../crypto/md5.ts's compression function) with the MD5 states after the key's
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
import { md5Block, MD5_IV, md5Pad, putLe32 } from '../crypto/md5.ts';
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
  md5Pad(work, tail, fill, 64 + total); // the pad block is part of the hashed stream
  // Outer hash over the 16-byte inner digest, after the 64-byte outer pad.
  for (let w = 0; w < 4; w++) putLe32(tail, w * 4, work[w] ?? 0);
  work[0] = pads[p + 4] ?? 0;
  work[1] = pads[p + 5] ?? 0;
  work[2] = pads[p + 6] ?? 0;
  work[3] = pads[p + 7] ?? 0;
  md5Pad(work, tail, 16, 64 + 16);
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
