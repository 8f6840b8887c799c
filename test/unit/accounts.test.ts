// The local account file: its format, the refusal of files others can read, AccountFileSource's
// NTLMv2 checks and re-reads, and witnessctl user add|del|list (run as a process: through a pipe
// and through a pseudo-terminal).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { SecurityError } from '../../service/auth/context.ts';
import type { NtlmResponseCheck } from '../../service/auth/credentials.ts';
import { ntHash } from '../../service/auth/crypto/md4.ts';
import { AccountFileError, MAX_ACCOUNT_FILE_BYTES, parseAccountFile, parsePrincipal, readAccountFile, writeAccountFileAtomic } from '../../service/auth/accounts/file.ts';
import { AccountFileSource } from '../../service/auth/accounts/source.ts';
import { PASSWORD_NT_HASH, ntlmv2Response } from '../helpers/ntlmv2.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HASH = PASSWORD_NT_HASH.toString('hex');

function tmpdir(t: { after: (f: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-accounts-'));
  t.after(() => { fs.rmSync(d, { recursive: true, force: true }); });
  return d;
}

function writeSecure(file: string, text: string, mode = 0o600): void {
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
}

/** A pino logger whose lines are kept. */
function memoryLogger(): { logger: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as { level: number; msg: string }); } });
  return { logger, lines };
}

async function until(what: string, f: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  return assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof SecurityError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

describe('account file format', () => {
  it('reads accounts, skips comments and blank lines, accepts CRLF, a BOM and upper-case hex', () => {
    const text = `\uFEFF# comment\n\n   # indented comment\r\nTESTDOM\\alice:${HASH}\r\n  Other.Dom\\Bob Smith:${HASH.toUpperCase()}  \nX\\carol@example.com:${HASH}`;
    const accounts = parseAccountFile(text, 'f');
    assert.deepEqual(accounts.map((a) => [a.domain, a.user, a.ntHash.toString('hex'), a.line]), [
      ['TESTDOM', 'alice', HASH, 4],
      ['Other.Dom', 'Bob Smith', HASH, 5],
      ['X', 'carol@example.com', HASH, 6],
    ]);
  });

  for (const [name, line, why] of [
    ['no backslash', `alice:${HASH}`, /line 2: no backslash/],
    ['no colon', 'D\\alice', /line 2: no colon/],
    ['a short hash', 'D\\alice:abcd', /line 2: the NT hash has 4 characters, not 32/],
    ['a non-hex hash', `D\\alice:${'g'.repeat(32)}`, /line 2: the NT hash is not hexadecimal/],
    ['an empty domain', `\\alice:${HASH}`, /line 2: the domain is empty/],
    ['an empty user', `D\\:${HASH}`, /line 2: the user name is empty/],
    ['a colon in the user', `D\\al:ice:${HASH}`, /line 2: the user name contains a backslash or a colon/],
    ['a second backslash', `D\\a\\b:${HASH}`, /line 2: the user name contains a backslash or a colon/],
    ['a control character', `D\\al\u0001ice:${HASH}`, /line 2: the user name contains a control character/],
  ] as const) {
    it(`names the line of ${name}`, () => {
      assert.throws(() => parseAccountFile(`# ok\n${line}\n`, '/etc/x/accounts'), (err: unknown) => {
        assert.ok(err instanceof AccountFileError);
        assert.match(err.message, /^\/etc\/x\/accounts: /);
        assert.match(err.message, why);
        return true;
      });
    });
  }

  it('refuses the same DOMAIN\\user twice, whatever the case, naming both lines', () => {
    assert.throws(() => parseAccountFile(`D\\alice:${HASH}\n# x\nd\\ALICE:${HASH}\n`, 'f'), /f: line 3: d\\ALICE is already on line 1/);
  });

  it('parses DOMAIN\\user from the command line', () => {
    assert.deepEqual(parsePrincipal('TESTDOM\\alice'), { domain: 'TESTDOM', user: 'alice' });
    assert.throws(() => parsePrincipal('alice'), /give the account as DOMAIN\\user/);
    assert.throws(() => parsePrincipal('D\\'), /the user name is empty/);
    assert.throws(() => parsePrincipal('#D\\x'), /starts with '#'/);
  });
});

describe('reading the account file', () => {
  it('refuses a file group or others can read, naming the file and its mode', async (t) => {
    const d = tmpdir(t);
    const f = path.join(d, 'accounts');
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      writeSecure(f, `D\\alice:${HASH}\n`, mode);
      await assert.rejects(readAccountFile(f), (err: unknown) => {
        assert.ok(err instanceof AccountFileError);
        assert.equal(err.message, `${f}: mode 0${mode.toString(8)} gives group or others access to the NT hashes; it must be 0600 or stricter (chmod 600 ${f})`);
        return true;
      });
    }
    writeSecure(f, `D\\alice:${HASH}\n`, 0o400);
    assert.equal((await readAccountFile(f)).accounts.length, 1);
  });

  it('refuses what is not a regular file, and more than 1 MiB; says when there is no file', async (t) => {
    const d = tmpdir(t);
    const dir = path.join(d, 'adir');
    fs.mkdirSync(dir, { mode: 0o700 });
    await assert.rejects(readAccountFile(dir), /adir: not a regular file/);
    const fifo = path.join(d, 'fifo');
    assert.equal(spawnSync('mkfifo', ['-m', '600', fifo]).status, 0);
    await assert.rejects(readAccountFile(fifo), /fifo: not a regular file/);
    const big = path.join(d, 'big');
    writeSecure(big, `${'#'.repeat(MAX_ACCOUNT_FILE_BYTES)}\n`);
    await assert.rejects(readAccountFile(big), new RegExp(`big: ${MAX_ACCOUNT_FILE_BYTES + 1} bytes; at most ${MAX_ACCOUNT_FILE_BYTES} are read`));
    await assert.rejects(readAccountFile(path.join(d, 'none')), { code: 'ENOENT' });
    const link = path.join(d, 'link');
    const real = path.join(d, 'real');
    writeSecure(real, `D\\alice:${HASH}\n`);
    fs.symlinkSync(real, link);
    assert.equal((await readAccountFile(link)).accounts.length, 1, 'a symlink to a good file is followed');
  });

  it('refuses a file that is not UTF-8, or has too many lines', async (t) => {
    const d = tmpdir(t);
    const f = path.join(d, 'accounts');
    fs.writeFileSync(f, Buffer.from([0x44, 0x5c, 0xff, 0xfe, 0x3a]), { mode: 0o600 });
    await assert.rejects(readAccountFile(f), /not UTF-8 text/);
    writeSecure(f, '\n'.repeat(100_001));
    await assert.rejects(readAccountFile(f), /100001 lines; at most 100000 are read/);
  });

  it('AccountFileSource.open refuses a 0644 file (witnessd does not start)', async (t) => {
    const d = tmpdir(t);
    const f = path.join(d, 'accounts');
    writeSecure(f, `D\\alice:${HASH}\n`, 0o644);
    const { logger } = memoryLogger();
    await assert.rejects(AccountFileSource.open({ path: f, logger }), /mode 0644 gives group or others access/);
    await assert.rejects(AccountFileSource.open({ path: path.join(d, 'missing'), logger }), { code: 'ENOENT' });
  });
});

describe('AccountFileSource.verify', () => {
  let dir: string;
  let src: AccountFileSource;
  const bobHash = ntHash('b0b-Secret');
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-accounts-'));
    const f = path.join(dir, 'accounts');
    writeSecure(f, [`TestDom\\Alice:${HASH}`, `OTHER\\bob:${ntHash('other-password').toString('hex')}`, `TESTDOM\\bob:${bobHash.toString('hex')}`].join('\n'));
    src = await AccountFileSource.open({ path: f, logger: memoryLogger().logger });
  });
  after(async () => {
    await src.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('accepts the right password: the session base key as the client computes it, the identity as the file spells it', async () => {
    const r = ntlmv2Response({ ntHash: PASSWORD_NT_HASH, user: 'ALICE', domain: 'testdom', workstation: 'WS1' });
    const v = await src.verify(r.check);
    assert.deepEqual(v.sessionBaseKey, r.sessionBaseKey);
    assert.deepEqual(v.identity, { domain: 'TestDom', user: 'Alice', workstation: 'WS1', groups: [] });
  });

  it('a client that sends no domain matches the user in any domain; the right hash picks the account', async () => {
    const alice = ntlmv2Response({ ntHash: PASSWORD_NT_HASH, user: 'alice', domain: '' });
    assert.equal((await src.verify(alice.check)).identity.domain, 'TestDom');
    const bob = ntlmv2Response({ ntHash: bobHash, user: 'bob', domain: '' });
    const v = await src.verify(bob.check);
    assert.deepEqual([v.identity.domain, v.identity.user], ['TESTDOM', 'bob']);
    assert.deepEqual(v.sessionBaseKey, bob.sessionBaseKey);
    await rejectsWith(src.verify(ntlmv2Response({ ntHash: PASSWORD_NT_HASH, user: 'bob', domain: '' }).check), 'logon-failure', /wrong password for bob \(tried the accounts of OTHER, TESTDOM\)/);
  });

  it('wrong password and unknown user are both logon-failure, and the message says which', async () => {
    await rejectsWith(src.verify(ntlmv2Response({ ntHash: ntHash('nope'), user: 'alice', domain: 'TESTDOM' }).check), 'logon-failure', /^accounts: wrong password for TESTDOM\\alice$/);
    await rejectsWith(src.verify(ntlmv2Response({ ntHash: PASSWORD_NT_HASH, user: 'mallory', domain: 'TESTDOM' }).check), 'logon-failure', /^accounts: no account TESTDOM\\mallory in /);
    await rejectsWith(src.verify(ntlmv2Response({ ntHash: PASSWORD_NT_HASH, user: 'alice', domain: 'ELSEWHERE' }).check), 'logon-failure', /no account ELSEWHERE\\alice/);
    // the domain the client sent is the one its response was computed with
    await rejectsWith(src.verify(ntlmv2Response({ ntHash: PASSWORD_NT_HASH, user: 'alice', domain: 'TESTDOM', hashDomain: 'OTHER' }).check), 'logon-failure', /wrong password/);
    const short: NtlmResponseCheck = { ...ntlmv2Response({ ntHash: PASSWORD_NT_HASH, user: 'alice', domain: 'TESTDOM' }).check, ntResponse: Buffer.alloc(24) };
    await rejectsWith(src.verify(short), 'logon-failure', /wrong password for TESTDOM\\alice: .*NT response of 24 bytes is not an NTLMv2 response/);
  });

  it('an unknown user costs the same NTLMv2 computation as a wrong password', async (t) => {
    const f = path.join(tmpdir(t), 'accounts');
    writeSecure(f, `D\\alice:${HASH}\n`);
    let calls = 0;
    const s = await AccountFileSource.open({ path: f, logger: memoryLogger().logger, verifier: () => { calls++; throw new SecurityError('logon-failure', 'wrong password'); } });
    t.after(() => s.close());
    await rejectsWith(s.verify(ntlmv2Response({ ntHash: PASSWORD_NT_HASH, user: 'nobody', domain: 'D' }).check), 'logon-failure', /no account/);
    await rejectsWith(s.verify(ntlmv2Response({ ntHash: PASSWORD_NT_HASH, user: 'alice', domain: 'D' }).check), 'logon-failure', /wrong password/);
    assert.equal(calls, 2);
  });
});

describe('AccountFileSource re-reads its file', () => {
  it('takes a new file renamed into place, keeps the old accounts when the new version is insecure, bad or gone', async (t) => {
    const d = tmpdir(t);
    const f = path.join(d, 'accounts');
    writeSecure(f, `D\\alice:${HASH}\n`);
    const { logger, lines } = memoryLogger();
    const src = await AccountFileSource.open({ path: f, logger, pollMs: 0 });
    t.after(() => src.close());
    const events: boolean[] = [];
    src.onReload((ok) => events.push(ok));
    const alice = (): Promise<unknown> => src.verify(ntlmv2Response({ ntHash: PASSWORD_NT_HASH, user: 'alice', domain: 'D' }).check);
    const bob = (): Promise<unknown> => src.verify(ntlmv2Response({ ntHash: PASSWORD_NT_HASH, user: 'bob', domain: 'D' }).check);
    await alice();
    await rejectsWith(bob(), 'logon-failure', /no account/);

    // witnessctl's way: a new file renamed over the old one
    await writeAccountFileAtomic(f, `D\\alice:${HASH}\nD\\bob:${HASH}\n`);
    await until('the new file', () => events.length === 1);
    assert.deepEqual(events, [true]);
    assert.deepEqual(src.principals(), ['D\\alice', 'D\\bob']);
    await bob();

    // made readable by others: refused, old accounts kept, an error logged
    fs.chmodSync(f, 0o644);
    await until('the chmod', () => events.length === 2);
    assert.equal(events[1], false);
    await bob();
    const err = lines.find((l) => l.level === 50);
    assert.match(err?.msg ?? '', /changed account file not used, keeping the 2 accounts read before: .*mode 0644 gives group or others access/);
    fs.chmodSync(f, 0o600);
    await until('the chmod back', () => events.length === 3);
    assert.equal(events[2], true);

    // edited in place with a bad line
    fs.appendFileSync(f, 'garbage\n');
    await until('the bad line', () => events.length === 4);
    assert.equal(events[3], false);
    assert.match(lines.filter((l) => l.level === 50).at(-1)?.msg ?? '', /accounts: line 3: no backslash/);
    await bob();

    // removed
    fs.rmSync(f);
    await until('the removal', () => events.length === 5);
    assert.equal(events[4], false);
    assert.match(lines.filter((l) => l.level === 50).at(-1)?.msg ?? '', /no such file/);
    await alice();

    // back, with alice only
    writeSecure(f, `D\\alice:${HASH}\n`);
    await until('the new file', () => events.length >= 6 && events.at(-1) === true);
    await rejectsWith(bob(), 'logon-failure', /no account/);
    await alice();
  });

  it('the backup poll notices a change without the directory watch', async (t) => {
    const d = tmpdir(t);
    const f = path.join(d, 'accounts');
    writeSecure(f, `D\\alice:${HASH}\n`);
    const src = await AccountFileSource.open({ path: f, logger: memoryLogger().logger, pollMs: 50 });
    t.after(() => src.close());
    // @ts-expect-error -- reaching in to stop the watch, so that only the poll is left
    (src.watcher as fs.FSWatcher).close();
    fs.appendFileSync(f, `D\\bob:${HASH}\n`);
    await until('the poll', () => src.size === 2);
  });
});

/** witnessctl from source, as the other witnessctl tests run it. */
function ctl(args: string[], input?: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'service/ctl/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000, input: input ?? '' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** witnessctl under a pseudo-terminal (python3's pty), typing `keys` after each prompt that matches. */
function ctlTty(args: string[], keys: [RegExp, string][]): { code: number; out: string } {
  const script = `
import os, pty, sys, time, select, json, re
steps = json.loads(sys.argv[1]); argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = b''
def pump(deadline, pat=None):
    global out
    while time.time() < deadline:
        if pat is not None and re.search(pat, out.decode('utf-8', 'replace')): return True
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                return False
            if not d: return False
            out += d
    return False
for pat, keys in steps:
    if not pump(time.time() + 20, pat): break
    out_len = len(out)
    os.write(fd, keys.encode())
pump(time.time() + 20)
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf-8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(st))
`;
  const steps = JSON.stringify(keys.map(([re, k]) => [re.source, k]));
  const r = spawnSync('/usr/bin/python3', ['-c', script, steps, process.execPath, '--import', 'tsx', path.join(ROOT, 'service/ctl/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

describe('witnessctl user', { timeout: 120_000 }, () => {
  it('add (password on standard input) creates a 0600 file; list shows DOMAIN\\user, never the hash; del removes', async (t) => {
    const d = tmpdir(t);
    const f = path.join(d, 'accounts');
    const add = ctl(['user', 'add', 'TESTDOM\\alice', '--accounts', f], 'Password\n');
    assert.equal(add.code, 0, add.err);
    assert.equal(add.out, `added TESTDOM\\alice to ${f}\n`);
    assert.equal(fs.statSync(f).mode & 0o777, 0o600);
    const accounts = (await readAccountFile(f)).accounts;
    assert.deepEqual(accounts.map((a) => [a.domain, a.user, a.ntHash.toString('hex')]), [['TESTDOM', 'alice', HASH]]);
    assert.equal(ctl(['user', 'add', 'Other\\Bob Smith', '--accounts', f], 'pässword\r\nignored second line\n').code, 0);
    assert.deepEqual((await readAccountFile(f)).accounts[1]?.ntHash, ntHash('pässword'));

    const list = ctl(['user', 'list', '--accounts', f]);
    assert.equal(list.out, 'TESTDOM\\alice\nOther\\Bob Smith\n');
    assert.ok(!list.out.includes(HASH));
    assert.deepEqual(JSON.parse(ctl(['user', 'list', '--accounts', f, '--json']).out), [{ domain: 'TESTDOM', user: 'alice' }, { domain: 'Other', user: 'Bob Smith' }]);

    // a second add changes the password in place, keeping the comments and the order
    const before = fs.readFileSync(f, 'utf8');
    assert.equal(ctl(['user', 'add', 'testdom\\ALICE', '--accounts', f], 'new one\n').out, `changed the password of testdom\\ALICE in ${f}\n`);
    const after = fs.readFileSync(f, 'utf8');
    assert.equal(after, before.replace(`TESTDOM\\alice:${HASH}`, `testdom\\ALICE:${ntHash('new one').toString('hex')}`));
    assert.ok(after.startsWith('#'), 'the header comment is kept');
    assert.deepEqual(fs.readdirSync(d), ['accounts'], 'no temporary file left behind');

    const del = ctl(['user', 'del', 'TESTDOM\\alice', '--accounts', f]);
    assert.equal(del.out, `removed testdom\\ALICE from ${f}\n`);
    assert.equal(ctl(['user', 'list', '--accounts', f]).out, 'Other\\Bob Smith\n');
    const again = ctl(['user', 'del', 'TESTDOM\\alice', '--accounts', f]);
    assert.equal(again.code, 1);
    assert.match(again.err, /no account TESTDOM\\alice/);
  });

  it('refuses bad input and insecure files without changing anything', (t) => {
    const d = tmpdir(t);
    const f = path.join(d, 'accounts');
    const empty = ctl(['user', 'add', 'D\\alice', '--accounts', f], '\n');
    assert.equal(empty.code, 1);
    assert.match(empty.err, /an empty password is refused/);
    assert.ok(!fs.existsSync(f));
    assert.match(ctl(['user', 'add', 'alice', '--accounts', f], 'pw\n').err, /give the account as DOMAIN\\user/);
    assert.match(ctl(['user', 'list', '--accounts', f]).err, /no such file/);
    writeSecure(f, `D\\alice:${HASH}\n`, 0o644);
    const r = ctl(['user', 'add', 'D\\bob', '--accounts', f], 'pw\n');
    assert.equal(r.code, 1);
    assert.match(r.err, /mode 0644 gives group or others access/);
    assert.equal(fs.readFileSync(f, 'utf8'), `D\\alice:${HASH}\n`);
    assert.equal(ctl(['user', 'list', '--accounts', f]).code, 1);
  });

  it('add on a terminal asks twice without echo; two different passwords change nothing', (t) => {
    const d = tmpdir(t);
    const f = path.join(d, 'accounts');
    const ok = ctlTty(['user', 'add', 'D\\bob', '--accounts', f], [[/New password for D\\bob: /, 'Passwo\x7Ford\r'], [/Retype it: /, 'Password\r']]);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /added D\\bob to /);
    assert.ok(!ok.out.includes('Passw'), `the password was echoed: ${JSON.stringify(ok.out)}`);
    assert.deepEqual(fs.readFileSync(f, 'utf8').trim().split('\n').at(-1), `D\\bob:${HASH}`);

    const differ = ctlTty(['user', 'add', 'D\\bob', '--accounts', f], [[/New password/, 'one\r'], [/Retype it: /, 'two\r']]);
    assert.equal(differ.code, 1);
    assert.match(differ.out, /the two passwords differ; nothing changed/);
    assert.equal(fs.readFileSync(f, 'utf8').trim().split('\n').at(-1), `D\\bob:${HASH}`);

    const cancelled = ctlTty(['user', 'add', 'D\\carol', '--accounts', f], [[/New password/, 'abc\x03']]);
    assert.equal(cancelled.code, 1);
    assert.match(cancelled.out, /cancelled/);
  });
});
