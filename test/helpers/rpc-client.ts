// A small DCE/RPC client over TCP built from the server's own codec, for robustness tests and
// benchmarks (interoperability is proven with Samba's clients, not with this one).
//
// Authentication: NTLMSSP (auth_type 10) through the test initiator in test/fixtures/ntlm/client.ts,
// with the legs rpcclient and Windows use: NEGOTIATE in the bind, CHALLENGE in the bind_ack,
// AUTHENTICATE in an AUTH3 (same call_id as the bind, no reply). After that every request carries
// a verifier: at integrity (5) signed, at privacy (6) sealed, the signature always covering the
// whole PDU (header, stub, auth padding, sec_trailer), as NTLMSSP does. Every response fragment
// that carries a verifier is checked (and unsealed in place) as it arrives, in arrival order, which
// is the order the server signed them in; one that does not verify rejects its call.

import net from 'node:net';
import { AuthLevel, AuthType } from '../../service/auth/context.ts';
import { AUTH_PAD_ALIGN } from '../../service/rpc/negotiation.ts';
import { Deframer } from '../../service/rpc/framing.ts';
import { parseFragment, parsePdu, PFC, PType, SEC_TRAILER_SIZE, serializePdu, type Pdu } from '../../service/rpc/pdu.ts';
import { NDR20 } from '../../service/rpc/syntaxes.ts';
import { WITNESS_INTERFACE } from '../../service/swn/constants.ts';
import { authenticateMessage, ClientSession, CLIENT_SEAL_FLAGS, CLIENT_SIGN_FLAGS, negotiateMessage } from '../fixtures/ntlm/client.ts';

const NTLM_SIGNATURE_SIZE = 16;

/** Credentials and protection for an NTLMSSP bind. */
export interface ClientAuth {
  user: string;
  domain: string;
  password: string;
  /** The account's NT hash, when known: saves an MD4 of the password per bind (a load generator's cost). */
  ntHash?: Buffer;
  /** AuthLevel.INTEGRITY (signed PDUs, the default) or AuthLevel.PRIVACY (sealed). */
  level?: number;
  /** auth_context_id (default 0). */
  contextId?: number;
  /** NTLMSSP flags to ask for (default rpcclient's: CLIENT_SIGN_FLAGS, or CLIENT_SEAL_FLAGS at privacy). */
  flags?: number;
  workstation?: string;
  /** Ask for header signing in the bind (PFC_SUPPORT_HEADER_SIGN), as rpcclient does. Default true. */
  headerSign?: boolean;
}

/** A response fragment whose verifier did not check out. */
export class VerifierError extends Error {
  override name = 'VerifierError';
}

interface Established {
  session: ClientSession;
  type: number;
  level: number;
  contextId: number;
}

export class RawClient {
  readonly socket: net.Socket;
  private readonly deframer = new Deframer(1 << 20);
  private readonly waiting = new Map<number, { resolve: (p: Pdu) => void; reject: (e: Error) => void; parts: Buffer[] }>();
  private nextCall = 1;
  private auth: Established | null = null;
  closed: Promise<void>;
  assocGroupId = 0;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => { socket.once('close', () => { resolve(); }); });
    socket.on('data', (d: Buffer) => {
      for (const f of this.deframer.push(d)) {
        let p: Pdu;
        try {
          p = this.open(f);
        } catch (err) {
          const callId = f.length >= 16 ? f.readUInt32LE(12) : -1;
          const w = this.waiting.get(callId);
          this.waiting.delete(callId);
          w?.reject(err instanceof Error ? err : new Error(String(err)));
          continue;
        }
        const w = this.waiting.get(p.callId);
        if (!w) continue;
        if (p.ptype === PType.RESPONSE && (p.flags & PFC.LAST_FRAG) === 0) {
          w.parts.push(p.stub);
          continue;
        }
        this.waiting.delete(p.callId);
        if (p.ptype === PType.RESPONSE && w.parts.length > 0) w.resolve({ ...p, stub: Buffer.concat([...w.parts, p.stub]) });
        else w.resolve(p);
      }
    });
    socket.on('close', () => {
      for (const w of this.waiting.values()) w.reject(new Error('connection closed'));
      this.waiting.clear();
    });
    socket.on('error', () => { /* close follows */ });
  }

  /** `localAddress`: the client's own address (another loopback address plays another client host). */
  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host, noDelay: true, ...(localAddress !== undefined ? { localAddress } : {}) }, () => { resolve(new RawClient(s)); });
      s.once('error', reject);
    });
  }

  /** The level the connection's calls are protected at (AuthLevel.NONE before an authenticated bind). */
  get level(): number {
    return this.auth?.level ?? AuthLevel.NONE;
  }

  /** The next PDU the server sends for `callId` (for PDUs sent with write()). */
  replyTo(callId: number): Promise<Pdu> {
    return this.expect(callId);
  }

  private expect(callId: number): Promise<Pdu> {
    return new Promise((resolve, reject) => { this.waiting.set(callId, { resolve, reject, parts: [] }); });
  }

  /**
   * Binds the witness interface (NDR) on context 0; joins `assocGroupId` when given. With `auth`,
   * the bind carries NTLMSSP NEGOTIATE and, when the bind_ack brings the CHALLENGE, AUTHENTICATE
   * goes in an AUTH3 (the server sends nothing back); calls made after this resolves are signed or
   * sealed. Resolves with the bind_ack (or bind_nak, in which case nothing more is sent).
   */
  async bind(assocGroupId = 0, concMpx = false, auth: ClientAuth | null = null): Promise<Pdu> {
    const callId = this.nextCall++;
    const reply = this.expect(callId);
    const level = auth?.level ?? AuthLevel.INTEGRITY;
    const contextId = auth?.contextId ?? 0;
    const negotiate = auth ? negotiateMessage(auth.flags ?? (level === AuthLevel.PRIVACY ? CLIENT_SEAL_FLAGS : CLIENT_SIGN_FLAGS)) : null;
    const headerSign = auth !== null && auth.headerSign !== false;
    this.socket.write(serializePdu({
      ptype: PType.BIND, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG | (concMpx ? PFC.CONC_MPX : 0) | (headerSign ? PFC.SUPPORT_HEADER_SIGN : 0), callId,
      maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId,
      contexts: [{ contextId: 0, abstract: { uuid: WITNESS_INTERFACE.uuid, version: WITNESS_INTERFACE.versionMajor, minor: WITNESS_INTERFACE.versionMinor }, transfers: [NDR20] }],
      auth: negotiate ? { type: AuthType.NTLMSSP, level, pad: Buffer.alloc(0), contextId, value: negotiate } : null,
    }));
    const p = await reply;
    if (p.ptype !== PType.BIND_ACK) return p;
    this.assocGroupId = p.assocGroupId;
    if (!auth || !negotiate) return p;
    if (!p.auth || p.auth.value.length === 0) throw new Error('the bind_ack carries no NTLMSSP CHALLENGE');
    const challenge = Buffer.from(p.auth.value);
    const a = authenticateMessage({
      negotiate, challenge, user: auth.user, domain: auth.domain, password: auth.password,
      ...(auth.ntHash !== undefined ? { ntHash: auth.ntHash } : {}),
      ...(auth.workstation !== undefined ? { workstation: auth.workstation } : {}),
      ...(auth.flags !== undefined ? { flags: auth.flags } : {}),
    });
    this.socket.write(serializePdu({ ptype: PType.AUTH3, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId, auth: { type: AuthType.NTLMSSP, level, pad: Buffer.alloc(0), contextId, value: a.message } }));
    this.auth = { session: new ClientSession(a.exportedSessionKey, a.flags), type: AuthType.NTLMSSP, level, contextId };
    return p;
  }

  /** A new call_id for a request the caller sends itself (with `request` and `write`). */
  takeCallId(): number {
    return this.nextCall++;
  }

  /**
   * The bytes of one request fragment (the whole stub in it), signed or sealed when the bind was
   * authenticated. Each call takes the next client-to-server sequence number: send the fragments
   * in the order they were made.
   */
  request(callId: number, opnum: number, stub: Buffer): Buffer {
    const flags = PFC.FIRST_FRAG | PFC.LAST_FRAG;
    const a = this.auth;
    if (!a) return serializePdu({ ptype: PType.REQUEST, versionMinor: 0, flags, callId, allocHint: stub.length, contextId: 0, opnum, object: null, stub, auth: null });
    const pad = (AUTH_PAD_ALIGN - (stub.length % AUTH_PAD_ALIGN)) % AUTH_PAD_ALIGN;
    const frag = serializePdu({
      ptype: PType.REQUEST, versionMinor: 0, flags, callId, allocHint: stub.length, contextId: 0, opnum, object: null, stub,
      auth: { type: a.type, level: a.level, pad: Buffer.alloc(pad), contextId: a.contextId, value: Buffer.alloc(NTLM_SIGNATURE_SIZE) },
    });
    const stubStart = 24;
    const trailerStart = stubStart + stub.length + pad;
    const authStart = trailerStart + SEC_TRAILER_SIZE;
    const message = frag.subarray(0, authStart);
    const sig = a.level === AuthLevel.PRIVACY ? a.session.seal(message, stubStart, trailerStart) : a.session.sign(message);
    sig.copy(frag, authStart);
    return frag;
  }

  /**
   * Parses one received fragment; on an authenticated connection a fragment with a verifier is
   * checked first (and unsealed in place at privacy). Throws VerifierError when it does not check
   * out, or when a response comes without one at integrity or privacy. Call it once per fragment,
   * in arrival order (the data handler does; a caller that takes the socket over does it itself).
   */
  open(frag: Buffer): Pdu {
    const a = this.auth;
    if (!a) return parsePdu(frag);
    const { pdu, layout } = parseFragment(frag);
    if (pdu.ptype !== PType.RESPONSE) return pdu; // faults, bind_acks, ...: never signed
    if (!pdu.auth) throw new VerifierError(`response to call ${pdu.callId} without a verifier on a connection at level ${a.level}`);
    if (pdu.auth.type !== a.type || pdu.auth.level !== a.level || pdu.auth.contextId !== a.contextId) {
      throw new VerifierError(`response to call ${pdu.callId} with auth type ${pdu.auth.type} level ${pdu.auth.level} context ${pdu.auth.contextId}`);
    }
    const message = frag.subarray(0, layout.authStart);
    const sig = Buffer.from(pdu.auth.value);
    const ok = a.level === AuthLevel.PRIVACY ? a.session.unseal(message, layout.stubStart, layout.trailerStart, sig) : a.session.verify(message, sig);
    if (!ok) throw new VerifierError(`response to call ${pdu.callId}: signature does not verify`);
    return pdu; // its stub shares the (now plaintext) bytes
  }

  /** Sends a request and resolves with the response (or fault) PDU. */
  call(opnum: number, stub: Buffer): Promise<Pdu> {
    const callId = this.nextCall++;
    const reply = this.expect(callId);
    this.socket.write(this.request(callId, opnum, stub));
    return reply;
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.closed;
  }
}

export function stubOf(p: Pdu): Buffer {
  if (p.ptype !== PType.RESPONSE) throw new Error(`expected a response, got PDU type ${p.ptype}${p.ptype === PType.FAULT ? ` (fault 0x${p.status.toString(16)})` : ''}`);
  return p.stub;
}
