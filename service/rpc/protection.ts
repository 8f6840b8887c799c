// Per-PDU protection (MS-RPCE §3.3.1.5.2): checking, and at privacy decrypting, each request
// fragment as it arrives (before reassembly), and signing or sealing each response fragment as
// it is built. Which bytes are covered:
//   header signing agreed, or a mechanism that always covers the whole PDU (NTLMSSP):
//     signature over header + body + auth padding + sec_trailer; privacy encrypts body + padding;
//   otherwise: signature over body + padding only, which privacy encrypts.

import { AuthLevel, SecurityError } from '../auth/context.ts';
import { RpcFault } from './interface.ts';
import { AUTH_PAD_ALIGN, signsPdus, type AuthSession, type Negotiator } from './negotiation.ts';
import { DREP_LE, FaultStatus, HEADER_SIZE, PFC, PType, SEC_TRAILER_SIZE, type FragmentLayout, type RequestPdu } from './pdu.ts';

/**
 * A request the security layer refuses: a fault like a handler's RpcFault, but the connection
 * closes after it (a peer that fails verification is not trusted with another call).
 */
export class ProtectionError extends RpcFault {
  override readonly name = 'ProtectionError';
}

const RESPONSE_HEADER = 8; // alloc_hint, p_cont_id, cancel_count, reserved

/** Whether the signature covers the whole PDU on this connection for this session. */
function coversWholePdu(n: Negotiator, s: AuthSession): boolean {
  return n.headerSigning || s.ctx.signsWholePdu;
}

/**
 * Checks one request fragment and, at privacy, decrypts its stub in place (the parsed PDU's stub
 * shares those bytes). Returns the session the call runs under: null for an unauthenticated call.
 */
export function unprotectRequest(n: Negotiator, p: RequestPdu, l: FragmentLayout): AuthSession | null {
  const auth = p.auth;
  if (!auth) {
    const s = n.connectSession();
    if (s && signsPdus(s.level)) throw new ProtectionError(FaultStatus.ACCESS_DENIED, `a request without a verifier on a connection authenticated at level ${s.level}`);
    return s;
  }
  const s = n.sessions.get(auth.contextId);
  if (!s) throw new ProtectionError(FaultStatus.ACCESS_DENIED, `a request for auth context ${auth.contextId}, which was never set up`);
  if (s.failed !== null) throw new ProtectionError(FaultStatus.ACCESS_DENIED, `a request on auth context ${auth.contextId}, whose authentication failed (${s.failed})`);
  if (!s.ctx.complete) throw new ProtectionError(FaultStatus.ACCESS_DENIED, `a request on auth context ${auth.contextId} before its authentication completed`);
  if (auth.type !== s.type || auth.level !== s.level) {
    throw new ProtectionError(FaultStatus.SEC_PKG_ERROR, `a request with auth type ${auth.type} level ${auth.level} on auth context ${auth.contextId} (type ${s.type} level ${s.level})`);
  }
  // At connect level the verifier carries nothing to check (MS-RPCE §3.3.1.5.2.2).
  if (!signsPdus(s.level)) return s;
  const sig = auth.value;
  if (sig.length !== s.ctx.signatureSize) throw new ProtectionError(FaultStatus.SEC_PKG_ERROR, `a ${sig.length}-byte verifier where the mechanism signs with ${s.ctx.signatureSize}`);
  const b = l.bytes;
  try {
    if (coversWholePdu(n, s)) {
      const message = b.subarray(0, l.authStart);
      if (s.level === AuthLevel.PRIVACY) s.ctx.unwrap(message, l.stubStart, l.trailerStart, sig);
      else s.ctx.verifyMic(message, sig);
    } else {
      const body = b.subarray(l.stubStart, l.trailerStart);
      if (s.level === AuthLevel.PRIVACY) s.ctx.unwrap(body, 0, body.length, sig);
      else s.ctx.verifyMic(body, sig);
    }
  } catch (err) {
    // A context the policy refuses to use (an anonymous logon has no key to sign with) is access
    // denied; a signature that does not verify is the security package's error.
    if (err instanceof SecurityError) throw new ProtectionError(err.code === 'policy' ? FaultStatus.ACCESS_DENIED : FaultStatus.SEC_PKG_ERROR, `request verifier refused: ${err.message}`);
    throw err;
  }
  return s;
}

/**
 * Response fragments of at most `maxXmit` bytes, each signed (or sealed) for `s`. A session at
 * connect level (or none) gets plain fragments from `plain`.
 */
export function protectResponse(n: Negotiator, s: AuthSession, callId: number, contextId: number, stub: Buffer, versionMinor: number): Buffer[] {
  const sigSize = s.ctx.signatureSize;
  const whole = coversWholePdu(n, s);
  // Room for the stub in one fragment, a multiple of the padding alignment so only the last pads.
  const room = Math.max(AUTH_PAD_ALIGN, Math.floor((n.maxXmit - HEADER_SIZE - RESPONSE_HEADER - SEC_TRAILER_SIZE - sigSize) / AUTH_PAD_ALIGN) * AUTH_PAD_ALIGN);
  const out: Buffer[] = [];
  let off = 0;
  do {
    const len = Math.min(room, stub.length - off);
    const pad = (AUTH_PAD_ALIGN - (len % AUTH_PAD_ALIGN)) % AUTH_PAD_ALIGN;
    const stubStart = HEADER_SIZE + RESPONSE_HEADER;
    const trailerStart = stubStart + len + pad;
    const authStart = trailerStart + SEC_TRAILER_SIZE;
    // Not zero-filled (a pooled slice, as ByteWriter's plain responses are): every byte up to
    // authStart is written below, and the signature fills the rest.
    const frag = Buffer.allocUnsafe(authStart + sigSize);
    let flags = 0;
    if (off === 0) flags |= PFC.FIRST_FRAG;
    if (off + len >= stub.length) flags |= PFC.LAST_FRAG;
    frag[0] = 5;
    frag[1] = versionMinor;
    frag[2] = PType.RESPONSE;
    frag[3] = flags;
    frag.set(DREP_LE, 4);
    frag.writeUInt16LE(frag.length, 8);
    frag.writeUInt16LE(sigSize, 10);
    frag.writeUInt32LE(callId, 12);
    frag.writeUInt32LE(stub.length - off, 16); // alloc_hint: what is left of the stub
    frag.writeUInt16LE(contextId, 20);
    frag[22] = 0; // cancel_count
    frag[23] = 0; // reserved
    stub.copy(frag, stubStart, off, off + len);
    frag.fill(0, stubStart + len, trailerStart); // auth padding
    frag[trailerStart] = s.type;
    frag[trailerStart + 1] = s.level;
    frag[trailerStart + 2] = pad;
    frag[trailerStart + 3] = 0; // auth_reserved
    frag.writeUInt32LE(s.contextId, trailerStart + 4);
    let sig: Buffer;
    if (whole) {
      const message = frag.subarray(0, authStart);
      sig = s.level === AuthLevel.PRIVACY ? s.ctx.wrap(message, stubStart, trailerStart) : s.ctx.getMic(message);
    } else {
      const body = frag.subarray(stubStart, trailerStart);
      sig = s.level === AuthLevel.PRIVACY ? s.ctx.wrap(body, 0, body.length) : s.ctx.getMic(body);
    }
    if (sig.length !== sigSize) throw new Error(`the ${s.ctx.mechanism} mechanism made a ${sig.length}-byte signature, not ${sigSize}`);
    sig.copy(frag, authStart);
    out.push(frag);
    off += len;
  } while (off < stub.length);
  return out;
}
