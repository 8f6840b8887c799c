// AccountFileSource: checks NTLMv2 responses against the NT hashes of the local account file
// (format and rules: ./file.ts). The file is read when the source opens (a file that cannot be
// used stops witnessd from starting) and again whenever it changes: the directory is watched, and
// the file's device, inode, size, mtime and ctime are compared with the version in use (a slow
// poll backs the watch up). A new version that cannot be used (unreadable, wrong mode, a bad
// line, gone) leaves the accounts in use as they were and logs an error.

import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { SecurityError } from '../context.ts';
import type { NtlmCredentialSource, NtlmResponseCheck, NtlmResponseVerified } from '../credentials.ts';
import { verifyNtlmv2WithNtHash } from '../ntlm/verify.ts';
import { accountKey, readAccountFile, sameStamp, statAccountFile, type Account, type FileStamp } from './file.ts';

/** Checks an NTLMv2 response made with the account whose NT hash is given; returns the SessionBaseKey or throws SecurityError('logon-failure'). */
export type NtHashVerifier = (ntHash: Buffer, check: NtlmResponseCheck) => Buffer;

export interface AccountFileSourceOptions {
  /** The account file. */
  path: string;
  logger: Logger;
  /** The NTLMv2 check; default service/auth/ntlm's verifyNtlmv2WithNtHash. */
  verifier?: NtHashVerifier;
  /** How long after a directory event the file is looked at (events come in bursts). Default 50 ms. */
  settleMs?: number;
  /** Backup poll of the file's identity, for file systems whose changes fs.watch misses. Default 30 s; 0 = off. */
  pollMs?: number;
}

interface Loaded {
  /** By upper-cased DOMAIN\USER. */
  byKey: Map<string, Account>;
  /** By upper-cased user: every domain's account of that name, in file order (for clients that send no domain). */
  byUser: Map<string, Account[]>;
  stamp: FileStamp;
  count: number;
}

function index(accounts: Account[], stamp: FileStamp): Loaded {
  const byKey = new Map<string, Account>();
  const byUser = new Map<string, Account[]>();
  for (const a of accounts) {
    byKey.set(accountKey(a.domain, a.user), a);
    const u = a.user.toUpperCase();
    const list = byUser.get(u);
    if (list) list.push(a);
    else byUser.set(u, [a]);
  }
  return { byKey, byUser, stamp, count: accounts.length };
}

export class AccountFileSource implements NtlmCredentialSource {
  readonly name = 'accounts';
  readonly path: string;
  private readonly logger: Logger;
  private readonly verifier: NtHashVerifier;
  private readonly settleMs: number;
  private loaded: Loaded;
  private watcher: fs.FSWatcher | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private settleTimer: NodeJS.Timeout | null = null;
  private reloading: Promise<void> | null = null;
  private again = false;
  private closed = false;
  /** The identity of the last version that failed ('missing' when there was no file), so one bad version is logged once. */
  private failed: string | null = null;
  /** A fixed random hash: the work done for an unknown user, so that it takes as long as a wrong password. */
  private readonly decoyHash = crypto.randomBytes(16);
  private readonly changeListeners = new Set<(ok: boolean) => void>();

  /** Reads the file (throws AccountFileError or ENOENT: witnessd must not start) and starts watching it. */
  static async open(o: AccountFileSourceOptions): Promise<AccountFileSource> {
    const file = path.resolve(o.path);
    const c = await readAccountFile(file);
    const s = new AccountFileSource(o, file, index(c.accounts, c.stamp));
    s.watch(o.pollMs ?? 30_000);
    s.logger.info({ accounts: c.accounts.length, file }, 'accounts: account file read');
    return s;
  }

  private constructor(o: AccountFileSourceOptions, file: string, loaded: Loaded) {
    this.path = file;
    this.logger = o.logger;
    this.verifier = o.verifier ?? verifyNtlmv2WithNtHash;
    this.settleMs = o.settleMs ?? 50;
    this.loaded = loaded;
  }

  /** How many accounts are in use. */
  get size(): number {
    return this.loaded.count;
  }

  /** The accounts in use, as DOMAIN\user (for logs and tests; never the hashes). */
  principals(): string[] {
    return [...this.loaded.byKey.values()].map((a) => `${a.domain}\\${a.user}`);
  }

  /**
   * Called after each look at a changed file: true when a new version was taken, false when it was refused.
   * @testOnly tells a test when a changed account file was looked at (the reload itself is logged).
   */
  onReload(f: (ok: boolean) => void): () => void {
    this.changeListeners.add(f);
    return () => this.changeListeners.delete(f);
  }

  verify(check: NtlmResponseCheck): Promise<NtlmResponseVerified> {
    return Promise.resolve().then(() => this.verifyNow(check));
  }

  private verifyNow(check: NtlmResponseCheck): NtlmResponseVerified {
    const { byKey, byUser } = this.loaded;
    const shown = check.domain === '' ? check.user : `${check.domain}\\${check.user}`;
    const candidates = check.domain === '' ? (byUser.get(check.user.toUpperCase()) ?? []) : [byKey.get(accountKey(check.domain, check.user))].filter((a) => a !== undefined);
    if (candidates.length === 0) {
      // Same work as a wrong password, so the time taken does not tell which accounts exist.
      try {
        this.verifier(this.decoyHash, check);
      } catch {
        // expected
      }
      throw new SecurityError('logon-failure', `accounts: no account ${shown} in ${this.path}`);
    }
    let why = '';
    for (const a of candidates) {
      let key: Buffer;
      try {
        key = this.verifier(a.ntHash, check);
      } catch (err) {
        if (!(err instanceof SecurityError) || err.code !== 'logon-failure') throw err;
        if (!/wrong password/i.test(err.message)) why = `: ${err.message}`;
        continue;
      }
      return { sessionBaseKey: key, identity: { domain: a.domain, user: a.user, workstation: check.workstation, groups: [] } };
    }
    const tried = candidates.length > 1 ? ` (tried the accounts of ${candidates.map((a) => a.domain).join(', ')})` : '';
    throw new SecurityError('logon-failure', `accounts: wrong password for ${shown}${tried}${why}`);
  }

  /** Reads the file again if it changed since the version in use. Resolves once done (also when refused). */
  reload(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.again = false;
          await this.reloadOnce();
        } while (this.again && !this.closed);
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  private async reloadOnce(): Promise<void> {
    const now = await statAccountFile(this.path);
    if (sameStamp(now, this.loaded.stamp)) return;
    const version = now === null ? 'missing' : JSON.stringify(now);
    if (version === this.failed) return;
    try {
      const c = await readAccountFile(this.path);
      if (this.closed) return;
      this.loaded = index(c.accounts, c.stamp);
      this.failed = null;
      this.logger.info({ accounts: c.accounts.length, file: this.path }, 'accounts: account file read again');
      this.emit(true);
    } catch (err) {
      if (this.closed) return;
      this.failed = version;
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? `${this.path}: no such file` : e.message;
      this.logger.error({ file: this.path, err: why, accounts: this.loaded.count }, `accounts: changed account file not used, keeping the ${this.loaded.count} accounts read before: ${why}`);
      this.emit(false);
    }
  }

  private emit(ok: boolean): void {
    for (const f of this.changeListeners) f(ok);
  }

  private schedule(): void {
    if (this.closed || this.settleTimer !== null) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      void this.reload();
    }, this.settleMs);
    this.settleTimer.unref();
  }

  private watch(pollMs: number): void {
    const dir = path.dirname(this.path);
    const base = path.basename(this.path);
    try {
      // The directory, not the file: the file is replaced by rename, which ends a watch on it.
      this.watcher = fs.watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || name === base || name.startsWith(`.${base}.`)) this.schedule();
      });
      this.watcher.on('error', (err) => {
        this.logger.warn({ dir, err: err.message }, 'accounts: watching the account file directory failed; polling only');
        this.watcher?.close();
        this.watcher = null;
      });
    } catch (err) {
      this.logger.warn({ dir, err: (err as Error).message }, 'accounts: cannot watch the account file directory; polling only');
    }
    if (pollMs > 0) {
      this.pollTimer = setInterval(() => {
        this.schedule();
      }, pollMs);
      this.pollTimer.unref();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    this.pollTimer = null;
    this.settleTimer = null;
    this.changeListeners.clear();
    await this.reloading;
  }
}
