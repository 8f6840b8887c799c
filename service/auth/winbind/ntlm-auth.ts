// WinbindSource: NTLMv2 responses checked by the domain through Samba's winbindd, for clusters
// whose file servers are domain members (or a standalone Samba with its own passdb). witnessd
// never sees a password or an NT hash: it hands the client's response to Samba's
// `ntlm_auth --helper-protocol=ntlm-server-1`, which asks winbindd (and winbindd the domain
// controller), and gets back yes or no and the user session key (for NTLMv2 the SessionBaseKey).
//
// The helper protocol (ntlm_auth(1) and Samba 4.17's behaviour, as observed):
//   request:  "Name: value" or "Name:: base64" lines, then a line ".":
//             LANMAN-Challenge (8 bytes hex), NT-Response (hex), Username::, NT-Domain::,
//             Request-User-Session-Key: Yes
//   answer:   "Authenticated: Yes", "User-Session-Key: <32 hex>", "."                  or
//             "Authenticated: No", "Authentication-Error: <text>", ".", "."  (a second dot) or
//             "Error: <text>", "."  (a request it could not parse)
// Empty blocks (a "." with nothing before it) are skipped, so the extra dot after a refusal never
// answers the next request. Names go base64-encoded, so a newline in them cannot inject a line.
// The LM response is never sent: for NTLMv2 only the NT response counts (an LMv2 response alone
// must not be able to log on). NT-Domain is always sent, empty when the client sent none
// (ntlm_auth would otherwise substitute its own workgroup).
//
// When winbindd is not running, ntlm_auth answers at once with "Reading winbind reply failed!"
// and keeps running (it reconnects on the next request); when winbindd hangs, ntlm_auth waits for
// it up to 30 s. So: a small pool of long-lived helpers, each answering one request at a time; a
// bounded queue in front of them; a deadline per request (queueing included) after which the
// request fails as 'unavailable' and the helper it was stuck in is killed; a dead helper is
// restarted after a back-off that doubles up to a ceiling and is reset by its first answer.
//
// Identity: ntlm-server-1 does not say how winbind spells the account, so the identity is the
// domain and user as the client sent them; no groups.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { Logger } from 'pino';
import { SecurityError } from '../context.ts';
import type { NtlmCredentialSource, NtlmResponseCheck, NtlmResponseVerified } from '../credentials.ts';

export interface WinbindSourceOptions {
  logger: Logger;
  /** Path of ntlm_auth. Default /usr/bin/ntlm_auth. */
  ntlmAuth?: string;
  /**
   * An smb.conf for ntlm_auth (--configfile); null or absent: Samba's own (/etc/samba/smb.conf).
   * Must be readable: the constructor throws otherwise.
   */
  smbConf?: string | null;
  /** How many ntlm_auth helpers run (each answers one request at a time). Default 2, 1..16. */
  helpers?: number;
  /** Deadline of one request, waiting in the queue included. Default 10,000 ms. */
  timeoutMs?: number;
  /** Requests waiting for a helper beyond which new ones are refused at once. Default 256. */
  maxQueue?: number;
  /** First restart delay of a dead helper; doubles on each failure up to maxBackoffMs. Default 200 ms. */
  backoffMs?: number;
  /** Default 30,000 ms. */
  maxBackoffMs?: number;
  /** Environment for the helpers, on top of witnessd's own (tests: nss_wrapper's, see test/helpers/samba-standalone.ts). */
  env?: Record<string, string>;
}

/** Longest user or domain ntlm_auth passes on whole (winbindd's request has 256-byte fields). */
const MAX_NAME_BYTES = 255;
/** Longer NT responses are not NTLMv2 responses a client sends (their AV pairs are a few hundred bytes). */
const MAX_NT_RESPONSE = 16 * 1024;
/** NTProofStr (16) + the blob's fixed part (28) + MsvAvEOL (4). */
const MIN_NTLMV2_RESPONSE = 48;
/** A helper that sends more than this without ending an answer is broken. */
const MAX_ANSWER_BYTES = 64 * 1024;
const STDERR_LINES_KEPT = 20;

/** Errors that say winbind (or the domain behind it) could not answer, rather than no. */
const UNAVAILABLE = [
  /reading winbind reply failed/i,
  /no logon servers/i,
  /domain controller/i,
  /timed? ?out/i,
  /NT_STATUS_(?:NO_LOGON_SERVERS|IO_TIMEOUT|NETLOGON_NOT_STARTED|DOMAIN_CONTROLLER_NOT_FOUND|INTERNAL_ERROR|NO_MEMORY|PIPE_\w+|CONNECTION_\w+|TRUSTED_\w+|RPC_\w+|INSUFFICIENT_RESOURCES)/,
];

interface Pending {
  check: NtlmResponseCheck;
  request: string;
  resolve: (v: NtlmResponseVerified) => void;
  reject: (e: SecurityError) => void;
  timer: NodeJS.Timeout;
  /** The helper answering it, once taken from the queue. */
  helper: Helper | null;
  done: boolean;
}

/** One ntlm_auth process. */
class Helper {
  readonly proc: ChildProcess;
  readonly slot: number;
  state: 'starting' | 'idle' | 'busy' | 'dead' = 'starting';
  current: Pending | null = null;
  answered = 0;
  private partial = '';
  private block: string[] = [];
  private blockBytes = 0;
  readonly stderrTail: string[] = [];
  private readonly exited: Promise<void>;
  private readonly events: HelperEvents;

  constructor(slot: number, path: string, args: string[], env: NodeJS.ProcessEnv, events: HelperEvents) {
    this.slot = slot;
    this.events = events;
    this.proc = spawn(path, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.exited = new Promise((resolve) => {
      this.proc.once('close', () => { resolve(); });
    });
    this.proc.once('spawn', () => {
      if (this.state === 'starting') {
        this.state = 'idle';
        this.events.ready(this);
      }
    });
    this.proc.once('error', (err) => { this.die(`cannot run ${path}: ${err.message}`); });
    this.proc.once('exit', (code, signal) => { this.die(`exited (${signal ?? `code ${code ?? '?'}`})`); });
    this.proc.stdin?.on('error', () => { /* EPIPE when it died: its exit says why */ });
    this.proc.stdout?.setEncoding('utf8');
    this.proc.stdout?.on('data', (d: string) => { this.onStdout(d); });
    this.proc.stderr?.setEncoding('utf8');
    this.proc.stderr?.on('data', (d: string) => {
      for (const l of d.split('\n')) {
        if (l.trim() === '') continue;
        this.stderrTail.push(l);
        if (this.stderrTail.length > STDERR_LINES_KEPT) this.stderrTail.shift();
        this.events.stderr(this, l);
      }
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get dead(): boolean {
    return this.state === 'dead';
  }

  send(p: Pending): void {
    this.state = 'busy';
    this.current = p;
    p.helper = this;
    this.proc.stdin?.write(p.request);
  }

  private onStdout(d: string): void {
    if (this.state === 'dead') return;
    this.partial += d;
    for (;;) {
      const nl = this.partial.indexOf('\n');
      if (nl < 0) break;
      const line = this.partial.slice(0, nl).replace(/\r$/, '');
      this.partial = this.partial.slice(nl + 1);
      if (line === '.') {
        if (this.block.length === 0) continue; // the second dot after a refusal
        const block = this.block;
        this.block = [];
        this.blockBytes = 0;
        const p = this.current;
        this.current = null;
        if (p === null) {
          this.kill(`answered when nothing was asked: ${JSON.stringify(block)}`);
          return;
        }
        this.answered++;
        this.state = 'idle';
        this.events.answer(this, p, block);
        if (this.dead) return; // the answer's handling may have killed it
        continue;
      }
      this.block.push(line);
      this.blockBytes += line.length;
    }
    if (this.blockBytes + this.partial.length > MAX_ANSWER_BYTES) this.kill(`sent more than ${MAX_ANSWER_BYTES} bytes without ending an answer`);
  }

  /** Stops it for good (a hung or confused helper); its exit is reported through die(). */
  kill(why: string): void {
    if (this.state !== 'dead') this.die(why);
    this.proc.kill('SIGKILL');
  }

  private die(why: string): void {
    if (this.state === 'dead') return;
    this.state = 'dead';
    const p = this.current;
    this.current = null;
    this.events.dead(this, p, why);
  }

  /** Ends it politely (end of input makes ntlm_auth exit), by force after `ms`. */
  async stop(ms: number): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.stdin?.end();
      const t = setTimeout(() => this.proc.kill('SIGKILL'), ms);
      await this.exited;
      clearTimeout(t);
    }
  }
}

interface HelperEvents {
  ready(h: Helper): void;
  answer(h: Helper, p: Pending, block: string[]): void;
  dead(h: Helper, p: Pending | null, why: string): void;
  stderr(h: Helper, line: string): void;
}

interface Slot {
  helper: Helper | null;
  restartTimer: NodeJS.Timeout | null;
  backoff: number;
  lastError: string | null;
}

function field(block: string[], name: string): string | null {
  for (const line of block) {
    const b64 = `${name}:: `;
    if (line.startsWith(b64)) return Buffer.from(line.slice(b64.length), 'base64').toString('utf8');
    const plain = `${name}: `;
    if (line.startsWith(plain)) return line.slice(plain.length);
  }
  return null;
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why a name cannot be passed to ntlm_auth whole, or null. */
function badName(what: string, s: string): string | null {
  if (CONTROL.test(s)) return `the ${what} contains a control character`;
  if (Buffer.byteLength(s, 'utf8') > MAX_NAME_BYTES) return `the ${what} is longer than ${MAX_NAME_BYTES} bytes`;
  return null;
}

export class WinbindSource implements NtlmCredentialSource {
  readonly name = 'winbind';
  private readonly logger: Logger;
  private readonly path: string;
  private readonly args: string[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly timeoutMs: number;
  private readonly maxQueue: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly slots: Slot[];
  private readonly queue: Pending[] = [];
  private closed = false;
  private restarts = 0;
  private readonly events: HelperEvents;

  constructor(o: WinbindSourceOptions) {
    this.logger = o.logger;
    this.path = o.ntlmAuth ?? '/usr/bin/ntlm_auth';
    const conf = o.smbConf ?? null;
    // ntlm_auth carries on with built-in defaults (the host's winbindd) when its smb.conf cannot
    // be read; witnessd must not, so a missing file is refused here, at start.
    if (conf !== null) fs.accessSync(conf, fs.constants.R_OK);
    this.args = ['--helper-protocol=ntlm-server-1', ...(conf !== null ? [`--configfile=${conf}`] : [])];
    this.env = { ...process.env, ...(o.env ?? {}) };
    const poolSize = o.helpers ?? 2;
    if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 16) throw new RangeError(`winbind: helpers ${poolSize} is not 1..16`);
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.maxQueue = o.maxQueue ?? 256;
    this.backoffMs = o.backoffMs ?? 200;
    this.maxBackoffMs = o.maxBackoffMs ?? 30_000;
    this.events = {
      ready: () => { this.dispatch(); },
      answer: (h, p, block) => { this.onAnswer(h, p, block); },
      dead: (h, p, why) => { this.onDead(h, p, why); },
      stderr: (h, line) => { this.logger.debug({ helper: h.pid, line }, 'winbind: ntlm_auth says'); },
    };
    this.slots = Array.from({ length: poolSize }, () => ({ helper: null, restartTimer: null, backoff: this.backoffMs, lastError: null }));
    this.slots.forEach((_s, i) => { this.start(i); });
  }

  /**
   * A source whose helpers have started: resolves once one of them runs, rejects (and closes)
   * when none could (ntlm_auth missing, not executable) or none ran within `timeoutMs`.
   */
  static async start(o: WinbindSourceOptions): Promise<WinbindSource> {
    const s = new WinbindSource(o);
    const t0 = Date.now();
    for (;;) {
      const st = s.status();
      if (st.idle + st.busy > 0) return s;
      const failed = s.slots.every((slot) => slot.helper === null);
      if (failed || Date.now() - t0 > s.timeoutMs) {
        const why = s.slots.map((slot) => slot.lastError).find((e) => e !== null) ?? `no helper running after ${s.timeoutMs} ms`;
        await s.close();
        throw new Error(`winbind: cannot run ${s.path}: ${why}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** For tests and the status log: helpers alive, idle, busy, requests queued, restarts so far. */
  status(): { helpers: number; idle: number; busy: number; queued: number; restarts: number; pids: number[] } {
    const live = this.slots.map((s) => s.helper).filter((h): h is Helper => h !== null && h.state !== 'dead');
    return {
      helpers: live.length,
      idle: live.filter((h) => h.state === 'idle').length,
      busy: live.filter((h) => h.state === 'busy').length,
      queued: this.queue.length,
      restarts: this.restarts,
      pids: live.map((h) => h.pid).filter((p): p is number => p !== undefined),
    };
  }

  private start(i: number): void {
    const slot = this.slots[i];
    if (slot === undefined || this.closed) return;
    slot.restartTimer = null;
    slot.helper = new Helper(i, this.path, this.args, this.env, this.events);
  }

  verify(check: NtlmResponseCheck): Promise<NtlmResponseVerified> {
    return new Promise((resolve, reject) => {
      const fail = (code: 'logon-failure' | 'malformed' | 'unavailable', why: string): void => { reject(new SecurityError(code, `winbind: ${why}`)); };
      if (this.closed) {
        fail('unavailable', 'closed');
        return;
      }
      const who = check.domain === '' ? check.user : `${check.domain}\\${check.user}`;
      if (check.user === '') {
        fail('logon-failure', 'no user name (anonymous)');
        return;
      }
      const bad = badName('user name', check.user) ?? badName('domain', check.domain);
      if (bad !== null) {
        fail('logon-failure', `${JSON.stringify(who)}: ${bad}`);
        return;
      }
      if (check.serverChallenge.length !== 8) {
        fail('malformed', `server challenge of ${check.serverChallenge.length} bytes, not 8`);
        return;
      }
      if (check.ntResponse.length < MIN_NTLMV2_RESPONSE) {
        fail('logon-failure', `${who}: an NT response of ${check.ntResponse.length} bytes is not an NTLMv2 response`);
        return;
      }
      if (check.ntResponse.length > MAX_NT_RESPONSE) {
        fail('malformed', `${who}: an NT response of ${check.ntResponse.length} bytes (at most ${MAX_NT_RESPONSE})`);
        return;
      }
      const live = this.slots.some((s) => s.helper !== null && s.helper.state !== 'dead');
      if (!live) {
        const last = this.slots.map((s) => s.lastError).find((e) => e !== null) ?? 'not started';
        fail('unavailable', `no ntlm_auth helper is running (${last}); restarting`);
        return;
      }
      if (this.queue.length >= this.maxQueue) {
        fail('unavailable', `${this.queue.length} requests already wait for ntlm_auth`);
        return;
      }
      const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
      const request =
        `LANMAN-Challenge: ${check.serverChallenge.toString('hex')}\n` +
        `NT-Response: ${check.ntResponse.toString('hex')}\n` +
        `Username:: ${b64(check.user)}\n` +
        `NT-Domain:: ${b64(check.domain)}\n` +
        'Request-User-Session-Key: Yes\n' +
        '.\n';
      const p: Pending = {
        check,
        request,
        resolve,
        reject,
        helper: null,
        done: false,
        timer: setTimeout(() => { this.onTimeout(p); }, this.timeoutMs),
      };
      this.queue.push(p);
      this.dispatch();
    });
  }

  private finish(p: Pending, result: NtlmResponseVerified | SecurityError): void {
    if (p.done) return;
    p.done = true;
    clearTimeout(p.timer);
    if (result instanceof SecurityError) p.reject(result);
    else p.resolve(result);
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      const h = slot.helper;
      if (h === null || h.state !== 'idle') continue;
      const p = this.queue.shift();
      if (p !== undefined) h.send(p);
    }
  }

  private onAnswer(h: Helper, p: Pending, block: string[]): void {
    const slot = this.slots[h.slot];
    if (slot !== undefined) {
      slot.backoff = this.backoffMs; // it works: the next failure starts the back-off afresh
      slot.lastError = null;
    }
    const c = p.check;
    const who = c.domain === '' ? c.user : `${c.domain}\\${c.user}`;
    const auth = field(block, 'Authenticated');
    if (auth === 'Yes') {
      const key = field(block, 'User-Session-Key');
      if (key === null || !/^[0-9a-fA-F]{32}$/.test(key)) {
        this.logger.warn({ user: who, answer: block }, 'winbind: authenticated without a user session key');
        this.finish(p, new SecurityError('logon-failure', `winbind: ${who}: accepted, but no user session key came back`));
      } else {
        this.finish(p, { sessionBaseKey: Buffer.from(key, 'hex'), identity: { domain: c.domain, user: c.user, workstation: c.workstation, groups: [] } });
      }
    } else if (auth === 'No') {
      const why = field(block, 'Authentication-Error') ?? 'no reason given';
      const unavailable = UNAVAILABLE.some((re) => re.test(why));
      this.logger.info({ user: who, workstation: c.workstation, error: why }, unavailable ? 'winbind: cannot check the password now' : 'winbind: logon refused');
      this.finish(p, new SecurityError(unavailable ? 'unavailable' : 'logon-failure', `winbind: ${who}: ${why}`));
    } else {
      const err = field(block, 'Error') ?? JSON.stringify(block);
      this.logger.warn({ user: who, answer: block }, 'winbind: ntlm_auth did not take the request');
      this.finish(p, new SecurityError('malformed', `winbind: ${who}: ntlm_auth did not take the request: ${err}`));
    }
    this.dispatch();
  }

  private onTimeout(p: Pending): void {
    if (p.done) return;
    const c = p.check;
    const who = c.domain === '' ? c.user : `${c.domain}\\${c.user}`;
    const i = this.queue.indexOf(p);
    if (i >= 0) {
      this.queue.splice(i, 1);
      this.logger.warn({ user: who, timeoutMs: this.timeoutMs }, 'winbind: no ntlm_auth helper was free in time');
      this.finish(p, new SecurityError('unavailable', `winbind: ${who}: no helper free within ${this.timeoutMs} ms`));
      return;
    }
    const h = p.helper;
    this.finish(p, new SecurityError('unavailable', `winbind: ${who}: no answer within ${this.timeoutMs} ms (is winbindd hung?)`));
    if (h !== null && h.current === p) h.kill(`no answer within ${this.timeoutMs} ms`);
  }

  private onDead(h: Helper, p: Pending | null, why: string): void {
    const slot = this.slots[h.slot];
    const stderr = h.stderrTail.slice(-5).join(' | ');
    if (p !== null) {
      const c = p.check;
      this.finish(p, new SecurityError('unavailable', `winbind: ${c.domain}\\${c.user}: the ntlm_auth helper ${why}`));
    }
    if (slot === undefined || slot.helper !== h) return;
    slot.helper = null;
    if (this.closed) return;
    slot.lastError = `helper ${why}${stderr !== '' ? `: ${stderr}` : ''}`;
    const delay = slot.backoff;
    slot.backoff = Math.min(slot.backoff * 2, this.maxBackoffMs);
    this.restarts++;
    this.logger.error({ helper: h.pid, why, stderr: h.stderrTail.slice(-5), restartInMs: delay }, `winbind: ntlm_auth ${why}; restarting it in ${delay} ms`);
    slot.restartTimer = setTimeout(() => { this.start(h.slot); }, delay);
    // When no helper is left, waiting requests cannot be answered: fail them now.
    if (this.slots.every((s) => s.helper === null || s.helper.state === 'dead')) {
      for (const q of this.queue.splice(0)) {
        this.finish(q, new SecurityError('unavailable', `winbind: ${q.check.domain}\\${q.check.user}: no ntlm_auth helper is running (${why})`));
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const q of this.queue.splice(0)) this.finish(q, new SecurityError('unavailable', 'winbind: closed'));
    const stops: Promise<void>[] = [];
    for (const slot of this.slots) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
      const h = slot.helper;
      if (h?.current) this.finish(h.current, new SecurityError('unavailable', 'winbind: closed'));
      if (h !== null) stops.push(h.stop(2000));
    }
    await Promise.all(stops);
  }
}
