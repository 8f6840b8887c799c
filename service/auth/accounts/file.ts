// The local account file: NTLM accounts for clusters that have no Samba domain to ask.
//
// Format (UTF-8 text, one item per line):
//
//   # a comment: a line whose first non-blank character is '#'
//   DOMAIN\user:0123456789abcdef0123456789abcdef
//
// - An account line is DOMAIN, a backslash, the user name, a colon, and the account's NT hash
//   (MD4 of the UTF-16LE password) as 32 hex digits (either case). Blank lines are ignored and
//   leading/trailing blanks of a line are dropped; blanks inside the user name are kept.
// - DOMAIN is required: the NetBIOS domain (or DNS domain) clients put in their AUTHENTICATE
//   message. It may not contain a backslash, a colon or control characters, and may not start
//   with '#'. The user name may not contain a backslash, a colon or control characters ('@' is
//   allowed, for user principal names).
// - Domain and user are matched case-insensitively. A client's domain must equal the account's
//   domain (case-insensitively); a client that sends an empty domain matches an account of that
//   user name in any domain (if several domains hold the name, each is tried in file order and
//   the first whose hash verifies the response wins).
// - The same DOMAIN\user twice (case-insensitively) is an error naming both lines.
// - The file must be a regular file (a symlink to one is followed), owned by root or by the user
//   witnessd runs as, and must give no permission to group or others (chmod 600): witnessd
//   refuses to start otherwise. At most 1 MiB and 100,000 lines.
//
// witnessctl user add|del|list edits it (service/auth/accounts/cli.ts), always by writing a new
// file beside it (mode 0600) and renaming it into place, so witnessd never reads half a file.

import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

export const DEFAULT_ACCOUNTS_PATH = '/etc/pacemaker-witness/accounts';
export const MAX_ACCOUNT_FILE_BYTES = 1024 * 1024;
export const MAX_ACCOUNT_FILE_LINES = 100_000;
const MAX_NAME_LENGTH = 256;

export interface Account {
  /** As written in the file. */
  domain: string;
  user: string;
  /** 16 bytes. */
  ntHash: Buffer;
  /** 1-based line number in the file. */
  line: number;
}

/** A file that cannot be used: bad permissions, too large, a bad line. The message names the file. */
export class AccountFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccountFileError';
  }
}

/** The key an account is found by: upper-cased domain and user. */
export function accountKey(domain: string, user: string): string {
  return `${domain.toUpperCase()}\\${user.toUpperCase()}`;
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why a domain cannot be written in the file, or null when it can. */
export function badDomain(domain: string): string | null {
  if (domain === '') return 'the domain is empty';
  if (domain.length > MAX_NAME_LENGTH) return `the domain is longer than ${MAX_NAME_LENGTH} characters`;
  if (CONTROL.test(domain)) return 'the domain contains a control character';
  if (/[\\:]/.test(domain)) return 'the domain contains a backslash or a colon';
  if (domain.startsWith('#')) return "the domain starts with '#'";
  if (domain.trim() !== domain) return 'the domain starts or ends with a blank';
  return null;
}

/** Why a user name cannot be written in the file, or null when it can. */
export function badUser(user: string): string | null {
  if (user === '') return 'the user name is empty';
  if (user.length > MAX_NAME_LENGTH) return `the user name is longer than ${MAX_NAME_LENGTH} characters`;
  if (CONTROL.test(user)) return 'the user name contains a control character';
  if (/[\\:]/.test(user)) return 'the user name contains a backslash or a colon';
  if (user.trim() !== user) return 'the user name starts or ends with a blank';
  return null;
}

/** Splits "DOMAIN\user" (as typed on witnessctl's command line); throws with the reason. */
export function parsePrincipal(text: string): { domain: string; user: string } {
  const i = text.indexOf('\\');
  if (i < 0) throw new AccountFileError(`${JSON.stringify(text)}: give the account as DOMAIN\\user`);
  const domain = text.slice(0, i);
  const user = text.slice(i + 1);
  const why = badDomain(domain) ?? badUser(user);
  if (why !== null) throw new AccountFileError(`${JSON.stringify(text)}: ${why}`);
  return { domain, user };
}

/** One line of the file as read: an account, or anything else (kept verbatim when the file is rewritten). */
export type AccountLine = { kind: 'account'; account: Account; text: string } | { kind: 'other'; text: string };

const HASH = /^[0-9a-fA-F]{32}$/;

/**
 * Parses the file's text. `name` (the path) goes in every error message, with the line number.
 * Returns every line, so that witnessctl can rewrite the file keeping comments where they were.
 */
export function parseAccountLines(text: string, name: string): AccountLine[] {
  const raw = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = raw.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop(); // the final newline
  if (lines.length > MAX_ACCOUNT_FILE_LINES) throw new AccountFileError(`${name}: ${lines.length} lines; at most ${MAX_ACCOUNT_FILE_LINES} are read`);
  const seen = new Map<string, number>();
  const out: AccountLine[] = [];
  lines.forEach((full, i) => {
    const n = i + 1;
    const textLine = full.endsWith('\r') ? full.slice(0, -1) : full;
    const t = textLine.trim();
    if (t === '' || t.startsWith('#')) {
      out.push({ kind: 'other', text: textLine });
      return;
    }
    const bad = (why: string): AccountFileError => new AccountFileError(`${name}: line ${n}: ${why} (expected DOMAIN\\user:<32 hex digits of the NT hash>)`);
    const slash = t.indexOf('\\');
    const colon = t.lastIndexOf(':');
    if (slash < 0) throw bad('no backslash between domain and user');
    if (colon < slash) throw bad('no colon before the NT hash');
    const domain = t.slice(0, slash);
    const user = t.slice(slash + 1, colon);
    const hash = t.slice(colon + 1);
    const why = badDomain(domain) ?? badUser(user);
    if (why !== null) throw bad(why);
    if (!HASH.test(hash)) throw bad(hash.length === 32 ? 'the NT hash is not hexadecimal' : `the NT hash has ${hash.length} characters, not 32`);
    const key = accountKey(domain, user);
    const dup = seen.get(key);
    if (dup !== undefined) throw new AccountFileError(`${name}: line ${n}: ${domain}\\${user} is already on line ${dup}`);
    seen.set(key, n);
    out.push({ kind: 'account', account: { domain, user, ntHash: Buffer.from(hash, 'hex'), line: n }, text: textLine });
  });
  return out;
}

export function parseAccountFile(text: string, name: string): Account[] {
  return parseAccountLines(text, name).flatMap((l) => (l.kind === 'account' ? [l.account] : []));
}

/** The account line for the file. */
export function formatAccount(a: { domain: string; user: string; ntHash: Buffer }): string {
  const why = badDomain(a.domain) ?? badUser(a.user);
  if (why !== null) throw new AccountFileError(`${a.domain}\\${a.user}: ${why}`);
  if (a.ntHash.length !== 16) throw new AccountFileError('an NT hash has 16 bytes');
  return `${a.domain}\\${a.user}:${a.ntHash.toString('hex')}`;
}

/** What identifies one version of the file: a change of any of these means it must be read again. */
export interface FileStamp {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

export function sameStamp(a: FileStamp | null, b: FileStamp | null): boolean {
  return a !== null && b !== null && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

function stampOf(st: fs.Stats): FileStamp {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

function modeText(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

/** Refuses what witnessd must not read passwords from; the message says what to do. */
export function checkAccountFileStat(file: string, st: fs.Stats): void {
  if (!st.isFile()) throw new AccountFileError(`${file}: not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new AccountFileError(`${file}: mode ${modeText(st.mode)} gives group or others access to the NT hashes; it must be 0600 or stricter (chmod 600 ${file})`);
  }
  const uid = process.geteuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== uid) throw new AccountFileError(`${file}: owned by uid ${st.uid}, neither root nor the user witnessd runs as (uid ${uid})`);
  if (st.size > MAX_ACCOUNT_FILE_BYTES) throw new AccountFileError(`${file}: ${st.size} bytes; at most ${MAX_ACCOUNT_FILE_BYTES} are read`);
}

export interface AccountFileContents {
  lines: AccountLine[];
  accounts: Account[];
  stamp: FileStamp;
}

/**
 * Reads and checks the file (permissions checked on the opened file, so a file replaced between
 * the check and the read is not a way around it). Throws AccountFileError, or the fs error with
 * code ENOENT when there is no file.
 */
export async function readAccountFile(file: string): Promise<AccountFileContents> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw e;
    throw new AccountFileError(`${file}: ${e.code ?? ''} ${e.message}`.trim());
  }
  try {
    const st = await fh.stat();
    checkAccountFileStat(file, st);
    const buf = Buffer.alloc(MAX_ACCOUNT_FILE_BYTES + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got > MAX_ACCOUNT_FILE_BYTES) throw new AccountFileError(`${file}: more than ${MAX_ACCOUNT_FILE_BYTES} bytes`);
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, got));
    } catch {
      throw new AccountFileError(`${file}: not UTF-8 text`);
    } finally {
      buf.fill(0);
    }
    const lines = parseAccountLines(text, file);
    return { lines, accounts: lines.flatMap((l) => (l.kind === 'account' ? [l.account] : [])), stamp: stampOf(st) };
  } finally {
    await fh.close();
  }
}

/** The file's identity now (following symlinks), or null when it cannot be seen. */
export async function statAccountFile(file: string): Promise<FileStamp | null> {
  try {
    return stampOf(await fs.promises.stat(file));
  } catch {
    return null;
  }
}

/**
 * Replaces the file's contents atomically: a new file (mode 0600) in the same directory, written,
 * flushed to disk, then renamed over the old one. A symlink at `file` is replaced by the new file.
 */
export async function writeAccountFileAtomic(file: string, text: string): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  const fh = await fs.promises.open(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    try {
      await fh.chmod(0o600); // whatever the umask
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  try {
    const d = await fs.promises.open(dir, fs.constants.O_RDONLY);
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // a directory that cannot be fsync'd (some file systems): the rename is done all the same
  }
}
