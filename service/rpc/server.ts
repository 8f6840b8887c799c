// The connection-oriented DCE/RPC server over TCP (ncacn_ip_tcp): the listener, its connections
// and their association groups. What happens on one connection is in connection.ts; binds and
// security negotiation in negotiation.ts; per-PDU protection in protection.ts.

import crypto from 'node:crypto';
import net from 'node:net';
import type { Logger } from 'pino';
import type { SecurityContextFactory } from '../auth/context.ts';
import { ByteBudget } from './byte-budget.ts';
import { Connection, type ConnectionHost, type RpcLimits } from './connection.ts';
import { connectionsAllowedBy, openFilesLimit } from './fd-limit.ts';
import type { RpcInterfaceDef } from './interface.ts';
import { LimitLog } from './limit-log.ts';
import { SmallSet } from './small-collections.ts';
import type { SyntaxId } from './pdu.ts';

export type { RpcLimits } from './connection.ts';

export interface RpcServerOptions {
  interfaces: RpcInterfaceDef[];
  logger: Logger;
  limits: RpcLimits;
  /** Acceptor contexts for authenticated binds; absent or null: such binds get a bind_nak. */
  security?: SecurityContextFactory | null;
  /**
   * This server's share of the connections the process's descriptor limit allows (the witness
   * and the endpoint mapper share one process). Default 1.
   */
  connectionShare?: number;
  /** The server-wide budget of unfinished input; servers of one process may share one. */
  pending?: ByteBudget;
}

interface Association {
  id: number;
  connections: SmallSet<Connection>;
  /** The client host that created it: only connections from there may join. */
  host: string;
  /** The first principal authenticated on it (null until one is): only it may use it. */
  principal: string | null;
}

export class RpcServer implements ConnectionHost {
  readonly opts: RpcServerOptions;
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  readonly associations = new Map<number, Association>();
  private nextConn = 1;
  readonly limitLog: LimitLog;
  readonly pending: ByteBudget;
  /** Connections this server accepts: the configured limit, or less when descriptors are fewer. */
  readonly maxConnections: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(opts: RpcServerOptions) {
    this.opts = opts;
    this.limitLog = new LimitLog(opts.logger);
    this.pending = opts.pending ?? new ByteBudget(opts.limits.maxPendingBytes);
    const allowed = connectionsAllowedBy(openFilesLimit());
    const share = opts.connectionShare ?? 1;
    this.maxConnections = allowed === null ? opts.limits.maxConnections : Math.max(1, Math.min(opts.limits.maxConnections, Math.floor(allowed * share)));
    if (this.maxConnections < opts.limits.maxConnections) {
      opts.logger.info({ configured: opts.limits.maxConnections, maxConnections: this.maxConnections, openFilesLimit: openFilesLimit() }, 'connection limit lowered to what the descriptor limit allows');
    }
    this.server = net.createServer({ noDelay: true }, (s) => {
      this.accept(s);
    });
    // One sweep for every connection's partial and idle timeouts (no timer per connection).
    const every = Math.max(250, Math.min(5000, Math.floor(Math.min(opts.limits.partialTimeoutMs, opts.limits.idleTimeoutMs) / 4)));
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const c of this.connections) c.sweep(now);
    }, every);
    this.sweeper.unref();
  }

  get limits(): RpcLimits {
    return this.opts.limits;
  }

  get logger(): Logger {
    return this.opts.logger;
  }

  get security(): SecurityContextFactory | null {
    return this.opts.security ?? null;
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
    clearInterval(this.sweeper);
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
      for (const c of this.connections) c.destroy('server shutting down');
    });
  }

  private accept(socket: net.Socket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    if (this.connections.size >= this.maxConnections && !this.evictIdle(remote)) {
      this.limitLog.warn('connections', { remote, max: this.maxConnections }, 'connection limit reached and no idle connection to close; refusing a connection');
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

  /**
   * At the limit, the connection idle longest makes room: one with no call in flight (a client
   * waiting for a notification has its AsyncNotify in flight and is never chosen), unbound ones
   * first. The Set keeps connections oldest first, so the scan usually stops early.
   */
  private evictIdle(forRemote: string): boolean {
    let victim: Connection | null = null;
    for (const c of this.connections) {
      if (!c.idle) continue;
      if (!c.bound) {
        victim = c;
        break;
      }
      if (victim === null || c.lastActivity < victim.lastActivity) victim = c;
    }
    if (!victim) return false;
    this.limitLog.warn('connections', { remote: forRemote, max: this.maxConnections }, 'connection limit reached; closing the longest-idle connection to make room');
    victim.destroy('evicted for a new connection at the limit');
    this.connections.delete(victim);
    return true;
  }

  /** Association group ids are random (MS-RPCE leaves them to the server): not to be guessed. */
  private newAssociationId(): number {
    for (;;) {
      // 30 bits: V8 keeps such integers unboxed (a 32-bit one is a 16-byte heap number in each
      // of the four objects per connection that hold it).
      const id = crypto.randomInt(1, 0x40000000);
      if (!this.associations.has(id)) return id;
    }
  }

  join(id: number, c: Connection, remoteHost: string): number | null {
    let a: Association | undefined;
    if (id !== 0) {
      a = this.associations.get(id);
      // Only the client that made an association may add connections to it (MS-RPCE
      // §3.3.1.5.7 leaves the check to the server): the same host, and once authenticated the
      // same principal (admit).
      if (!a || a.host !== remoteHost) return null;
    } else {
      a = { id: this.newAssociationId(), connections: new SmallSet(), host: remoteHost, principal: null };
      this.associations.set(a.id, a);
    }
    a.connections.add(c);
    return a.id;
  }

  admit(id: number, principal: string): string | null {
    const a = this.associations.get(id);
    if (!a) return null;
    const p = principal.toLowerCase();
    if (a.principal === null) {
      a.principal = p;
      return null;
    }
    return a.principal === p ? null : `association ${id} belongs to another principal`;
  }

  leave(id: number, c: Connection): void {
    const a = this.associations.get(id);
    if (!a) return;
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
