// The connection-oriented DCE/RPC server over TCP (ncacn_ip_tcp): the listener, its connections
// and their association groups. What happens on one connection is in connection.ts; binds and
// security negotiation in negotiation.ts; per-PDU protection in protection.ts.

import net from 'node:net';
import type { Logger } from 'pino';
import type { SecurityContextFactory } from '../auth/context.ts';
import { Connection, type ConnectionHost, type RpcLimits } from './connection.ts';
import type { RpcInterfaceDef } from './interface.ts';
import { LimitLog } from './limit-log.ts';
import type { SyntaxId } from './pdu.ts';

export type { RpcLimits } from './connection.ts';

export interface RpcServerOptions {
  interfaces: RpcInterfaceDef[];
  logger: Logger;
  limits: RpcLimits;
  /** Acceptor contexts for authenticated binds; absent or null: such binds get a bind_nak. */
  security?: SecurityContextFactory | null;
}

interface Association {
  id: number;
  connections: Set<Connection>;
}

export class RpcServer implements ConnectionHost {
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

  join(id: number, c: Connection): number | null {
    let a: Association | undefined;
    if (id !== 0) {
      a = this.associations.get(id);
      if (!a) return null;
    } else {
      // Association group ids are opaque to clients; sequential ids are fine (no secrets in them).
      a = { id: this.nextAssoc++, connections: new Set() };
      this.associations.set(a.id, a);
    }
    a.connections.add(c);
    return a.id;
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
