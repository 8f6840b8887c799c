// A client of winbindd's privileged socket, as Samba's own servers use it (libwbclient): the
// public socket `<winbindd socket directory>/pipe` tells the interface version and where the
// privileged socket is (`<state directory>/winbindd_privileged/pipe`, a directory only root and the
// winbindd_priv group may enter); PAM_AUTH_CRAP is answered only there.
//
// Budgets: at most `connections` requests at winbindd at once (one per connection: winbindd
// answers a connection's requests one by one), at most `maxQueue` waiting for a connection (more
// are refused at once, as WinbindBusy), and a deadline per request, waiting included. A request
// that misses its deadline closes its connection (the stream cannot be resynchronised); the next
// request opens a new one. A connection winbindd closed while idle (it drops idle clients when it
// has too many) is retried once on a fresh connection.

import path from 'node:path';
import type { Logger } from 'pino';
import { WinbindConnection, WinbindConnectionError } from './connection.ts';
import {
  CMD_INTERFACE_VERSION,
  commandsFor,
  decodeAuthCrap,
  decodeInterfaceVersion,
  decodeLookupSid,
  decodePrivPipeDir,
  encodeAuthCrap,
  encodeLookupSid,
  encodeSimpleRequest,
  Flag,
  isKnownVersion,
  WbFlag,
  KNOWN_INTERFACE_VERSIONS,
  type AuthCrapAnswer,
  type AuthCrapRequest,
  type Commands,
  type InterfaceVersion,
  type Response,
} from './protocol.ts';

export interface WinbindClientOptions {
  /** winbindd's socket directory (smb.conf's `winbindd socket directory`). */
  socketDir: string;
  logger: Logger;
  /** Requests at winbindd at once (connections to its privileged socket). Default 4. */
  connections?: number;
  /** Requests waiting for a connection beyond which new ones are refused. Default 256. */
  maxQueue?: number;
  /** Deadline of one request, waiting included. Default 5,000 ms. */
  timeoutMs?: number;
}

/** winbindd cannot be used this way (not running, another interface version, no access): use another path. */
export class WinbindUnsupported extends Error {}
/** The queue is full: refused without asking winbindd. */
export class WinbindBusy extends Error {}
/** No answer: winbindd is down, hung, or sent something we do not take. */
export class WinbindNoAnswer extends Error {}

interface Waiting {
  parts: Buffer[];
  resolve: (r: Response) => void;
  reject: (e: Error) => void;
  deadline: number;
  timer: NodeJS.Timeout;
  done: boolean;
  retried: boolean;
}

const CLIENT_NAME = 'witnessd';
/** Pause after a failed connect before the next attempt. */
const OPEN_PAUSE_MS = 100;

export class WinbindClient {
  readonly version: InterfaceVersion;
  readonly privPath: string;
  private readonly cmds: Commands;
  private readonly logger: Logger;
  private readonly maxConnections: number;
  private readonly maxQueue: number;
  private readonly timeoutMs: number;
  private readonly idle: WinbindConnection[] = [];
  private readonly all = new Set<WinbindConnection>();
  private opening = 0;
  private readonly queue: Waiting[] = [];
  private closed = false;
  /** After a failed connect, no new one before this (Date.now() ms). */
  private openBlockedUntil = 0;
  private openRetry: NodeJS.Timeout | null = null;
  /** Counters for status lines and the bench. */
  readonly stats = { requests: 0, refusedBusy: 0, timeouts: 0, reconnects: 0, retries: 0 };

  private constructor(version: InterfaceVersion, privPath: string, o: WinbindClientOptions, first: WinbindConnection) {
    this.version = version;
    this.cmds = commandsFor(version);
    this.privPath = privPath;
    this.logger = o.logger;
    this.maxConnections = o.connections ?? 4;
    this.maxQueue = o.maxQueue ?? 256;
    this.timeoutMs = o.timeoutMs ?? 5000;
    if (!Number.isInteger(this.maxConnections) || this.maxConnections < 1 || this.maxConnections > 64) throw new RangeError(`winbind: connections ${this.maxConnections} is not 1..64`);
    this.adopt(first);
  }

  /**
   * Asks winbindd's public socket for its interface version and the privileged socket's place, and
   * opens one privileged connection. Throws WinbindUnsupported with the reason when any step fails.
   */
  static async open(o: WinbindClientOptions): Promise<WinbindClient> {
    const timeoutMs = o.timeoutMs ?? 5000;
    const publicPath = path.join(o.socketDir, 'pipe');
    let pub: WinbindConnection;
    try {
      pub = await WinbindConnection.open(publicPath, timeoutMs);
    } catch (err) {
      throw new WinbindUnsupported(`winbindd's socket: ${(err as Error).message}`);
    }
    let version: InterfaceVersion;
    let privDir: string;
    try {
      const v = decodeInterfaceVersion(await pub.request([encodeSimpleRequest({ cmd: CMD_INTERFACE_VERSION, pid: process.pid, clientName: CLIENT_NAME, wbFlags: WbFlag.RECURSE })], timeoutMs));
      if (!isKnownVersion(v)) throw new WinbindUnsupported(`winbindd speaks interface version ${v}; this client knows ${KNOWN_INTERFACE_VERSIONS.join(' and ')}`);
      version = v;
      privDir = decodePrivPipeDir(await pub.request([encodeSimpleRequest({ cmd: commandsFor(v).privPipeDir, pid: process.pid, clientName: CLIENT_NAME, wbFlags: WbFlag.RECURSE })], timeoutMs));
    } catch (err) {
      if (err instanceof WinbindUnsupported) throw err;
      throw new WinbindUnsupported(`${publicPath}: ${(err as Error).message}`);
    } finally {
      pub.close();
    }
    const privPath = path.join(privDir, 'pipe');
    let first: WinbindConnection;
    try {
      first = await WinbindConnection.open(privPath, timeoutMs);
    } catch (err) {
      throw new WinbindUnsupported(`winbindd's privileged socket (root or the winbindd_priv group may use it): ${(err as Error).message}`);
    }
    // The privileged socket must speak the same version (it is the same winbindd, but make sure).
    try {
      const v = decodeInterfaceVersion(await first.request([encodeSimpleRequest({ cmd: CMD_INTERFACE_VERSION, pid: process.pid, clientName: CLIENT_NAME, wbFlags: WbFlag.RECURSE })], timeoutMs));
      if (v !== version) throw new Error(`interface version ${v} there, ${version} on the public socket`);
    } catch (err) {
      first.close();
      throw new WinbindUnsupported(`${privPath}: ${(err as Error).message}`);
    }
    return new WinbindClient(version, privPath, o, first);
  }

  /** For status lines and tests. */
  status(): { connections: number; idle: number; busy: number; queued: number } {
    return { connections: this.all.size, idle: this.idle.length, busy: this.all.size - this.idle.length, queued: this.queue.length };
  }

  private adopt(c: WinbindConnection): void {
    c.onClose = (gone) => { this.forget(gone); };
    this.all.add(c);
    this.idle.push(c);
  }

  private forget(c: WinbindConnection): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** PAM_AUTH_CRAP with the session key and the info3 (names and groups) asked for. */
  async authCrap(r: AuthCrapRequest): Promise<AuthCrapAnswer> {
    const parts = encodeAuthCrap({ cmd: this.cmds.pamAuthCrap, pid: process.pid, clientName: CLIENT_NAME, flags: Flag.PAM_USER_SESSION_KEY | Flag.PAM_INFO3_TEXT }, r);
    return decodeAuthCrap(await this.send(parts));
  }

  /** LOOKUPSID: a SID's domain and name (null: winbindd does not know it). */
  async lookupSid(sid: string): Promise<{ domain: string; name: string; type: number } | null> {
    return decodeLookupSid(await this.send([encodeLookupSid({ cmd: this.cmds.lookupSid, pid: process.pid, clientName: CLIENT_NAME }, sid)]));
  }

  private send(parts: Buffer[]): Promise<Response> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new WinbindNoAnswer('closed'));
        return;
      }
      if (this.queue.length >= this.maxQueue) {
        this.stats.refusedBusy++;
        reject(new WinbindBusy(`${this.queue.length} requests already wait for winbindd (at most ${this.maxQueue})`));
        return;
      }
      this.stats.requests++;
      const w: Waiting = {
        parts,
        resolve,
        reject,
        deadline: Date.now() + this.timeoutMs,
        done: false,
        retried: false,
        timer: setTimeout(() => {
          const i = this.queue.indexOf(w);
          if (i < 0) return; // at winbindd: its connection's own timer answers
          this.queue.splice(i, 1);
          this.stats.timeouts++;
          this.finish(w, new WinbindNoAnswer(`no connection to winbindd free within ${this.timeoutMs} ms`));
        }, this.timeoutMs),
      };
      this.queue.push(w);
      this.dispatch();
    });
  }

  private finish(w: Waiting, r: Response | Error): void {
    if (w.done) return;
    w.done = true;
    clearTimeout(w.timer);
    if (r instanceof Error) w.reject(r);
    else w.resolve(r);
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      const c = this.idle.pop();
      if (c !== undefined) {
        const w = this.queue.shift();
        if (w !== undefined) this.run(c, w);
        continue;
      }
      if (this.all.size + this.opening >= this.maxConnections || this.opening > 0 && this.queue.length <= this.opening) return;
      this.openOne();
      return;
    }
  }

  private openOne(): void {
    if (Date.now() < this.openBlockedUntil) {
      // the last attempt failed: try again when the pause is over (if anything still waits then)
      this.openRetry ??= setTimeout(() => {
        this.openRetry = null;
        this.dispatch();
      }, this.openBlockedUntil - Date.now());
      return;
    }
    this.opening++;
    this.stats.reconnects++;
    WinbindConnection.open(this.privPath, this.timeoutMs).then(
      (c) => {
        this.opening--;
        if (this.closed) {
          c.close();
          return;
        }
        this.adopt(c);
        this.dispatch();
      },
      (e: unknown) => {
        const err = e instanceof Error ? e : new Error(String(e));
        this.opening--;
        this.openBlockedUntil = Date.now() + OPEN_PAUSE_MS;
        this.logger.warn({ err: err.message, connections: this.all.size, queued: this.queue.length }, 'winbind: cannot connect to winbindd');
        // No connection left: winbindd is gone, and everything waiting fails now rather than at
        // its deadline. Otherwise the open connections carry on with the queue.
        if (this.all.size === 0 && this.opening === 0) for (const w of this.queue.splice(0)) this.finish(w, new WinbindNoAnswer(err.message));
        else this.dispatch();
      },
    );
    // open more at once when many wait
    if (this.queue.length > this.opening && this.all.size + this.opening < this.maxConnections) this.openOne();
  }

  private run(c: WinbindConnection, w: Waiting): void {
    const left = Math.max(1, w.deadline - Date.now());
    c.request(w.parts, left).then(
      (r) => {
        this.idle.push(c);
        this.finish(w, r);
        this.dispatch();
      },
      (e: unknown) => {
        const err = e instanceof Error ? e : new Error(String(e));
        this.forget(c);
        const stale = err instanceof WinbindConnectionError && err.beforeAnswer && c.answered > 0 && !/no answer within/.test(err.message);
        if (stale && !w.retried && !w.done && Date.now() < w.deadline) {
          // winbindd had closed this idle connection: the request was not seen; once more, afresh.
          w.retried = true;
          this.stats.retries++;
          this.queue.unshift(w);
        } else {
          if (/no answer within/.test(err.message)) this.stats.timeouts++;
          this.finish(w, new WinbindNoAnswer(err.message));
        }
        this.dispatch();
      },
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.openRetry !== null) clearTimeout(this.openRetry);
    for (const w of this.queue.splice(0)) this.finish(w, new WinbindNoAnswer('closed'));
    for (const c of [...this.all]) c.close();
    this.all.clear();
    this.idle.length = 0;
  }
}
