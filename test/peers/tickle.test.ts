// Tickle ACKs (ocf/tickle.ts, ocf:witness:tickle) on a floating IP that moves between two nodes
// while a client holds a TCP connection to it: network namespaces of their own (198.19.78.0/24,
// test/helpers/tickle-lab.ts), the real ocf:heartbeat:IPaddr2 moving the IP (gratuitous ARPs),
// resource-agents' tickle_tcp sending the ACKs, the kernel's TCP on both sides. The client is idle
// (an SMB client with open files and no I/O): without tickles it does not notice that its server
// is gone; with them it is reset and reconnects within a second of the IP's start.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIENT_ADDRESS, PORT, TickleLab, VIP } from '../helpers/tickle-lab.ts';
import { crashMove, plannedMove, type MoveResult } from '../helpers/tickle-move.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const report = (what: string, r: MoveResult): void => {
  console.log(`# ${what}: IPaddr2 start ${r.ipStartMs} ms, tickle start ${r.tickleStartMs ?? '-'} ms; client reset ${r.resetAfterIpMs ?? 'never'} ms and reconnected ${r.reconnectedAfterIpMs ?? 'never'} ms after IPaddr2 start was called`);
};

describe('tickle ACKs: a client of a floating IP that moved reconnects at once', { timeout: 180_000 }, () => {
  const lab = new TickleLab(`pwtk${process.pid % 10000}`);

  before(async () => {
    await lab.up();
  });

  after(() => {
    lab.close();
  });

  it('without tickles, an idle client does not notice that the IP moved (node crash)', async () => {
    const r = await crashMove(lab, { mode: 'idle', tickle: 'none', outageMs: 1000, waitMs: 5000 });
    report('crash, no tickles', r);
    assert.equal(r.resetAfterIpMs, null, 'the client was reset without tickles');
    assert.equal(r.reconnectedAfterIpMs, null);
  });

  it('with ocf:witness:tickle, the idle client is reset by the new node and reconnects (node crash)', async () => {
    const r = await crashMove(lab, { mode: 'idle', tickle: 'ours', outageMs: 1000, waitMs: 10_000 });
    report('crash, ocf:witness:tickle', r);
    // n1's monitor had recorded the client's connection, in portblock's format (with the one n1
    // still had from the case before: a crashed node's sockets outlive it, as on a real machine).
    assert.ok(r.recorded.split('\n').includes(`${VIP}:${PORT}\t${CLIENT_ADDRESS}:${r.clientPort}`), `${r.recorded}\n${r.agentOutput}`);
    assert.equal(r.why, 'ECONNRESET', r.agentOutput);
    assert.ok(r.resetAfterIpMs !== null && r.tickleStartMs !== null, r.agentOutput);
    // The reset follows the tickles (sent during the tickle start), not some timer.
    assert.ok(r.resetAfterIpMs <= r.ipStartMs + r.tickleStartMs + 1000, `reset ${r.resetAfterIpMs} ms after the IP's start\n${r.agentOutput}`);
    assert.ok(r.reconnectedAfterIpMs !== null && r.reconnectedAfterIpMs >= r.resetAfterIpMs);
  });

  it('with ocf:witness:tickle, a planned move (stop records, start tickles) resets the idle client too', async () => {
    const r = await plannedMove(lab, { mode: 'idle', tickle: 'ours', waitMs: 10_000 });
    report('planned move, ocf:witness:tickle', r);
    assert.ok(r.recorded.split('\n').includes(`${VIP}:${PORT}\t${CLIENT_ADDRESS}:${r.clientPort}`), `${r.recorded}\n${r.agentOutput}`);
    assert.equal(r.why, 'ECONNRESET', r.agentOutput);
    assert.ok(r.resetAfterIpMs !== null && r.tickleStartMs !== null && r.resetAfterIpMs <= r.ipStartMs + r.tickleStartMs + 1000, r.agentOutput);
  });

  it('agent actions: a list it cannot use, validate-all refusals (ocf-tester below covers the action sequence)', () => {
    // A list with lines of another IP, garbage and a bad port: skipped and said so; start succeeds.
    const list = path.join(lab.tickleDir, VIP);
    fs.writeFileSync(list, `198.19.78.99:${PORT}\t${CLIENT_ADDRESS}:40000\nnot a line\n${VIP}:${PORT}\t${CLIENT_ADDRESS}:70000\n`);
    const started = lab.tickle('n2', 'start', { params: { count: '1' } });
    assert.equal(started.code, 0, started.out);
    // start replaced the old node's list with this node's (no connections yet).
    assert.equal(fs.readFileSync(list, 'utf8'), '');
    assert.equal(lab.tickle('n2', 'stop').code, 0);
    // start makes tickle_dir on the mounted storage; without its parent (no storage) it refuses.
    const fresh = path.join(lab.tickleDir, 'fresh');
    assert.equal(lab.tickle('n2', 'start', { params: { tickle_dir: fresh } }).code, 0);
    assert.ok(fs.statSync(fresh).isDirectory());
    assert.equal(lab.tickle('n2', 'stop', { params: { tickle_dir: fresh } }).code, 0);
    const orphan = lab.tickle('n2', 'start', { params: { tickle_dir: path.join(lab.tickleDir, 'unmounted/tickle') } });
    assert.equal(orphan.code, 6, orphan.out);
    assert.match(orphan.out, /put this resource after the Filesystem resource/);
    // validate-all: configuration errors are OCF_ERR_CONFIGURED (6) with a reason, a missing
    // tickle_tcp OCF_ERR_INSTALLED (5).
    const refusals: [Record<string, string>, number, RegExp][] = [
      [{ ip: 'fd00::10' }, 6, /ip must be an IPv4 address/],
      [{ tickle_dir: '' }, 6, /tickle_dir is required/],
      [{ tickle_tcp: '/nonexistent/tickle_tcp' }, 5, /tickle_tcp is missing: install resource-agents/],
    ];
    for (const [params, code, reason] of refusals) {
      const r = lab.tickle('n2', 'validate-all', { params });
      assert.equal(r.code, code, `${JSON.stringify(params)}: ${r.out}`);
      assert.match(r.out, reason);
    }
    assert.equal(lab.tickle('n2', 'validate-all').code, 0);
    // Stop succeeds even with parameters it cannot use (Pacemaker would fence the node otherwise).
    assert.equal(lab.tickle('n2', 'stop', { params: { ip: 'x' } }).code, 0);
  });

  it('passes ocf-tester (meta-data against the OCF DTD, the action sequence Pacemaker expects)', () => {
    // The installed shim (ocf/tickle) runs the build; this one runs the source, as the other cases do.
    // ocf-tester runs meta-data as nobody: the shim's directory and the shim must be theirs to run.
    const dir = path.join(lab.dir, 'agent');
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chmodSync(lab.dir, 0o755);
    const agent = path.join(dir, 'tickle');
    fs.writeFileSync(agent, `#!/bin/sh\nexec ${process.execPath} --import tsx ${path.join(ROOT, 'ocf/tickle-main.ts')} "$@"\n`);
    fs.chmodSync(agent, 0o755);
    const r = spawnSync('ocf-tester', ['-n', 'tickle_tester', '-o', `ip=${VIP}`, '-o', `tickle_dir=${lab.tickleDir}`, agent], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HA_RSCTMP: path.join(lab.dir, 'tester-rsctmp') },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /passed all tests/);
  });
});
