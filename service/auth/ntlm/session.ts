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

import crypto from 'node:crypto';
import { Rc4 } from '../crypto/rc4.ts';
import { NegotiateFlag } from './constants.ts';
import { ntlmError } from './errors.ts';
import { hmacMd5, sealKey, signKey, type Direction } from './keys.ts';

export const SIGNATURE_SIZE = 16;
const SIGNATURE_VERSION = 1;

class DirectionState {
  readonly signKey: Buffer;
  private readonly sealKey: Buffer;
  handle: Rc4;
  seq = 0;

  constructor(exported: Buffer, flags: number, dir: Direction) {
    this.signKey = signKey(exported, dir);
    this.sealKey = sealKey(exported, flags, dir);
    this.handle = new Rc4(this.sealKey);
  }

  /** A fresh keystream from the sealing key; the sequence number is not the handle's and stays. */
  rekey(): void {
    this.handle = new Rc4(this.sealKey);
  }
}

function seqBytes(seq: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(seq >>> 0);
  return b;
}

export class NtlmSession {
  private readonly keyExch: boolean;
  private readonly canSign: boolean;
  private readonly canSeal: boolean;
  private readonly send: DirectionState;
  private readonly recv: DirectionState;
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
    this.send = new DirectionState(exportedSessionKey, flags, 'server-to-client');
    this.recv = new DirectionState(exportedSessionKey, flags, 'client-to-server');
  }

  /** The next sequence numbers (for logs and tests). */
  get sendSeq(): number {
    return this.send.seq;
  }
  get recvSeq(): number {
    return this.recv.seq;
  }

  /**
   * Both RC4 handles back to their state right after authentication (re-keyed from the sealing
   * keys); sequence numbers are NOT reset. See NtlmAcceptor.resetCrypto for when SPNEGO needs it.
   */
  resetHandles(): void {
    this.send.rekey();
    this.recv.rekey();
  }

  /** MAC (§3.4.4.2) over `message` for the next outgoing sequence number. */
  sign(message: Buffer): Buffer {
    this.requireSign();
    return this.mac(this.send, message, this.nextSendSeq());
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
    const checksum = hmacMd5(this.send.signKey, seqBytes(seq), message).subarray(0, 8);
    this.send.handle.update(message.subarray(start, end));
    return this.assemble(this.send, checksum, seq);
  }

  /** Decrypts message[start, end) in place, then checks `signature` over the plaintext message. */
  unseal(message: Buffer, start: number, end: number, signature: Buffer): void {
    this.requireSeal();
    checkRange(message, start, end);
    this.checkHeader(signature);
    this.recv.handle.update(message.subarray(start, end));
    this.checkChecksum(message, signature);
  }

  private nextSendSeq(): number {
    const seq = this.send.seq;
    this.send.seq = (seq + 1) >>> 0;
    return seq;
  }

  private requireSign(): void {
    if (!this.canSign) throw ntlmError('policy', 'signing was not negotiated (NTLMSSP_NEGOTIATE_SIGN)');
  }

  private requireSeal(): void {
    if (!this.canSeal) throw ntlmError('policy', 'sealing was not negotiated (NTLMSSP_NEGOTIATE_SEAL)');
  }

  private mac(state: DirectionState, message: Buffer, seq: number): Buffer {
    const checksum = hmacMd5(state.signKey, seqBytes(seq), message).subarray(0, 8);
    return this.assemble(state, checksum, seq);
  }

  private assemble(state: DirectionState, checksum: Buffer, seq: number): Buffer {
    const sig = Buffer.alloc(SIGNATURE_SIZE);
    sig.writeUInt32LE(SIGNATURE_VERSION, 0);
    checksum.copy(sig, 4);
    if (this.keyExch) state.handle.update(sig.subarray(4, 12));
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
    if (seq !== this.recv.seq) throw ntlmError('integrity', `signature sequence number ${seq}, expected ${this.recv.seq}`);
  }

  private checkChecksum(message: Buffer, signature: Buffer): void {
    const expected = this.mac(this.recv, message, this.recv.seq);
    // The RC4 handle has moved on whatever the outcome; a mismatch leaves it out of step.
    if (!crypto.timingSafeEqual(expected.subarray(4, 12), signature.subarray(4, 12))) {
      this.recvBroken = true;
      throw ntlmError('integrity', `signature checksum does not match (sequence number ${this.recv.seq})`);
    }
    this.recv.seq = (this.recv.seq + 1) >>> 0;
  }
}

function checkRange(message: Buffer, start: number, end: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > message.length) {
    throw ntlmError('malformed', `sealed region [${start}, ${end}) is not inside a ${message.length}-byte message`);
  }
}
