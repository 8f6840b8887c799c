// One client connection: bytes → fragments → PDUs, in order. Binds and their auth legs go to the
// Negotiator (they may wait for a credential source: meanwhile the connection reads nothing more
// and later fragments wait their turn); requests are checked by the security layer fragment by
// fragment, reassembled, authorised and handed to the interface; responses are fragmented and
// signed or sealed as they are sent, so sequence numbers follow the wire order.

import type net from 'node:net';
import type { Logger } from 'pino';
import type { SecurityContextFactory } from '../auth/context.ts';
import { Call, type CallSite } from './call.ts';
import { DecodeError } from '../bytes/decode-error.ts';
import { fragmentResponse, Reassembler } from './fragments.ts';
import { Deframer } from './framing.ts';
import { DEFERRED, RpcFault, type RpcInterfaceDef } from './interface.ts';
import type { LimitLog } from './limit-log.ts';
import { bindNakPdu, faultPdu, Negotiator, signsPdus, type AuthSession, type NegotiationLog, type NegotiatorDeps, type Outcome } from './negotiation.ts';
import { FaultStatus, HEADER_SIZE, parseFragment, parseHeader, PFC, PType, RejectReason, type FragmentLayout, type Header, type Pdu, type RequestPdu, type SyntaxId } from './pdu.ts';
import type { ByteBudget } from './byte-budget.ts';
import { protectResponse, ProtectionError, unprotectRequest } from './protection.ts';
import { SmallMap } from './small-collections.ts';
import { NDR20 } from './syntaxes.ts';
import { checkVerificationTrailer } from './verification-trailer.ts';

export interface RpcLimits {
  maxConnections: number;
  maxCallsPerConnection: number;
  /** Security contexts (auth_context_ids) one connection may build: each holds a mechanism's state. */
  maxAuthContextsPerConnection: number;
  /** Largest fragment accepted from a client (the deframer refuses longer ones). */
  maxFragment: number;
  /** Largest reassembled request stub. */
  maxRequestBytes: number;
  /** A connection that has not bound within this time is closed. */
  bindTimeoutMs: number;
  /** Bytes held for unfinished input across all connections (partial frames, fragments being reassembled). */
  maxPendingBytes: number;
  /** A call whose fragments (or a frame whose bytes) stop arriving for this long closes its connection. */
  partialTimeoutMs: number;
  /** A bound connection with no call in flight (no pending AsyncNotify either) for this long is closed. */
  idleTimeoutMs: number;
}

/** What a connection needs of its server. */
export interface ConnectionHost {
  readonly limits: RpcLimits;
  readonly logger: Logger;
  readonly limitLog: LimitLog;
  readonly security: SecurityContextFactory | null;
  /** Bytes held for unfinished input, shared by every connection. */
  readonly pending: ByteBudget;
  findInterface(s: SyntaxId): RpcInterfaceDef | undefined;
  /**
   * Adds the connection to association group `id` (0: a new one); its id, or null when it cannot
   * join (unknown group, or one that belongs to another client host).
   */
  join(id: number, c: Connection, remoteHost: string): number | null;
  leave(association: number, c: Connection): void;
  /**
   * A security context of the connection completed for `principal`: null when the association may
   * be used by it, else why not (an association belongs to the first principal that used it).
   */
  admit(association: number, principal: string): string | null;
}

export class Connection {
  private readonly host: ConnectionHost;
  private readonly socket: net.Socket;
  readonly id: number;
  private readonly deframer: Deframer;
  private reassemblerInstance: Reassembler | null = null;
  private readonly neg: Negotiator;
  private readonly calls = new SmallMap<number, Call>();
  /** Fragmented requests in progress: call_id → the session of their first fragment. */
  private partialSessionsInstance: Map<number, AuthSession | null> | null = null;
  private bindTimer: NodeJS.Timeout | null;
  private isClosed = false;
  /** Ending after a refusal: nothing more is read or dispatched. */
  private closing = false;
  /** A bind-phase PDU is waiting for its security mechanism: later fragments queue behind it. */
  private waiting = false;
  /** Made when something has to wait, dropped when drained (an idle connection holds none). */
  private queue: Buffer[] | null = null;
  private queuedBytes = 0;
  /** What this connection has told the server-wide budget it holds. */
  private heldBytes = 0;
  /** When the deframer last went from empty to holding a partial frame. */
  private partialFrameSince: number | null = null;
  /** Last time the client sent something or a call of it ended. */
  lastActivity = Date.now();
  private readonly remoteHost: string;
  private readonly site: CallSite;
  private logInstance: Logger | null = null;
  private lastRequestCallId: number | null = null;

  constructor(host: ConnectionHost, socket: net.Socket, id: number) {
    this.host = host;
    this.socket = socket;
    this.id = id;
    const lim = host.limits;
    this.deframer = new Deframer(lim.maxFragment);
    this.remoteHost = socket.remoteAddress ?? '?';
    const localAddress = socket.localAddress ?? '0.0.0.0';
    const localPort = socket.localPort ?? 0;
    this.site = {
      association: 0,
      connection: id,
      remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`,
      local: `${localAddress}:${localPort}`,
      localAddress,
      localPort,
    };
    this.neg = new Negotiator(new NegotiatorSide(this));
    socket.setKeepAlive(true, 60_000);
    this.bindTimer = setTimeout(() => {
      host.limitLog.warn('bind-timeout', { remote: this.site.remote, ms: lim.bindTimeoutMs }, 'connection did not bind in time; closing it');
      this.destroy('no bind');
    }, lim.bindTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      this.onData(chunk);
    });
    socket.on('error', (err) => {
      this.log.debug({ err }, 'socket error');
    });
  }

  /** For NegotiatorSide: joins association group `assocId` (0: a new one) for this connection. */
  associate(assocId: number): number | null {
    // A bind whose auth step finished after the client left must not join anything.
    if (this.isClosed) return null;
    const a = this.host.join(assocId, this, this.remoteHost);
    if (a !== null) this.site.association = a;
    return a;
  }

  /** For NegotiatorSide: the server's answer for a principal on this connection's association. */
  admit(principal: string): string | null {
    return this.neg.association === null ? null : this.host.admit(this.neg.association, principal);
  }

  get connectionHost(): ConnectionHost {
    return this.host;
  }

  /** Our end's port: the bind_ack's secondary address. */
  get localPort(): number {
    return this.site.localPort;
  }

  /** The server's logger with this connection's fields added per line (no child logger kept). */
  get bindingLog(): NegotiationLog {
    const base = this.host.logger;
    const conn = this.id;
    const remote = this.site.remote;
    // Object.assign onto a fresh literal, not `{ ...at, ...o }`: V8 11's spread of two objects is
    // a slow path (µs, not ns), and this runs for every authenticated client.
    return {
      info: (o, m) => { base.info(Object.assign({ conn, remote }, o), m); },
      warn: (o, m) => { base.warn(Object.assign({ conn, remote }, o), m); },
      error: (o, m) => { base.error(Object.assign({ conn, remote }, o), m); },
    };
  }

  // Created on first use: with tens of thousands of quiet connections, a child logger and a
  // reassembly table each would cost memory for nothing.
  private get log(): Logger {
    this.logInstance ??= this.host.logger.child({ conn: this.id, remote: this.site.remote });
    return this.logInstance;
  }

  private get reassembler(): Reassembler {
    this.reassemblerInstance ??= new Reassembler(this.host.limits.maxRequestBytes);
    return this.reassemblerInstance;
  }

  destroy(why: string): void {
    if (this.isClosed) return;
    this.log.debug({ why }, 'closing connection');
    this.socket.destroy();
  }

  /** No call in flight and nothing being negotiated: closing it loses the client nothing it waits for. */
  get idle(): boolean {
    return this.calls.size === 0 && !this.waiting && this.partialFrameSince === null && (this.reassemblerInstance?.oldestStart ?? null) === null;
  }

  get bound(): boolean {
    return this.neg.bound;
  }

  /**
   * The server's periodic check: a partial call or frame that stopped arriving, or a bound
   * connection idle for too long, is closed (with a log line). Returns true when it closed.
   */
  sweep(now: number): boolean {
    if (this.isClosed) return false;
    const lim = this.host.limits;
    const partialSince = Math.min(this.partialFrameSince ?? Infinity, this.reassemblerInstance?.oldestStart ?? Infinity);
    if (now - partialSince > lim.partialTimeoutMs) {
      this.host.limitLog.warn('partial-timeout', { remote: this.site.remote, ms: lim.partialTimeoutMs }, 'a partial request stopped arriving; closing the connection');
      this.destroy('partial request timed out');
      return true;
    }
    if (this.neg.bound && this.idle && now - this.lastActivity > lim.idleTimeoutMs) {
      this.host.limitLog.warn('idle-timeout', { remote: this.site.remote, ms: lim.idleTimeoutMs }, 'a bound connection was idle too long; closing it');
      this.destroy('idle');
      return true;
    }
    return false;
  }

  /** The socket is gone: abort its calls and leave the association (maybe running it down). */
  closed(): void {
    this.isClosed = true;
    this.releasePending();
    if (this.bindTimer) clearTimeout(this.bindTimer);
    for (const call of this.calls.values()) call.cancel();
    this.calls.clear();
    if (this.neg.association !== null) this.host.leave(this.neg.association, this);
    this.neg.association = null;
  }

  private send(frags: Buffer[]): void {
    if (this.isClosed || this.socket.destroyed) return;
    if (frags.length === 1 && frags[0]) {
      this.socket.write(frags[0]);
      return;
    }
    this.socket.cork();
    for (const f of frags) this.socket.write(f);
    this.socket.uncork();
  }

  private fault(callId: number, contextId: number, status: number, flags = 0, versionMinor = 0): void {
    this.send([faultPdu(callId, status, versionMinor, contextId, flags)]);
  }

  /** Sends what is queued, then closes: the end of the connection after a refusal. */
  private closeAfterSend(why: string): void {
    if (this.isClosed || this.closing) return;
    // Stop reading and end gracefully: destroying a socket whose client is still sending resets
    // it, and the client's kernel then drops our last PDU (the fault saying why) unread. What was
    // held for this connection's unfinished input is released now; the socket goes for good when
    // the client closes its side, or after a short grace.
    this.closing = true;
    this.releasePending();
    this.log.debug({ why }, 'closing connection');
    this.socket.pause();
    this.socket.end();
    setTimeout(() => {
      this.socket.destroy();
    }, 2000).unref();
  }

  /** The one fatal-error path: a log line, a fault when the call can be named, and the connection closes. */
  private fatal(err: unknown, frag: Buffer | null): void {
    const msg = err instanceof Error ? err.message : String(err);
    this.host.limitLog.warn('protocol-error', { remote: this.site.remote, error: msg }, 'protocol error; closing the connection');
    if (frag && frag.length >= HEADER_SIZE) {
      try {
        const h = parseHeader(frag);
        if (h.ptype === PType.REQUEST) this.fault(h.callId, 0, FaultStatus.PROTO_ERROR, PFC.DID_NOT_EXECUTE);
      } catch {
        // not even a header: just close
      }
    }
    this.closeAfterSend(msg);
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.lastActivity = Date.now();
    let frags: Buffer[];
    try {
      frags = this.deframer.push(chunk);
    } catch (err) {
      this.fatal(err, null);
      return;
    }
    if (this.deframer.bufferedBytes === 0) this.partialFrameSince = null;
    else this.partialFrameSince ??= this.lastActivity;
    if (this.waiting) {
      for (const f of frags) this.enqueue(f);
    } else {
      for (let i = 0; i < frags.length; i++) {
        const f = frags[i];
        if (!f || this.isClosed || this.closing) return;
        this.process(f);
        if (this.waiting) {
          for (let j = i + 1; j < frags.length; j++) {
            const rest = frags[j];
            if (rest) this.enqueue(rest);
          }
          break;
        }
      }
    }
    this.account();
  }

  /** Drops what waits for processing and gives its bytes back to the server-wide budget. */
  private releasePending(): void {
    this.queue = null;
    this.queuedBytes = 0;
    this.host.pending.update(this.heldBytes, 0);
    this.heldBytes = 0;
  }

  private enqueue(f: Buffer): void {
    (this.queue ??= []).push(f);
    this.queuedBytes += f.length;
  }

  /**
   * Reports what the connection holds for unfinished input to the server-wide budget; a
   * connection that would take it past the limit is refused and closed (the others are not).
   */
  private account(): void {
    if (this.isClosed || this.closing) return;
    const now = this.deframer.bufferedBytes + (this.reassemblerInstance?.heldBytes ?? 0) + this.queuedBytes;
    if (now === this.heldBytes) return;
    if (!this.host.pending.update(this.heldBytes, now)) {
      this.host.limitLog.warn('pending-bytes', { remote: this.site.remote, holds: now, used: this.host.pending.used, max: this.host.pending.max }, 'unfinished input of all clients would exceed its budget; closing this connection');
      // The fault names the call asking for more: the fragment still arriving, else the last one read.
      const callId = this.deframer.partialCallId() ?? this.lastRequestCallId;
      if (callId !== null) this.fault(callId, 0, FaultStatus.SERVER_TOO_BUSY, PFC.DID_NOT_EXECUTE);
      this.closeAfterSend('pending-bytes budget');
      return;
    }
    this.heldBytes = now;
  }

  /** Runs one fragment; when it has to wait (an auth step), stops reading until it is done. */
  private process(f: Buffer): void {
    let pending: Promise<void> | undefined;
    try {
      const h = parseHeader(f);
      if (h.bigEndian) {
        this.refuseBigEndian(h);
        return;
      }
      const { pdu, layout } = parseFragment(f);
      pending = this.dispatch(pdu, layout);
    } catch (err) {
      this.fatal(err, f);
      return;
    }
    if (!pending) return;
    this.waiting = true;
    this.socket.pause();
    pending
      .catch((err: unknown) => {
        this.fatal(err, f);
      })
      .finally(() => {
        this.waiting = false;
        if (this.isClosed) return;
        this.socket.resume();
        this.drain();
      });
  }

  private drain(): void {
    while (!this.waiting && !this.isClosed && !this.closing) {
      const f = this.queue?.shift();
      if (!f) {
        this.queue = null;
        break;
      }
      this.queuedBytes -= f.length;
      this.process(f);
    }
    this.account();
  }

  /**
   * A big-endian PDU (its header read in its own byte order): a bind gets bind_nak "user data not
   * readable", a request fault nca_s_unsupported_type (not executed); anything else closes.
   */
  private refuseBigEndian(h: Header): void {
    this.host.limitLog.warn('big-endian', { remote: this.site.remote, ptype: h.ptype, callId: h.callId }, 'a big-endian PDU refused (only little-endian NDR is served)');
    if (h.ptype === PType.BIND && !this.neg.bound) {
      this.send([bindNakPdu(h.callId, RejectReason.USER_DATA_NOT_READABLE)]);
      return;
    }
    if (h.ptype === PType.REQUEST && this.neg.bound) {
      this.fault(h.callId, 0, FaultStatus.UNSUPPORTED_TYPE, PFC.DID_NOT_EXECUTE);
      return;
    }
    if (h.ptype === PType.ALTER_CONTEXT) this.fault(h.callId, 0, FaultStatus.UNSUPPORTED_TYPE, PFC.DID_NOT_EXECUTE);
    this.closeAfterSend('big-endian PDU');
  }

  private dispatch(p: Pdu, layout: FragmentLayout): Promise<void> | undefined {
    switch (p.ptype) {
      case PType.BIND:
        return this.settle(this.neg.bind(p));
      case PType.ALTER_CONTEXT:
        if (!this.neg.bound) throw new DecodeError('alter_context before bind');
        return this.settle(this.neg.alterContext(p));
      case PType.AUTH3:
        if (!this.neg.bound) throw new DecodeError('auth3 before bind');
        return this.settle(this.neg.auth3(p));
      case PType.REQUEST:
        if (!this.neg.bound) throw new DecodeError('request before bind');
        this.onRequest(p, layout);
        return undefined;
      case PType.CO_CANCEL: {
        const call = this.calls.get(p.callId);
        if (call && !call.done) {
          call.done = true;
          call.cancel();
          this.calls.delete(p.callId);
          this.fault(p.callId, 0, FaultStatus.CANCEL);
        }
        return undefined;
      }
      case PType.ORPHANED: {
        const call = this.calls.get(p.callId);
        if (call) {
          call.done = true;
          call.cancel();
          this.calls.delete(p.callId);
        }
        this.reassemblerInstance?.drop(p.callId);
        this.partialSessionsInstance?.delete(p.callId);
        // We never close on orphaned: with KeepConnectionOnOrphan granted the client keeps the
        // connection, without it the client closes it itself (MS-RPCE §3.3.1.5.10).
        return undefined;
      }
      case PType.SHUTDOWN:
        return undefined;
      default:
        throw new DecodeError(`unexpected PDU type ${p.ptype} from a client`);
    }
  }

  /** Sends a bind-phase outcome now, or when its auth step is done. */
  private settle(o: Outcome | Promise<Outcome>): Promise<void> | undefined {
    if (!(o instanceof Promise)) {
      this.apply(o);
      return undefined;
    }
    return o.then((r) => {
      this.apply(r);
    });
  }

  private apply(o: Outcome): void {
    if (this.isClosed) return;
    if (this.neg.bound && this.bindTimer) {
      clearTimeout(this.bindTimer);
      this.bindTimer = null;
    }
    if (o.reply) this.send([o.reply]);
    if (o.fatal !== null) {
      this.host.limitLog.warn('bind-refused', { remote: this.site.remote, error: o.fatal }, 'bind phase refused; closing the connection');
      this.closeAfterSend(o.fatal);
    }
  }

  private onRequest(frag: RequestPdu, layout: FragmentLayout): void {
    this.lastRequestCallId = frag.callId;
    let session: AuthSession | null;
    try {
      session = unprotectRequest(this.neg, frag, layout);
    } catch (err) {
      if (!(err instanceof ProtectionError)) throw err;
      this.host.limitLog.warn('request-refused', { remote: this.site.remote, callId: frag.callId, error: err.message }, 'request refused by the security layer; closing the connection');
      this.fault(frag.callId, frag.contextId, err.status, PFC.DID_NOT_EXECUTE, frag.versionMinor);
      this.closeAfterSend(err.message);
      return;
    }
    const whole = (frag.flags & (PFC.FIRST_FRAG | PFC.LAST_FRAG)) === (PFC.FIRST_FRAG | PFC.LAST_FRAG) && this.reassemblerInstance === null;
    if (!whole) {
      // Every fragment of a request comes on the same security context (MS-RPCE §2.2.2.11).
      this.partialSessionsInstance ??= new Map();
      const partialSessions = this.partialSessionsInstance;
      if ((frag.flags & PFC.FIRST_FRAG) !== 0) partialSessions.set(frag.callId, session);
      else if (partialSessions.has(frag.callId) && partialSessions.get(frag.callId) !== session) throw new DecodeError(`call ${frag.callId}: fragments on different security contexts`);
      if ((frag.flags & PFC.LAST_FRAG) !== 0) partialSessions.delete(frag.callId);
    }
    const p = whole ? frag : this.reassembler.push(frag);
    if (!p) return;
    const iface = this.neg.contexts.get(p.contextId);
    if (!iface) {
      this.fault(p.callId, p.contextId, FaultStatus.UNK_IF, PFC.DID_NOT_EXECUTE);
      return;
    }
    if (this.calls.has(p.callId)) throw new DecodeError(`call_id ${p.callId} is already in progress`);
    if (this.calls.size > 0 && !this.neg.concMpx) {
      // Without PFC_CONC_MPX a client may have one call at a time per connection (as Samba
      // enforces, capture 07b); concurrent calls belong on another connection of the association.
      throw new DecodeError('a second concurrent call without PFC_CONC_MPX');
    }
    if (this.calls.size >= this.host.limits.maxCallsPerConnection) {
      this.host.limitLog.warn('calls', { remote: this.site.remote, max: this.host.limits.maxCallsPerConnection }, 'too many calls in flight on one connection');
      this.fault(p.callId, p.contextId, FaultStatus.SERVER_TOO_BUSY, PFC.DID_NOT_EXECUTE);
      return;
    }
    let stub = p.stub;
    if (session) {
      const vt = checkVerificationTrailer(stub, {
        ptype: PType.REQUEST,
        drep: layout.bytes.subarray(4, 8),
        callId: p.callId,
        contextId: p.contextId,
        opnum: p.opnum,
        abstract: { uuid: iface.uuid, version: iface.versionMajor, minor: iface.versionMinor },
        transfer: NDR20,
        clientHeaderSigning: this.neg.clientHeaderSigning,
      });
      if (vt.mismatch !== null) {
        this.host.limitLog.warn('verification-trailer', { remote: this.site.remote, callId: p.callId, error: vt.mismatch }, 'request refused: its verification trailer does not match');
        this.fault(p.callId, p.contextId, FaultStatus.ACCESS_DENIED, PFC.DID_NOT_EXECUTE);
        return;
      }
      stub = stub.subarray(0, vt.stubEnd);
    }
    const op = iface.ops.get(p.opnum);
    if (!op) {
      this.fault(p.callId, p.contextId, FaultStatus.OP_RNG_ERROR, PFC.DID_NOT_EXECUTE);
      return;
    }
    const call = new Call(this, this.site, p, session);
    const refusal = iface.authorize?.(call.auth) ?? null;
    if (refusal !== null) {
      this.host.limitLog.warn(`access-denied/${refusal.code}`, { remote: this.site.remote, iface: iface.name, opnum: p.opnum, why: refusal.message }, 'call refused: access denied');
      this.fault(p.callId, p.contextId, FaultStatus.ACCESS_DENIED, PFC.DID_NOT_EXECUTE);
      return;
    }
    this.calls.set(p.callId, call);
    let result: Buffer | Promise<Buffer> | typeof DEFERRED;
    try {
      result = op(stub, call);
    } catch (err) {
      this.finish(call, null, err);
      return;
    }
    if (result === DEFERRED) return;
    if (Buffer.isBuffer(result)) {
      this.finish(call, result, null);
      return;
    }
    // The closures hold the Call only, not the request PDU: a long-poll must not keep the
    // request's read buffer alive for minutes.
    result.then(
      (stub) => {
        this.finish(call, stub, null);
      },
      (err: unknown) => {
        this.finish(call, null, err);
      },
    );
  }

  /** Sends the call's response (or the fault for `err`), once. */
  finish(call: Call, stub: Buffer | null, err: unknown): void {
    if (call.done) return;
    call.done = true;
    this.calls.delete(call.callId);
    this.lastActivity = Date.now();
    if (!stub) {
      this.send([this.faultFor(err, call)]);
      return;
    }
    const s = call.session;
    if (s && signsPdus(s.level)) {
      let frags: Buffer[];
      try {
        frags = protectResponse(this.neg, s, call.callId, call.contextId, stub, call.versionMinor);
      } catch (e) {
        this.log.error({ err: e, mech: s.ctx.mechanism }, 'cannot protect a response; closing the connection');
        this.destroy('response protection failed');
        return;
      }
      this.send(frags);
    } else this.send(fragmentResponse(call.callId, call.contextId, stub, this.neg.maxXmit, call.versionMinor));
  }

  private faultFor(err: unknown, p: Call): Buffer {
    let status: number;
    if (err instanceof RpcFault) status = err.status;
    else if (err instanceof DecodeError) {
      status = FaultStatus.NDR_FAULT;
      this.log.info({ opnum: p.opnum, error: err.message }, 'malformed request stub');
    } else {
      // A handler's own failure (a bug, the store unreadable): the client learns only that the call
      // failed (nca_s_fault_unspec, RPC_S_CALL_FAILED); the log has the error.
      status = FaultStatus.UNSPEC;
      this.log.error({ err, opnum: p.opnum }, 'call failed');
    }
    return faultPdu(p.callId, status, p.versionMinor, p.contextId);
  }
}

/**
 * What the negotiator needs of its connection, as methods on one small object instead of a set of
 * closures per connection (tens of thousands of connections: each closure is memory).
 */
class NegotiatorSide implements NegotiatorDeps {
  private readonly c: Connection;

  constructor(c: Connection) {
    this.c = c;
  }

  findInterface(s: SyntaxId): RpcInterfaceDef | undefined {
    return this.c.connectionHost.findInterface(s);
  }

  associate(id: number): number | null {
    return this.c.associate(id);
  }

  leave(id: number): void {
    this.c.connectionHost.leave(id, this.c);
  }

  admit(principal: string): string | null {
    return this.c.admit(principal);
  }

  get security(): SecurityContextFactory | null {
    return this.c.connectionHost.security;
  }

  get maxSessions(): number {
    return this.c.connectionHost.limits.maxAuthContextsPerConnection;
  }

  get secondaryAddress(): string {
    return String(this.c.localPort);
  }

  // Not the connection's child logger: tens of thousands of clients each authenticate once, and
  // a child logger per connection would stay in memory for the connection's life.
  log(): NegotiationLog {
    return this.c.bindingLog;
  }
}
