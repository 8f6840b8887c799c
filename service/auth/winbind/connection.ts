// One unix-socket connection to winbindd: one request at a time (winbindd reads the next request
// of a connection only after it has written the previous answer), each answer read with its length
// checked before anything is kept (protocol.ts: at most the fixed part + 128 KiB).

import net from 'node:net';
import { decodeResponseHead, RESPONSE_SIZE, WinbindProtocolError, type Response, type ResponseHead } from './protocol.ts';

export class WinbindConnectionError extends Error {
  /** Nothing of the answer had arrived: the request may not have been seen (a stale connection). */
  readonly beforeAnswer: boolean;
  constructor(message: string, beforeAnswer: boolean) {
    super(message);
    this.beforeAnswer = beforeAnswer;
  }
}

interface InFlight {
  resolve: (r: Response) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class WinbindConnection {
  readonly path: string;
  /** Requests answered on it (0: fresh, so a failure is not a stale connection's). */
  answered = 0;
  private readonly socket: net.Socket;
  private chunks: Buffer[] = [];
  private have = 0;
  private head: ResponseHead | null = null;
  private inFlight: InFlight | null = null;
  private closedWhy: string | null = null;
  /** Called once when it closes, whoever closed it (the pool forgets it). */
  onClose: (c: WinbindConnection) => void = () => undefined;

  private constructor(path: string, socket: net.Socket) {
    this.path = path;
    this.socket = socket;
    socket.on('data', (d: Buffer) => { this.onData(d); });
    socket.on('error', (e) => { this.fail(e.message); });
    socket.on('close', () => { this.fail('winbindd closed the connection'); });
  }

  /** Connects to the socket at `path` (winbindd's `pipe`), within `timeoutMs`. */
  static open(path: string, timeoutMs: number): Promise<WinbindConnection> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection({ path });
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`connecting to ${path}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('error', (e) => {
        clearTimeout(t);
        reject(new Error(`connecting to ${path}: ${e.message}`));
      });
      s.once('connect', () => {
        clearTimeout(t);
        s.removeAllListeners('error');
        resolve(new WinbindConnection(path, s));
      });
    });
  }

  get busy(): boolean {
    return this.inFlight !== null;
  }

  get closed(): boolean {
    return this.closedWhy !== null;
  }

  /** Sends one request (its parts written in order) and resolves with the answer. */
  request(parts: Buffer[], timeoutMs: number): Promise<Response> {
    return new Promise((resolve, reject) => {
      if (this.closedWhy !== null) {
        reject(new WinbindConnectionError(this.closedWhy, true));
        return;
      }
      if (this.inFlight !== null) {
        reject(new Error('winbind connection: a request is in flight already'));
        return;
      }
      const timer = setTimeout(() => { this.fail(`no answer within ${timeoutMs} ms`); }, timeoutMs);
      this.inFlight = { resolve, reject, timer };
      // One writev for the fixed part and the extra data: a write() each cost ~0.1 ms in a storm's profile.
      this.socket.cork();
      for (const p of parts) this.socket.write(p);
      this.socket.uncork();
    });
  }

  private onData(d: Buffer): void {
    if (this.closedWhy !== null) return;
    if (this.inFlight === null) {
      this.fail(`${d.length} bytes from winbindd when nothing was asked`);
      return;
    }
    this.chunks.push(d);
    this.have += d.length;
    try {
      if (this.head === null && this.have >= 8) {
        const first = Buffer.concat(this.chunks, this.have);
        this.chunks = [first];
        this.head = decodeResponseHead(first);
      }
    } catch (err) {
      this.fail((err as WinbindProtocolError).message);
      return;
    }
    const head = this.head;
    if (head === null || this.have < head.length) return;
    if (this.have > head.length) {
      this.fail(`winbindd sent ${this.have - head.length} bytes beyond its answer`);
      return;
    }
    const all = Buffer.concat(this.chunks, this.have);
    this.chunks = [];
    this.have = 0;
    this.head = null;
    const f = this.inFlight;
    this.inFlight = null;
    clearTimeout(f.timer);
    this.answered++;
    f.resolve({ head, fixed: all.subarray(0, RESPONSE_SIZE), extra: all.subarray(RESPONSE_SIZE) });
  }

  private fail(why: string): void {
    if (this.closedWhy !== null) return;
    this.closedWhy = why;
    const f = this.inFlight;
    this.inFlight = null;
    const beforeAnswer = this.have === 0;
    this.chunks = [];
    this.socket.destroy();
    if (f !== null) {
      clearTimeout(f.timer);
      f.reject(new WinbindConnectionError(why, beforeAnswer));
    }
    this.onClose(this);
  }

  close(): void {
    this.fail('closed');
  }
}
