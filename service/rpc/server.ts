// The connection-oriented DCE/RPC server over TCP (ncacn_ip_tcp): binds and presentation
// contexts, association groups, concurrent calls, request reassembly and response
// fragmentation, cancel and orphan, faults, and limits. One Connection per socket; an
// Association groups the connections that share context handles.

import net from 'node:net';
import type { Logger } from 'pino';
import { RpcDecodeError } from './errors.ts';
import { fragmentResponse, Reassembler } from './fragments.ts';
import { Deframer } from './framing.ts';
import { DEFERRED, RpcFault, type CallContext, type RpcInterfaceDef } from './interface.ts';
import {
  BIND_TIME_FEATURE_PREFIX,
  BindTimeFeature,
  ContextResult,
  FaultStatus,
  HEADER_SIZE,
  parseHeader,
  parsePdu,
  PFC,
  ProviderReason,
  PType,
  RejectReason,
  serializePdu,
  type BindPdu,
  type ContextResultItem,
  type Pdu,
  type RequestPdu,
  type SyntaxId,
} from './pdu.ts';

/** NDR 2.0, the only transfer syntax we speak (Windows always proposes it, MS-RPCE <106>). */
export const NDR20: SyntaxId = { uuid: '8a885d04-1ceb-11c9-9fe8-08002b104860', version: 2, minor: 0 };
const NULL_SYNTAX: SyntaxId = { uuid: '00000000-0000-0000-0000-000000000000', version: 0, minor: 0 };

/** Fragment sizes we negotiate (Samba's tested values: at most 5840, as Windows uses). */
const MAX_FRAG = 5840;
const MIN_FRAG = 1432; // MS-RPCE: max_xmit_frag/max_recv_frag must be at least 1432

export interface RpcLimits {
  maxConnections: number;
  maxCallsPerConnection: number;
  /** Largest fragment accepted from a client (the deframer refuses longer ones). */
  maxFragment: number;
  /** Largest reassembled request stub. */
  maxRequestBytes: number;
  /** A connection that has not bound within this time is closed. */
  bindTimeoutMs: number;
}

export interface RpcServerOptions {
  name: string;
  interfaces: RpcInterfaceDef[];
  logger: Logger;
  limits: RpcLimits;
}

interface Association {
  id: number;
  connections: Set<Connection>;
}

/**
 * Deferred replies made while other code runs (one cluster event completing 10,000 long-polls)
 * are written together right after it, in one tight loop of socket writes.
 */
class Outbox {
  private calls: Call[] = [];
  private stubs: Buffer[] = [];
  private scheduled = false;

  push(call: Call, stub: Buffer): void {
    this.calls.push(call);
    this.stubs.push(stub);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.flush();
      });
    }
  }

  private flush(): void {
    const calls = this.calls;
    const stubs = this.stubs;
    this.calls = [];
    this.stubs = [];
    this.scheduled = false;
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i];
      const s = stubs[i];
      if (c && s) c.finishWith(s);
    }
  }
}
const outbox = new Outbox();

/** A call in progress; it is also the handler's CallContext (one object per call). */
class Call implements CallContext {
  readonly association: number;
  readonly connection: number;
  readonly callId: number;
  readonly opnum: number;
  readonly remote: string;
  readonly local: string;
  readonly localAddress: string;
  readonly localPort: number;
  readonly object: string | null;
  readonly contextId: number;
  readonly versionMinor: number;
  /** The response (or fault) was sent, or the call was dropped. */
  done = false;
  cancelled = false;
  private hook: (() => void) | null = null;
  private readonly conn: Connection;

  constructor(conn: Connection, c: { association: number; connection: number; remote: string; local: string; localAddress: string; localPort: number }, p: RequestPdu) {
    this.conn = conn;
    this.association = c.association;
    this.connection = c.connection;
    this.remote = c.remote;
    this.local = c.local;
    this.localAddress = c.localAddress;
    this.localPort = c.localPort;
    this.callId = p.callId;
    this.opnum = p.opnum;
    this.object = p.object;
    this.contextId = p.contextId;
    this.versionMinor = p.versionMinor;
  }

  onCancel(fn: (() => void) | null): void {
    this.hook = fn;
    if (fn && this.cancelled) this.cancel();
  }

  reply(stub: Buffer): void {
    outbox.push(this, stub);
  }

  fail(err: unknown): void {
    this.conn.finish(this, null, err);
  }

  finishWith(stub: Buffer): void {
    this.conn.finish(this, stub, null);
  }

  /** Cancel, orphan or connection loss: run the handler's hook once. */
  cancel(): void {
    this.cancelled = true;
    const f = this.hook;
    this.hook = null;
    f?.();
  }
}

/** One log line per kind per interval, with how many were suppressed. */
class LimitLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  private readonly logger: Logger;
  constructor(logger: Logger) {
    this.logger = logger;
  }
  warn(kind: string, obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const e = this.last.get(kind);
    if (e && now - e.at < 1000) {
      e.suppressed++;
      return;
    }
    this.last.set(kind, { at: now, suppressed: 0 });
    this.logger.warn({ ...obj, limit: kind, suppressedSinceLast: e?.suppressed ?? 0 }, msg);
  }
}

export class RpcServer {
  readonly opts: RpcServerOptions;
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  readonly associations = new Map<number, Association>();
  private nextAssoc = 0x1234;
  private nextConn = 1;
  readonly limitLog: LimitLog;

  constructor(opts: RpcServerOptions) {
    this.opts = opts;
    this.limitLog = new LimitLog(opts.logger);
    this.server = net.createServer({ noDelay: true }, (s) => {
      this.accept(s);
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  listen(host: string, port: number): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port, backlog: 4096 }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  address(): net.AddressInfo | null {
    const a = this.server.address();
    return typeof a === 'object' ? a : null;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
      for (const c of this.connections) c.destroy('server shutting down');
    });
  }

  private accept(socket: net.Socket): void {
    if (this.connections.size >= this.opts.limits.maxConnections) {
      this.limitLog.warn('connections', { remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, max: this.opts.limits.maxConnections }, 'connection limit reached; refusing a connection');
      socket.destroy();
      return;
    }
    const c = new Connection(this, socket, this.nextConn++);
    this.connections.add(c);
    socket.once('close', () => {
      this.connections.delete(c);
      c.closed();
    });
  }

  newAssociation(): Association {
    // Association group ids are opaque to clients; sequential ids are fine (no secrets in them).
    const a: Association = { id: this.nextAssoc++, connections: new Set() };
    this.associations.set(a.id, a);
    return a;
  }

  leave(a: Association, c: Connection): void {
    a.connections.delete(c);
    if (a.connections.size > 0) return;
    this.associations.delete(a.id);
    for (const i of this.opts.interfaces) {
      try {
        i.rundown?.(a.id);
      } catch (err) {
        this.opts.logger.error({ err, association: a.id, iface: i.name }, 'context handle rundown failed');
      }
    }
  }

  findInterface(s: SyntaxId): RpcInterfaceDef | undefined {
    return this.opts.interfaces.find((i) => i.uuid === s.uuid && i.versionMajor === s.version && s.minor <= i.versionMinor);
  }
}

class Connection {
  private readonly server: RpcServer;
  private readonly socket: net.Socket;
  readonly id: number;
  private readonly deframer: Deframer;
  private reassemblerInstance: Reassembler | null = null;
  private readonly contexts = new Map<number, RpcInterfaceDef>();
  private readonly calls = new Map<number, Call>();
  private association: Association | null = null;
  private maxXmit = MAX_FRAG;
  private concMpx = false;
  private keepOnOrphan = false;
  private bindTimer: NodeJS.Timeout | null;
  private isClosed = false;
  private readonly remote: string;
  private readonly local: string;
  private readonly localAddress: string;
  private readonly localPort: number;
  private logInstance: Logger | null = null;

  constructor(server: RpcServer, socket: net.Socket, id: number) {
    this.server = server;
    this.socket = socket;
    this.id = id;
    const lim = server.opts.limits;
    this.deframer = new Deframer(lim.maxFragment);
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.localAddress = socket.localAddress ?? '0.0.0.0';
    this.localPort = socket.localPort ?? 0;
    this.local = `${this.localAddress}:${this.localPort}`;
    socket.setKeepAlive(true, 60_000);
    this.bindTimer = setTimeout(() => {
      this.server.limitLog.warn('bind-timeout', { remote: this.remote, ms: lim.bindTimeoutMs }, 'connection did not bind in time; closing it');
      this.destroy('no bind');
    }, lim.bindTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      this.onData(chunk);
    });
    socket.on('error', (err) => {
      this.log.debug({ err }, 'socket error');
    });
  }

  // Created on first use: with tens of thousands of quiet connections, a child logger and a
  // reassembly table each would cost memory for nothing.
  private get log(): Logger {
    this.logInstance ??= this.server.opts.logger.child({ conn: this.id, remote: this.remote });
    return this.logInstance;
  }

  private get reassembler(): Reassembler {
    this.reassemblerInstance ??= new Reassembler(this.server.opts.limits.maxRequestBytes);
    return this.reassemblerInstance;
  }

  destroy(why: string): void {
    if (this.isClosed) return;
    this.log.debug({ why }, 'closing connection');
    this.socket.destroy();
  }

  /** The socket is gone: abort its calls and leave the association (maybe running it down). */
  closed(): void {
    this.isClosed = true;
    if (this.bindTimer) clearTimeout(this.bindTimer);
    for (const call of this.calls.values()) call.cancel();
    this.calls.clear();
    if (this.association) this.server.leave(this.association, this);
    this.association = null;
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

  private fault(callId: number, contextId: number, status: number, flags = 0): void {
    this.send([serializePdu({ ptype: PType.FAULT, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG | flags, callId, allocHint: 0, contextId, cancelCount: 0, faultFlags: 0, status, stub: Buffer.alloc(0) })]);
  }

  /** The one fatal-error path: a log line, a fault when the call can be named, and the connection closes. */
  private fatal(err: unknown, frag: Buffer | null): void {
    const msg = err instanceof Error ? err.message : String(err);
    this.server.limitLog.warn('protocol-error', { remote: this.remote, error: msg }, 'protocol error; closing the connection');
    if (frag && frag.length >= HEADER_SIZE) {
      try {
        const h = parseHeader(frag);
        if (h.ptype === PType.REQUEST) this.fault(h.callId, 0, FaultStatus.PROTO_ERROR, PFC.DID_NOT_EXECUTE);
      } catch {
        // not even a header: just close
      }
    }
    this.socket.end();
    this.destroy(msg);
  }

  private onData(chunk: Buffer): void {
    let frags: Buffer[];
    try {
      frags = this.deframer.push(chunk);
    } catch (err) {
      this.fatal(err, null);
      return;
    }
    for (const f of frags) {
      if (this.isClosed) return;
      let pdu: Pdu;
      try {
        pdu = parsePdu(f);
      } catch (err) {
        this.fatal(err, f);
        return;
      }
      try {
        this.dispatch(pdu);
      } catch (err) {
        this.fatal(err, f);
        return;
      }
    }
  }

  private dispatch(p: Pdu): void {
    switch (p.ptype) {
      case PType.BIND:
        this.onBind(p);
        return;
      case PType.ALTER_CONTEXT:
        if (!this.association) throw new RpcDecodeError('alter_context before bind');
        this.onAlterContext(p);
        return;
      case PType.REQUEST:
        if (!this.association) throw new RpcDecodeError('request before bind');
        this.onRequest(p);
        return;
      case PType.CO_CANCEL: {
        const call = this.calls.get(p.callId);
        if (call && !call.done) {
          call.done = true;
          call.cancel();
          this.calls.delete(p.callId);
          this.fault(p.callId, 0, FaultStatus.CANCEL);
        }
        return;
      }
      case PType.ORPHANED: {
        const call = this.calls.get(p.callId);
        if (call) {
          call.done = true;
          call.cancel();
          this.calls.delete(p.callId);
          this.reassemblerInstance?.drop(p.callId);
        }
        // Without KeepConnectionOnOrphan the client closes the connection itself (MS-RPCE §3.3.1.5.10).
        return;
      }
      case PType.AUTH3:
        // Only sent after an authenticated bind, which this server does not offer yet.
        throw new RpcDecodeError('auth3 without an authenticated bind');
      case PType.SHUTDOWN:
        return;
      default:
        throw new RpcDecodeError(`unexpected PDU type ${p.ptype} from a client`);
    }
  }

  /** Results for each proposed presentation context (MS-RPCE §3.3.1.5.6), in order. */
  private negotiate(p: BindPdu): ContextResultItem[] {
    return p.contexts.map((c): ContextResultItem => {
      const feature = c.transfers.find((t) => t.uuid.startsWith(BIND_TIME_FEATURE_PREFIX));
      const iface = this.server.findInterface(c.abstract);
      const ndr = c.transfers.find((t) => t.uuid === NDR20.uuid && t.version === NDR20.version);
      if (iface && ndr) {
        const known = this.contexts.get(c.contextId);
        if (known && known !== iface) return { result: ContextResult.PROVIDER_REJECTION, reason: ProviderReason.NOT_SPECIFIED, transfer: NULL_SYNTAX };
        this.contexts.set(c.contextId, iface);
        return { result: ContextResult.ACCEPTANCE, reason: 0, transfer: NDR20 };
      }
      if (feature) {
        // The flags the client offers are in the syntax's last 8 bytes (uuid node field).
        const offered = parseInt(feature.uuid.slice(-12, -10), 16);
        const granted = offered & BindTimeFeature.KEEP_CONNECTION_ON_ORPHAN;
        if (this.association === null || p.ptype === PType.BIND) this.keepOnOrphan = granted !== 0;
        return { result: ContextResult.NEGOTIATE_ACK, reason: granted, transfer: NULL_SYNTAX };
      }
      if (!iface) return { result: ContextResult.PROVIDER_REJECTION, reason: ProviderReason.ABSTRACT_SYNTAX_NOT_SUPPORTED, transfer: NULL_SYNTAX };
      return { result: ContextResult.PROVIDER_REJECTION, reason: ProviderReason.PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED, transfer: NULL_SYNTAX };
    });
  }

  private nak(callId: number, reason: number): void {
    this.send([serializePdu({ ptype: PType.BIND_NAK, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId, reason, versions: [{ major: 5, minor: 0 }] })]);
  }

  private onBind(p: BindPdu): void {
    if (this.association) {
      this.nak(p.callId, RejectReason.NOT_SPECIFIED);
      return;
    }
    if (p.auth) {
      // Authentication arrives with its own issue; until then say so instead of pretending.
      this.log.info({ authType: p.auth.type, authLevel: p.auth.level }, 'authenticated bind refused: this witnessd runs with --auth none');
      this.nak(p.callId, RejectReason.AUTHENTICATION_TYPE_NOT_RECOGNIZED);
      return;
    }
    let assoc: Association | undefined;
    if (p.assocGroupId !== 0) {
      assoc = this.server.associations.get(p.assocGroupId);
      if (!assoc) {
        this.log.info({ assocGroupId: p.assocGroupId }, 'bind to an unknown association group refused');
        this.nak(p.callId, RejectReason.NOT_SPECIFIED);
        return;
      }
    }
    const results = this.negotiate(p);
    assoc ??= this.server.newAssociation();
    assoc.connections.add(this);
    this.association = assoc;
    if (this.bindTimer) clearTimeout(this.bindTimer);
    this.bindTimer = null;
    this.concMpx = (p.flags & PFC.CONC_MPX) !== 0;
    this.maxXmit = Math.max(MIN_FRAG, Math.min(p.maxRecvFrag, MAX_FRAG));
    const maxRecv = Math.max(MIN_FRAG, Math.min(p.maxXmitFrag, MAX_FRAG));
    this.send([
      serializePdu({
        ptype: PType.BIND_ACK,
        versionMinor: p.versionMinor,
        flags: PFC.FIRST_FRAG | PFC.LAST_FRAG | (this.concMpx ? PFC.CONC_MPX : 0),
        callId: p.callId,
        maxXmitFrag: this.maxXmit,
        maxRecvFrag: maxRecv,
        assocGroupId: assoc.id,
        secondaryAddress: String(this.socket.localPort ?? 0),
        results,
        auth: null,
      }),
    ]);
  }

  private onAlterContext(p: BindPdu): void {
    if (p.auth) {
      this.fault(p.callId, 0, FaultStatus.ACCESS_DENIED);
      return;
    }
    const results = this.negotiate(p);
    this.send([
      serializePdu({
        ptype: PType.ALTER_CONTEXT_RESP,
        versionMinor: p.versionMinor,
        flags: PFC.FIRST_FRAG | PFC.LAST_FRAG | (this.concMpx ? PFC.CONC_MPX : 0),
        callId: p.callId,
        maxXmitFrag: this.maxXmit,
        maxRecvFrag: this.maxXmit,
        assocGroupId: this.association?.id ?? 0,
        secondaryAddress: '',
        results,
        auth: null,
      }),
    ]);
  }

  private onRequest(frag: RequestPdu): void {
    if (frag.auth) throw new RpcDecodeError('authenticated request on an unauthenticated connection');
    const whole = (frag.flags & (PFC.FIRST_FRAG | PFC.LAST_FRAG)) === (PFC.FIRST_FRAG | PFC.LAST_FRAG) && this.reassemblerInstance === null;
    const p = whole ? frag : this.reassembler.push(frag);
    if (!p) return;
    const iface = this.contexts.get(p.contextId);
    if (!iface) {
      this.fault(p.callId, p.contextId, FaultStatus.UNK_IF, PFC.DID_NOT_EXECUTE);
      return;
    }
    if (this.calls.has(p.callId)) throw new RpcDecodeError(`call_id ${p.callId} is already in progress`);
    if (this.calls.size > 0 && !this.concMpx) {
      // Without PFC_CONC_MPX a client may have one call at a time per connection (as Samba
      // enforces, capture 07b); concurrent calls belong on another connection of the association.
      throw new RpcDecodeError('a second concurrent call without PFC_CONC_MPX');
    }
    if (this.calls.size >= this.server.opts.limits.maxCallsPerConnection) {
      this.server.limitLog.warn('calls', { remote: this.remote, max: this.server.opts.limits.maxCallsPerConnection }, 'too many calls in flight on one connection');
      this.fault(p.callId, p.contextId, FaultStatus.SERVER_TOO_BUSY, PFC.DID_NOT_EXECUTE);
      return;
    }
    const op = iface.ops.get(p.opnum);
    if (!op) {
      this.fault(p.callId, p.contextId, FaultStatus.OP_RNG_ERROR, PFC.DID_NOT_EXECUTE);
      return;
    }
    const call = new Call(
      this,
      { association: this.association?.id ?? 0, connection: this.id, remote: this.remote, local: this.local, localAddress: this.localAddress, localPort: this.localPort },
      p,
    );
    this.calls.set(p.callId, call);
    let result: Buffer | Promise<Buffer> | typeof DEFERRED;
    try {
      result = op(p.stub, call);
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
    if (stub) this.send(fragmentResponse(call.callId, call.contextId, stub, this.maxXmit, call.versionMinor));
    else this.send([this.faultFor(err, call)]);
  }

  private faultFor(err: unknown, p: Call): Buffer {
    let status: number;
    if (err instanceof RpcFault) status = err.status;
    else if (err instanceof RpcDecodeError) {
      status = FaultStatus.NDR_FAULT;
      this.log.info({ opnum: p.opnum, error: err.message }, 'malformed request stub');
    } else {
      status = FaultStatus.REMOTE_NO_MEMORY;
      this.log.error({ err, opnum: p.opnum }, 'call failed');
    }
    return serializePdu({ ptype: PType.FAULT, versionMinor: p.versionMinor, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId: p.callId, allocHint: 0, contextId: p.contextId, cancelCount: 0, faultFlags: 0, status, stub: Buffer.alloc(0) });
  }
}
