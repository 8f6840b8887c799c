// Bind, alter_context and auth3 for one connection (MS-RPCE §3.3.1.5.3–§3.3.1.5.6): presentation
// contexts, bind-time features, fragment sizes and the security contexts built in the auth
// legs. No sockets here: a PDU goes in, the reply PDU (or nothing, or a fatal error) comes out,
// so it is tested in-process against captured bind/bind_ack pairs.
//
// Legs of an authenticated bind, as Windows, rpcclient and python3-samba send them:
//   bind (auth token 1)        → bind_ack (token 2)          [or bind_nak]
//   auth3 (token 3)            → nothing                     (Windows, rpcclient, impacket)
//   alter_context (token 3)    → alter_context_resp (token 4 or an empty verifier) (python3-samba)
// More legs (SPNEGO with a mechListMIC, Kerberos) continue with alter_context.

import { AuthLevel, SecurityError, type SecurityContext, type SecurityContextFactory } from '../auth/context.ts';
import { principalName } from '../auth/context.ts';
import type { RpcInterfaceDef } from './interface.ts';
import { SmallMap } from './small-collections.ts';
import {
  ContextResult,
  FaultStatus,
  PFC,
  ProviderReason,
  PType,
  RejectReason,
  serializePdu,
  type AuthVerifier,
  type Auth3Pdu,
  type BindPdu,
  type ContextResultItem,
  type SyntaxId,
} from './pdu.ts';
import { BindTimeFeature, bindTimeFeatures, NDR20, NULL_SYNTAX } from './syntaxes.ts';

/** Fragment sizes we negotiate (Samba's tested values: at most 5840, as Windows uses). */
export const MAX_FRAG = 5840;
const MIN_FRAG = 1432; // MS-RPCE: max_xmit_frag/max_recv_frag must be at least 1432

/** Bind-time features this server implements, and so grants when offered. */
const SUPPORTED_FEATURES = BindTimeFeature.SECURITY_CONTEXT_MULTIPLEXING | BindTimeFeature.KEEP_CONNECTION_ON_ORPHAN;

/** Presentation contexts one bind may propose, and one connection may hold (Windows proposes 2–3). */
export const MAX_CONTEXTS_PER_BIND = 32;
export const MAX_CONTEXTS_PER_CONNECTION = 64;

/** Auth padding aligns the sec_trailer to 16 bytes from the start of the stub (as Windows and Samba do). */
export const AUTH_PAD_ALIGN = 16;

/** One security context on the connection, named by its auth_context_id. */
export interface AuthSession {
  readonly contextId: number;
  readonly type: number;
  /** As the client asked; CALL is treated as PKT on connection-oriented RPC (MS-RPCE §3.3.1.5.2). */
  readonly level: number;
  readonly ctx: SecurityContext;
  /** The exchange failed (a bad AUTHENTICATE in auth3, which has no reply): calls are refused. */
  failed: string | null;
}

/** True when PDUs of this level carry a signature that must verify (PKT, INTEGRITY, PRIVACY). */
export function signsPdus(level: number): boolean {
  return level >= AuthLevel.CALL;
}

/** What the negotiator logs through: pino's methods it uses (a Logger will do). */
export interface NegotiationLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface NegotiatorDeps {
  findInterface(s: SyntaxId): RpcInterfaceDef | undefined;
  /** Joins association group `id` (0: a new group); returns the group's id, or null when it cannot be joined. */
  associate(id: number): number | null;
  /** Leaves the group again (a bind taken back). */
  leave?(association: number): void;
  /** A context completed for `principal`: null when it may use the connection's association, else why not. */
  admit?(principal: string): string | null;
  /** Makes acceptor contexts; null: authenticated binds are refused (bind_nak). */
  security: SecurityContextFactory | null;
  /** Security contexts one connection may build (default 4). */
  maxSessions?: number;
  /** The port we listen on, as the bind_ack's secondary address. */
  secondaryAddress: string;
  log(): NegotiationLog;
}

/**
 * What to do after a bind-phase PDU: send `reply` (when not null); when `fatal` is set, log it
 * and close the connection after sending.
 */
export interface Outcome {
  reply: Buffer | null;
  fatal: string | null;
}

/** A pending presentation-context decision, committed only if the whole PDU is accepted. */
interface ContextDecision {
  results: ContextResultItem[];
  accepted: [number, RpcInterfaceDef][];
  features: number | null;
}

export class Negotiator {
  private readonly deps: NegotiatorDeps;
  /** Presentation contexts: p_cont_id → interface. */
  readonly contexts = new SmallMap<number, RpcInterfaceDef>();
  /** Security contexts: auth_context_id → session. */
  readonly sessions = new SmallMap<number, AuthSession>();
  association: number | null = null;
  concMpx = false;
  /** Largest fragment we may send, and the largest we accept. */
  maxXmit = MAX_FRAG;
  maxRecv = MAX_FRAG;
  /**
   * Header signing (MS-RPCE §3.3.1.5.2.2): decided by the first PDU that carries auth; the client
   * asks with PFC_SUPPORT_HEADER_SIGN and, as every mechanism we offer can protect the header, we
   * always agree. So the two flags are equal; both names say what the checks need.
   */
  headerSigning = false;
  clientHeaderSigning = false;
  /** Bind-time features granted on this connection. */
  features = 0;

  constructor(deps: NegotiatorDeps) {
    this.deps = deps;
  }

  get bound(): boolean {
    return this.association !== null;
  }

  /** The session an unauthenticated request runs under: the bind's, when it is at connect level. */
  connectSession(): AuthSession | null {
    for (const s of this.sessions.values()) if (s.ctx.complete && s.failed === null) return s;
    return null;
  }

  // ── bind ──────────────────────────────────────────────────────────────────────────────────

  bind(p: BindPdu): Outcome | Promise<Outcome> {
    if (this.bound) return { reply: this.nak(p, RejectReason.NOT_SPECIFIED), fatal: null };
    if (p.contexts.length > MAX_CONTEXTS_PER_BIND) {
      this.deps.log().info({ contexts: p.contexts.length, max: MAX_CONTEXTS_PER_BIND }, 'bind refused: too many presentation contexts');
      return { reply: this.nak(p, RejectReason.LOCAL_LIMIT_EXCEEDED), fatal: null };
    }
    const decision = this.decide(p);
    if (!p.auth) return this.finishBind(p, decision, null, null);
    const auth = p.auth;
    const refused = this.refuseVerifier(auth);
    const ctx = refused === null ? (this.deps.security?.(auth.type, auth.level) ?? null) : null;
    if (!ctx) {
      this.deps.log().info({ authType: auth.type, authLevel: auth.level }, `authenticated bind refused: ${refused ?? 'auth type not offered'}`);
      const badLevel = refused !== null && this.deps.security !== null;
      return { reply: this.nak(p, badLevel ? RejectReason.NOT_SPECIFIED : RejectReason.AUTHENTICATION_TYPE_NOT_RECOGNIZED), fatal: null };
    }
    const session: AuthSession = { contextId: auth.contextId, type: auth.type, level: auth.level, ctx, failed: null };
    return ctx.step(auth.value).then(
      (step) => this.finishBind(p, decision, session, step.token),
      (err: unknown) => {
        this.logAuthFailure(err, session, 'bind');
        return { reply: this.nak(p, RejectReason.INVALID_CHECKSUM), fatal: null };
      },
    );
  }

  private finishBind(p: BindPdu, decision: ContextDecision, session: AuthSession | null, token: Buffer | null): Outcome {
    if (this.bound) return { reply: this.nak(p, RejectReason.NOT_SPECIFIED), fatal: null };
    const assoc = this.deps.associate(p.assocGroupId);
    if (assoc === null) {
      this.deps.log().info({ assocGroupId: p.assocGroupId }, 'bind to an association group it may not join refused (unknown, or another client host\'s)');
      return { reply: this.nak(p, RejectReason.NOT_SPECIFIED), fatal: null };
    }
    this.association = assoc;
    this.commit(decision, true);
    this.concMpx = (p.flags & PFC.CONC_MPX) !== 0;
    this.maxXmit = Math.max(MIN_FRAG, Math.min(p.maxRecvFrag, MAX_FRAG));
    this.maxRecv = Math.max(MIN_FRAG, Math.min(p.maxXmitFrag, MAX_FRAG));
    let flags = PFC.FIRST_FRAG | PFC.LAST_FRAG | (this.concMpx ? PFC.CONC_MPX : 0);
    if (session) {
      flags |= this.addSession(session, p.flags);
      this.logAuthProgress(session, 'bind');
    }
    const reply = serializePdu({
      ptype: PType.BIND_ACK,
      versionMinor: p.versionMinor,
      flags,
      callId: p.callId,
      maxXmitFrag: this.maxXmit,
      maxRecvFrag: this.maxRecv,
      assocGroupId: assoc,
      secondaryAddress: this.deps.secondaryAddress,
      results: decision.results,
      auth: session ? this.verifier(session, token) : null,
    });
    // The ack must fit in what the client said it can receive (its max_recv_frag).
    if (reply.length > this.maxXmit) return this.undoBind(p, `a ${reply.length}-byte bind_ack would exceed the client's max_recv_frag ${this.maxXmit}`);
    return { reply, fatal: null };
  }

  // ── alter_context ─────────────────────────────────────────────────────────────────────────

  alterContext(p: BindPdu): Outcome | Promise<Outcome> {
    const decision = this.decide(p);
    if (!p.auth) return this.finishAlter(p, decision, null, null);
    const auth = p.auth;
    const existing = this.sessions.get(auth.contextId);
    if (existing) {
      if (existing.type !== auth.type || existing.level !== auth.level) {
        return this.alterFault(p, FaultStatus.ACCESS_DENIED, `alter_context changes auth context ${auth.contextId} from type ${existing.type} level ${existing.level} to type ${auth.type} level ${auth.level}`);
      }
      if (existing.failed !== null) return this.alterFault(p, FaultStatus.ACCESS_DENIED, `alter_context on failed auth context ${auth.contextId}`);
      // A new presentation context on an established security context: the token is not a leg.
      if (existing.ctx.complete) return this.finishAlter(p, decision, null, null);
      return this.alterStep(p, decision, existing);
    }
    // A further security context on the connection needs security context multiplexing.
    if (this.sessions.size > 0 && (this.features & BindTimeFeature.SECURITY_CONTEXT_MULTIPLEXING) === 0) {
      return this.alterFault(p, FaultStatus.ACCESS_DENIED, `a second security context (auth_context_id ${auth.contextId}) without security context multiplexing`);
    }
    const max = this.deps.maxSessions ?? 4;
    if (this.sessions.size >= max) return this.alterFault(p, FaultStatus.ACCESS_DENIED, `more than ${max} security contexts on one connection (limits.maxAuthContextsPerConnection)`);
    const refused = this.refuseVerifier(auth);
    const ctx = refused === null ? (this.deps.security?.(auth.type, auth.level) ?? null) : null;
    if (!ctx) return this.alterFault(p, FaultStatus.ACCESS_DENIED, `alter_context with auth type ${auth.type} level ${auth.level} refused: ${refused ?? 'auth type not offered'}`);
    const session: AuthSession = { contextId: auth.contextId, type: auth.type, level: auth.level, ctx, failed: null };
    return this.alterStep(p, decision, session);
  }

  private alterStep(p: BindPdu, decision: ContextDecision, session: AuthSession): Promise<Outcome> {
    const token = p.auth?.value ?? Buffer.alloc(0);
    return session.ctx.step(token).then(
      (step) => {
        const echo = this.sessions.has(session.contextId) ? 0 : this.addSession(session, p.flags);
        this.logAuthProgress(session, 'alter_context');
        return this.finishAlter(p, decision, session, step.token, echo);
      },
      (err: unknown) => {
        this.logAuthFailure(err, session, 'alter_context');
        return this.alterFault(p, FaultStatus.ACCESS_DENIED, 'authentication failed');
      },
    );
  }

  private finishAlter(p: BindPdu, decision: ContextDecision, session: AuthSession | null, token: Buffer | null, extraFlags = 0): Outcome {
    if (p.contexts.length > MAX_CONTEXTS_PER_BIND || this.contexts.size + decision.accepted.length > MAX_CONTEXTS_PER_CONNECTION) {
      return this.alterFault(p, FaultStatus.ACCESS_DENIED, `too many presentation contexts (at most ${MAX_CONTEXTS_PER_BIND} per alter_context, ${MAX_CONTEXTS_PER_CONNECTION} per connection)`);
    }
    this.commit(decision, false);
    const results = decision.results;
    const reply = serializePdu({
      ptype: PType.ALTER_CONTEXT_RESP,
      versionMinor: p.versionMinor,
      flags: PFC.FIRST_FRAG | PFC.LAST_FRAG | (this.concMpx ? PFC.CONC_MPX : 0) | extraFlags,
      callId: p.callId,
      maxXmitFrag: this.maxXmit,
      maxRecvFrag: this.maxRecv,
      assocGroupId: this.association ?? 0,
      secondaryAddress: '',
      results,
      // After the last leg Samba sends a sec_trailer with an empty token; clients accept both.
      auth: session ? this.verifier(session, token) : null,
    });
    return { reply, fatal: null };
  }

  /** Takes back a bind that was accepted but whose ack cannot be sent; the client gets a bind_nak. */
  private undoBind(p: BindPdu, why: string): Outcome {
    this.deps.log().info({ why }, 'bind refused');
    if (this.association !== null) this.deps.leave?.(this.association);
    this.association = null;
    this.contexts.clear();
    this.sessions.clear();
    this.headerSigning = false;
    this.clientHeaderSigning = false;
    this.features = 0;
    return { reply: this.nak(p, RejectReason.LOCAL_LIMIT_EXCEEDED), fatal: null };
  }

  private alterFault(p: BindPdu, status: number, why: string): Outcome {
    return { reply: faultPdu(p.callId, status, p.versionMinor, 0, PFC.DID_NOT_EXECUTE), fatal: why };
  }

  // ── auth3 ─────────────────────────────────────────────────────────────────────────────────

  /** The third leg. auth3 has no reply: a failure marks the session, and its next call is refused. */
  auth3(p: Auth3Pdu): Outcome | Promise<Outcome> {
    const auth = p.auth;
    if (!auth) return { reply: null, fatal: 'auth3 without an auth verifier' };
    const session = this.sessions.get(auth.contextId);
    if (!session) return { reply: null, fatal: `auth3 for unknown auth context ${auth.contextId}` };
    if (session.type !== auth.type || session.level !== auth.level) return { reply: null, fatal: `auth3 changes auth context ${auth.contextId}'s type or level` };
    if (session.ctx.complete || session.failed !== null) return { reply: null, fatal: `auth3 for auth context ${auth.contextId}, which is not waiting for a leg` };
    return session.ctx.step(auth.value).then(
      (step) => {
        // A client that ends with auth3 expects no token back: SPNEGO's closing mechListMIC
        // (accept-completed) has nowhere to go and is dropped, as Samba does. An incomplete
        // context after the last leg can never complete.
        if (!step.complete) {
          session.failed = 'the mechanism wanted another leg after auth3';
          this.deps.log().info({ authContextId: session.contextId, mech: session.ctx.mechanism }, 'authentication incomplete after auth3; its calls will be refused');
        } else this.logAuthProgress(session, 'auth3');
        return { reply: null, fatal: null };
      },
      (err: unknown) => {
        session.failed = err instanceof Error ? err.message : String(err);
        this.logAuthFailure(err, session, 'auth3');
        return { reply: null, fatal: null };
      },
    );
  }

  // ── helpers ───────────────────────────────────────────────────────────────────────────────

  /**
   * Records a new security context. The first one decides header signing; returns the flag to
   * echo in that PDU's ack (PFC_SUPPORT_HEADER_SIGN, as Samba does only there), else 0.
   */
  private addSession(session: AuthSession, pduFlags: number): number {
    const first = this.sessions.size === 0;
    this.sessions.set(session.contextId, session);
    if (!first || (pduFlags & PFC.SUPPORT_HEADER_SIGN) === 0) return 0;
    this.headerSigning = true;
    this.clientHeaderSigning = true;
    return PFC.SUPPORT_HEADER_SIGN;
  }

  /** Why a verifier cannot start a security context, or null. */
  private refuseVerifier(auth: AuthVerifier): string | null {
    if (this.deps.security === null) return 'this server runs without authentication (--auth none)';
    if (auth.level < AuthLevel.CONNECT || auth.level > AuthLevel.PRIVACY) return `auth level ${auth.level} is not a valid level`;
    return null;
  }

  /** Results for each proposed presentation context (MS-RPCE §3.3.1.5.6), in order; nothing committed yet. */
  private decide(p: BindPdu): ContextDecision {
    const accepted: [number, RpcInterfaceDef][] = [];
    let features: number | null = null;
    const results = p.contexts.map((c): ContextResultItem => {
      const iface = this.deps.findInterface(c.abstract);
      const ndr = c.transfers.find((t) => t.uuid === NDR20.uuid && t.version === NDR20.version);
      if (iface && ndr) {
        const known = this.contexts.get(c.contextId);
        if (known && known !== iface) return { result: ContextResult.PROVIDER_REJECTION, reason: ProviderReason.NOT_SPECIFIED, transfer: NULL_SYNTAX };
        accepted.push([c.contextId, iface]);
        return { result: ContextResult.ACCEPTANCE, reason: 0, transfer: NDR20 };
      }
      for (const t of c.transfers) {
        const offered = bindTimeFeatures(t);
        if (offered === null) continue;
        const granted = offered & SUPPORTED_FEATURES;
        features = granted;
        return { result: ContextResult.NEGOTIATE_ACK, reason: granted, transfer: NULL_SYNTAX };
      }
      if (!iface) return { result: ContextResult.PROVIDER_REJECTION, reason: ProviderReason.ABSTRACT_SYNTAX_NOT_SUPPORTED, transfer: NULL_SYNTAX };
      return { result: ContextResult.PROVIDER_REJECTION, reason: ProviderReason.PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED, transfer: NULL_SYNTAX };
    });
    return { results, accepted, features };
  }

  private commit(d: ContextDecision, isBind: boolean): void {
    for (const [id, iface] of d.accepted) this.contexts.set(id, iface);
    // Features are negotiated once, on the connection's first bind (MS-RPCE §3.3.1.5.3).
    if (isBind && d.features !== null) this.features = d.features;
  }

  /** The ack's verifier. Its body always ends 4-byte aligned, so the sec_trailer needs no padding. */
  private verifier(session: AuthSession, token: Buffer | null): AuthVerifier {
    return { type: session.type, level: session.level, pad: Buffer.alloc(0), contextId: session.contextId, value: token ?? Buffer.alloc(0) };
  }

  private nak(p: BindPdu, reason: number): Buffer {
    return bindNakPdu(p.callId, reason);
  }

  private logAuthProgress(s: AuthSession, leg: string): void {
    if (!s.ctx.complete) return;
    const id = s.ctx.identity;
    // An association belongs to the principal that first authenticated on it: another one may
    // not use its context handles (joining it by its id is not enough).
    const refused = id ? (this.deps.admit?.(principalName(id)) ?? null) : null;
    if (refused !== null) {
      s.failed = refused;
      this.deps.log().warn({ leg, user: id ? principalName(id) : null, association: this.association, why: refused }, 'authenticated, but refused on this association; its calls will be refused');
      return;
    }
    this.deps.log().info({ leg, mech: s.ctx.mechanism, authType: s.type, authLevel: s.level, authContextId: s.contextId, user: id ? principalName(id) : null, workstation: id?.workstation ?? null }, 'client authenticated');
  }

  private logAuthFailure(err: unknown, s: AuthSession, leg: string): void {
    const code = err instanceof SecurityError ? err.code : 'internal';
    const msg = err instanceof Error ? err.message : String(err);
    const line = { leg, mech: s.ctx.mechanism, authType: s.type, authLevel: s.level, authContextId: s.contextId, code, error: msg };
    if (err instanceof SecurityError) this.deps.log().warn(line, 'authentication refused');
    else this.deps.log().error(Object.assign({}, line, { err }), 'authentication failed with an internal error');
  }
}

/** A bind_nak offering protocol 5.0, the one we speak. */
export function bindNakPdu(callId: number, reason: number): Buffer {
  return serializePdu({ ptype: PType.BIND_NAK, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId, reason, versions: [{ major: 5, minor: 0 }] });
}

/** A fault PDU with no stub (faults are never signed: they carry no verifier). */
export function faultPdu(callId: number, status: number, versionMinor = 0, contextId = 0, flags = 0): Buffer {
  return serializePdu({ ptype: PType.FAULT, versionMinor, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG | flags, callId, allocHint: 0, contextId, cancelCount: 0, faultFlags: 0, status, stub: Buffer.alloc(0) });
}
