// The README's first command: bin/witness-demo serves a witness that real clients can register
// with once they authenticate with the account it prints, and a failover of the simulated cluster
// reaches them. The rpcclient commands it prints are run as printed (through bash); an anonymous
// client is refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ChangeType, MessageType, WitnessVersion } from '../../service/swn/constants.ts';
import { requireBuild } from '../cluster/harness.ts';
import { freePort, ROOT, runPy } from './peers.ts';


/** A printed shell command, run as printed. */
function shell(line: string): { code: number; out: string } {
  const r = spawnSync('bash', ['-c', line], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** The printed interactive rpcclient command, fed commands one at a time. */
class Interactive {
  private readonly p: ChildProcessWithoutNullStreams;
  private buf = '';
  constructor(line: string) {
    this.p = spawn('bash', ['-c', `exec ${line}`]);
    this.p.stdout.on('data', (d: Buffer) => { this.buf += d.toString(); });
    this.p.stderr.on('data', (d: Buffer) => { this.buf += d.toString(); });
  }

  async run(cmd: string, done: RegExp, timeoutMs: number): Promise<string> {
    this.buf = '';
    this.p.stdin.write(`${cmd}\n`);
    const t0 = Date.now();
    while (!done.test(this.buf)) {
      if (this.p.exitCode !== null || Date.now() - t0 > timeoutMs) throw new Error(`rpcclient: no answer to ${JSON.stringify(cmd)}: ${JSON.stringify(this.buf)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.buf;
  }

  async close(): Promise<void> {
    const closed = new Promise((r) => this.p.once('close', r));
    if (this.p.exitCode === null) this.p.stdin.end('quit\n');
    const timer = setTimeout(() => this.p.kill('SIGKILL'), 3000);
    await closed;
    clearTimeout(timer);
  }
}

describe('bin/witness-demo', { timeout: 90_000 }, () => {
  it('starts with authentication on; the printed rpcclient commands work with the printed account, an anonymous client is refused, and a failover completes a pending AsyncNotify; Ctrl-C cleans up', async () => {
    requireBuild();
    const port = await freePort(24000 + (process.pid % 4000));
    const demo = spawn(path.join(ROOT, 'bin/witness-demo'), ['--interval', '2', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    demo.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    demo.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    try {
      const t0 = Date.now();
      while (!out.includes('Ctrl-C stops everything')) {
        if (demo.exitCode !== null || Date.now() - t0 > 30_000) throw new Error(`demo did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const lines = out.split('\n').map((l) => l.trim());
      const account = /^account\s+(\S+)\\(\S+)\s+password\s+(\S+)/m.exec(lines.join('\n'));
      assert.ok(account, `the demo prints its account:\n${out}`);
      const [, domain = '', user = '', password = ''] = account;
      assert.equal(`${domain}\\${user}`, 'DEMO\\demo');
      const dir = /store\s+(\S+)\/state\.db/.exec(out)?.[1] ?? '';
      assert.equal(fs.statSync(path.join(dir, 'accounts')).mode & 0o777, 0o600, 'the account file is private');

      // python3-samba with the printed account, signed: served; anonymous: refused.
      const creds = { user, password, domain, options: ['sign'] };
      const r = await runPy([
        { op: 'connect', conn: 'a', port, ...creds },
        { op: 'GetInterfaceList', conn: 'a' },
        { op: 'RegisterEx', conn: 'a', version: WitnessVersion.V2, net: 'FILESRV', share: 'data', ip: '127.0.0.12', client: 'demo-client', flags: 0, timeout: 30, save: 'h' },
        { op: 'AsyncNotify', conn: 'a', handle: 'h' },
      ]);
      assert.deepEqual((r[1]?.['interfaces'] as { ipv4: string }[] | undefined)?.map((i) => i.ipv4), ['127.0.0.1', '127.0.0.11', '127.0.0.12'], JSON.stringify(r));
      assert.equal(r[2]?.werror, 0);
      const n = r[3]?.['result'] as { type: number; messages: { name?: string; change?: number }[] } | undefined;
      assert.ok(n, JSON.stringify(r[3]));
      // The data IP moved (UNAVAILABLE first) or its share moved, whichever reached this client first.
      if (n.type === MessageType.RESOURCE_CHANGE) assert.deepEqual(n.messages[0], { name: 'FILESRV', change: ChangeType.UNAVAILABLE });
      else assert.equal(n.type, MessageType.SHARE_MOVE);
      const anon = await runPy([{ op: 'connect', conn: 'a', port }, { op: 'GetInterfaceList', conn: 'a' }]);
      assert.match(String(anon[1]?.['error']), /Access Denied|ACCESS_DENIED/i, JSON.stringify(anon));

      // The printed rpcclient commands, which find the witness through the endpoint mapper on
      // 135: the demo serves one only as root.
      if (process.getuid?.() !== 0) {
        assert.match(out, /not root: no endpoint mapper on 135/);
        return;
      }
      const list = lines.find((l) => /^rpcclient -U '[^']+%[^']+' -c GetInterfaceList '[^']+\[sign\]'$/.test(l));
      assert.ok(list !== undefined, `a GetInterfaceList command with the account and [sign]:\n${out}`);
      const listed = shell(list);
      assert.equal(listed.code, 0, listed.out);
      assert.match(listed.out, /^ \+ DEMO1 127\.0\.0\.1 /m); // demo1's own address
      assert.match(listed.out, /^[ *]\+ DEMO[12] 127\.0\.0\.11 /m);
      assert.match(listed.out, /^[ *]\+ DEMO[12] 127\.0\.0\.12 /m);

      const anonLine = lines.find((l) => l.startsWith('rpcclient -U% '));
      assert.ok(anonLine !== undefined, out);
      const refused = shell(anonLine);
      assert.notEqual(refused.code, 0, refused.out);
      assert.match(refused.out, /ACCESS_DENIED/);

      const interactive = lines.find((l) => /^rpcclient -U '[^']+%[^']+' '[^']+\[sign\]'$/.test(l));
      const register = /then:\s+(RegisterEx .*)$/m.exec(out)?.[1];
      assert.ok(interactive !== undefined && register !== undefined, `the interactive recipe:\n${out}`);
      const s = new Interactive(interactive);
      try {
        const handle = /^(\d+:[0-9a-f-]{36})$/m.exec(await s.run(register, /^\d+:[0-9a-f-]{36}$/m, 20_000))?.[1];
        assert.ok(handle !== undefined);
        // The next failover (every 2 s here) answers it.
        const told = await s.run(`AsyncNotify ${handle}`, /(Resource change|Share move|Client move|IP change) with \d+ messages\n.*\n/, 20_000);
        assert.match(told, /Resource change with 1 messages\nFILESRV -> Unavailable|Share move with/);
      } finally {
        await s.close();
      }
    } finally {
      if (demo.exitCode === null && demo.signalCode === null) {
        const exited = new Promise((res) => demo.once('exit', res));
        demo.kill('SIGINT');
        await exited;
      }
    }
    const dir = /store\s+(\S+)\/state\.db/.exec(out)?.[1];
    assert.ok(dir !== undefined && !fs.existsSync(dir), 'the demo removed its directory');
  });
});
