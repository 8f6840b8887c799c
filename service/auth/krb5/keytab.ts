// The service keys: acceptor credentials from a keytab, acquired at start (a missing, unreadable
// or empty keytab stops witnessd with the reason) and acquired again when the file changes, so a
// rotated key (a new kvno written by `net ads keytab create`, Samba's `sync machine password to
// keytab`, or ktutil) is used without a restart. MIT's FILE keytab is read again at each
// accept anyway; re-acquiring also follows a keytab replaced by rename and logs the rotation.
import fs from 'node:fs';
import type { Logger } from 'pino';
import { listKeytab } from './keytab-file.ts';
import { gss, isGssFailure, type GssCred } from './native.ts';

/** How often, at most, the keytab's stat is compared (a new context asks). */
const CHECK_INTERVAL_MS = 1000;

interface Stamp {
  ino: number;
  size: number;
  mtimeMs: number;
}

function stamp(file: string): Stamp {
  const st = fs.statSync(file);
  return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

function same(a: Stamp, b: Stamp): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/** Why a keytab cannot be used, in words for an admin; null when it looks usable. */
function unusable(file: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `the keytab ${file} does not exist` : `the keytab ${file} cannot be read (${code ?? String(e)})`;
  }
  if (!st.isFile()) return `the keytab ${file} is not a file`;
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    return `the keytab ${file} is not readable by this process (uid ${process.getuid?.() ?? '?'})`;
  }
  if (st.size === 0) return `the keytab ${file} is empty`;
  return null;
}

export class KeytabCredentials {
  readonly file: string;
  private cred: GssCred;
  private seen: Stamp;
  private checkedAt = 0;
  private readonly logger: Logger;
  /**
   * The keytab's principals (lower case) and their kvnos, or null when it could not be listed.
   * MIT's acceptor without a fixed name tries every key of the keytab, so a ticket for another
   * SPN of the same account (or with another kvno but the same key) would be accepted: these
   * let the acceptor hold clients to the principals the keytab names.
   */
  principals: Map<string, Set<number>> | null = null;
  /** The version that failed ('gone' or its stamp), so that it is logged once. */
  private refused: string | null = null;

  private constructor(file: string, cred: GssCred, seen: Stamp, logger: Logger) {
    this.file = file;
    this.cred = cred;
    this.seen = seen;
    this.logger = logger;
    this.principals = principalsOf(file);
  }

  /** Acquires from `file`; throws an Error that says what is wrong with it. */
  static open(file: string, logger: Logger): KeytabCredentials {
    const why = unusable(file);
    if (why !== null) throw new Error(why);
    const seen = stamp(file);
    return new KeytabCredentials(file, acquire(file), seen, logger);
  }

  /** The credentials to accept with: re-acquired first when the keytab changed (checked at most once a second). */
  current(now = Date.now()): GssCred {
    if (now - this.checkedAt < CHECK_INTERVAL_MS) return this.cred;
    this.checkedAt = now;
    let st: Stamp;
    try {
      st = stamp(this.file);
    } catch (e) {
      this.refuseOnce('gone', `the keytab ${this.file} is gone (${(e as Error).message}); the keys read before stay in use`);
      return this.cred;
    }
    if (same(st, this.seen)) return this.cred;
    if (this.refused === JSON.stringify(st)) return this.cred;
    try {
      this.cred = acquire(this.file);
      this.seen = st;
      this.refused = null;
      this.principals = principalsOf(this.file);
      this.logger.info({ keytab: this.file }, 'keytab changed: acceptor credentials acquired again');
    } catch (e) {
      this.refuseOnce(JSON.stringify(st), `the changed keytab ${this.file} cannot be used (${(e as Error).message}); the keys read before stay in use`);
    }
    return this.cred;
  }

  private refuseOnce(version: string, msg: string): void {
    if (this.refused === version) return;
    this.refused = version;
    this.logger.error({ keytab: this.file }, msg);
  }
}

function acquire(file: string): GssCred {
  try {
    return gss().acquire(file);
  } catch (e) {
    if (isGssFailure(e)) throw new Error(`the keytab ${file} holds no usable key (${e.message})`);
    throw e;
  }
}

function principalsOf(file: string): Map<string, Set<number>> | null {
  try {
    const m = new Map<string, Set<number>>();
    for (const e of listKeytab(file)) {
      const key = e.principal.toLowerCase();
      const kvnos = m.get(key) ?? new Set<number>();
      kvnos.add(e.kvno);
      m.set(key, kvnos);
    }
    return m;
  } catch {
    return null;
  }
}
