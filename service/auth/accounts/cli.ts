// `witnessctl user add|del|list`: edits the local account file (format: ./file.ts). Passwords are
// asked twice without echo on a terminal, or read as one line from standard input otherwise (for
// scripts: `printf '%s\n' "$pw" | witnessctl user add 'DOM\alice'`). Only the NT hash is stored;
// `list` never shows it. Every change writes a whole new file (mode 0600) and renames it into
// place, so a running witnessd sees either the old or the new file, and reads it again by itself.
// Two witnessctl runs changing the same file at the same moment may lose one change.

import { Command, Option } from 'commander';
import { ntHash } from '../crypto/md4.ts';
import {
  AccountFileError,
  DEFAULT_ACCOUNTS_PATH,
  accountKey,
  formatAccount,
  parsePrincipal,
  readAccountFile,
  writeAccountFileAtomic,
  type AccountLine,
} from './file.ts';

const HEADER = [
  '# pacemaker-witness NTLM accounts, one per line: DOMAIN\\user:<NT hash, 32 hex digits>.',
  '# Domain and user match case-insensitively. Keep this file mode 0600; edit it with witnessctl user.',
];

/** Longest password accepted (Windows allows 256 characters). */
const MAX_PASSWORD = 256;

async function readLines(file: string, create: boolean): Promise<AccountLine[]> {
  try {
    return (await readAccountFile(file)).lines;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (create) return HEADER.map((text) => ({ kind: 'other', text }));
      throw new AccountFileError(`${file}: no such file`);
    }
    throw err;
  }
}

function render(lines: AccountLine[]): string {
  return lines.map((l) => `${l.text}\n`).join('');
}

/** Where a password comes from: tests pass their own. */
export interface PasswordInput {
  stdin: NodeJS.ReadStream;
  stderr: NodeJS.WriteStream;
}

/** Reads one line from a pipe or file: up to the first newline (or the end), without it. */
async function readLineFromPipe(stdin: NodeJS.ReadableStream): Promise<string> {
  let got = '';
  stdin.setEncoding('utf8');
  for await (const chunk of stdin) {
    got += chunk as string;
    const nl = got.indexOf('\n');
    if (nl >= 0) {
      got = got.slice(0, nl);
      break;
    }
    if (got.length > MAX_PASSWORD * 4) break;
  }
  return got.endsWith('\r') ? got.slice(0, -1) : got;
}

/**
 * Reads passwords from a terminal with echo off (raw mode): Enter ends one, Backspace deletes,
 * Ctrl-C or Ctrl-D cancels. Typed-ahead input (a paste of both) carries over to the next prompt.
 */
class TerminalReader {
  private buffered = '';
  private waiting: ((chunk: string | null) => void) | null = null;
  private readonly onData = (d: string | Buffer): void => {
    const s = typeof d === 'string' ? d : d.toString('utf8');
    this.buffered += s;
    const w = this.waiting;
    this.waiting = null;
    w?.(s);
  };
  private readonly onEnd = (): void => {
    const w = this.waiting;
    this.waiting = null;
    w?.(null);
  };
  private readonly io: PasswordInput;
  constructor(io: PasswordInput) {
    this.io = io;
    io.stdin.setRawMode(true);
    io.stdin.on('data', this.onData);
    io.stdin.on('end', this.onEnd);
    io.stdin.resume();
  }

  async ask(prompt: string): Promise<string> {
    this.io.stderr.write(prompt);
    let pw = '';
    for (;;) {
      while (this.buffered === '') {
        const got = await new Promise<string | null>((resolve) => {
          this.waiting = resolve;
        });
        if (got === null && this.buffered === '') throw new Error('no password given (end of input)');
      }
      const cp = this.buffered.codePointAt(0) ?? 0;
      const ch = String.fromCodePoint(cp);
      this.buffered = this.buffered.slice(ch.length);
      if (ch === '\r' || ch === '\n') {
        this.io.stderr.write('\n');
        return pw;
      }
      if (ch === '\u0003') {
        this.io.stderr.write('\n');
        throw new Error('cancelled');
      }
      if (ch === '\u0004') {
        if (pw === '') {
          this.io.stderr.write('\n');
          throw new Error('cancelled');
        }
        continue;
      }
      if (ch === '\u007f' || ch === '\b') {
        pw = pw.replace(/.$/u, '');
        continue;
      }
      if (cp < 0x20) continue; // other control keys (and escape sequences' ESC)
      pw += ch;
      if (pw.length > MAX_PASSWORD) throw new Error(`a password has at most ${MAX_PASSWORD} characters`);
    }
  }

  close(): void {
    this.io.stdin.off('data', this.onData);
    this.io.stdin.off('end', this.onEnd);
    this.io.stdin.setRawMode(false);
    this.io.stdin.pause();
  }
}

/** The new password: asked twice on a terminal, one line of standard input otherwise. */
export async function readNewPassword(who: string, io: PasswordInput = { stdin: process.stdin, stderr: process.stderr }): Promise<string> {
  let pw: string;
  if (io.stdin.isTTY) {
    const t = new TerminalReader(io);
    try {
      pw = await t.ask(`New password for ${who}: `);
      const again = await t.ask('Retype it: ');
      if (again !== pw) throw new Error('the two passwords differ; nothing changed');
    } finally {
      t.close();
    }
  } else {
    pw = await readLineFromPipe(io.stdin);
  }
  if (pw === '') throw new Error('an empty password is refused; nothing changed');
  if (pw.length > MAX_PASSWORD) throw new Error(`a password has at most ${MAX_PASSWORD} characters; nothing changed`);
  return pw;
}

/** Adds the account, or changes its password when it is there already. Returns what was done. */
export async function addUser(file: string, principal: string, password: string): Promise<'added' | 'changed'> {
  const { domain, user } = parsePrincipal(principal);
  const lines = await readLines(file, true);
  const key = accountKey(domain, user);
  const text = formatAccount({ domain, user, ntHash: ntHash(password) });
  const at = lines.findIndex((l) => l.kind === 'account' && accountKey(l.account.domain, l.account.user) === key);
  if (at >= 0) lines[at] = { kind: 'other', text };
  else lines.push({ kind: 'other', text });
  await writeAccountFileAtomic(file, render(lines));
  return at >= 0 ? 'changed' : 'added';
}

/** Removes the account; returns its spelling in the file. Throws when it is not there. */
export async function delUser(file: string, principal: string): Promise<string> {
  const { domain, user } = parsePrincipal(principal);
  const lines = await readLines(file, false);
  const key = accountKey(domain, user);
  const at = lines.findIndex((l) => l.kind === 'account' && accountKey(l.account.domain, l.account.user) === key);
  const found = lines[at];
  if (found?.kind !== 'account') throw new AccountFileError(`${file}: no account ${domain}\\${user}`);
  lines.splice(at, 1);
  await writeAccountFileAtomic(file, render(lines));
  return `${found.account.domain}\\${found.account.user}`;
}

export async function listUsers(file: string): Promise<{ domain: string; user: string }[]> {
  const lines = await readLines(file, false);
  return lines.flatMap((l) => (l.kind === 'account' ? [{ domain: l.account.domain, user: l.account.user }] : []));
}

/** `witnessctl user ...`. */
export function userCommand(): Command {
  const cmd = new Command('user').description('local NTLM accounts in witnessd\'s account file (clusters without a Samba domain)').showHelpAfterError();
  const accounts = (): Option => new Option('--accounts <file>', 'account file').default(DEFAULT_ACCOUNTS_PATH);

  cmd
    .command('add')
    .description('add an account or change its password (asked twice on a terminal, else one line of standard input)')
    .argument('<account>', 'DOMAIN\\user')
    .addOption(accounts())
    .action(async (principal: string, o: { accounts: string }) => {
      const { domain, user } = parsePrincipal(principal);
      await readLines(o.accounts, true); // a file that cannot be used is refused before the password is asked
      const pw = await readNewPassword(`${domain}\\${user}`);
      const done = await addUser(o.accounts, principal, pw);
      process.stdout.write(done === 'added' ? `added ${domain}\\${user} to ${o.accounts}\n` : `changed the password of ${domain}\\${user} in ${o.accounts}\n`);
    });

  cmd
    .command('del')
    .description('remove an account')
    .argument('<account>', 'DOMAIN\\user')
    .addOption(accounts())
    .action(async (principal: string, o: { accounts: string }) => {
      const removed = await delUser(o.accounts, principal);
      process.stdout.write(`removed ${removed} from ${o.accounts}\n`);
    });

  cmd
    .command('list')
    .description('the accounts, as DOMAIN\\user (never their hashes)')
    .addOption(accounts())
    .option('--json', 'JSON output')
    .action(async (o: { accounts: string; json?: boolean }) => {
      const users = await listUsers(o.accounts);
      process.stdout.write(o.json === true ? `${JSON.stringify(users)}\n` : users.length === 0 ? 'no accounts\n' : users.map((u) => `${u.domain}\\${u.user}\n`).join(''));
    });
  return cmd;
}
