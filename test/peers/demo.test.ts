// The README's first command: bin/witness-demo serves a witness that a real client can register
// with, and a failover of the simulated cluster reaches that client.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ChangeType, MessageType, WitnessVersion } from '../../service/swn/constants.ts';
import { requireBuild } from '../cluster/harness.ts';
import { ROOT, runPy } from './peers.ts';

describe('bin/witness-demo', { timeout: 60_000 }, () => {
  it('starts, answers GetInterfaceList, and a failover completes a pending AsyncNotify; Ctrl-C cleans up', async () => {
    requireBuild();
    const port = 47000 + (process.pid % 1000);
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
      const r = await runPy([
        { op: 'connect', conn: 'a', port },
        { op: 'GetInterfaceList', conn: 'a' },
        { op: 'RegisterEx', conn: 'a', version: WitnessVersion.V2, net: 'FILESRV', share: 'data', ip: '127.0.0.12', client: 'demo-client', flags: 0, timeout: 30, save: 'h' },
        { op: 'AsyncNotify', conn: 'a', handle: 'h' },
      ]);
      assert.deepEqual((r[1]?.['interfaces'] as { ipv4: string }[]).map((i) => i.ipv4), ['127.0.0.11', '127.0.0.12']);
      assert.equal(r[2]?.werror, 0);
      const n = r[3]?.['result'] as { type: number; messages: { name?: string; change?: number }[] } | undefined;
      assert.ok(n, JSON.stringify(r[3]));
      // The data IP moved (UNAVAILABLE first) or its share moved, whichever reached this client first.
      if (n.type === MessageType.RESOURCE_CHANGE) assert.deepEqual(n.messages[0], { name: 'FILESRV', change: ChangeType.UNAVAILABLE });
      else assert.equal(n.type, MessageType.SHARE_MOVE);
    } finally {
      demo.kill('SIGINT');
      await new Promise((res) => demo.once('exit', res));
    }
    const dir = /store\s+(\S+)\/state\.db/.exec(out)?.[1];
    assert.ok(dir !== undefined && !fs.existsSync(dir), 'the demo removed its directory');
  });
});
