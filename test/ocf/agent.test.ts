// The OCF agent as Pacemaker and ocf-tester see it: run as a process, from this checkout's build.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, requireBuild } from '../cluster/harness.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-ocf-'));
fs.chmodSync(tmp, 0o755);
// An agent shim like the installed one, pointing at this checkout.
const agent = path.join(tmp, 'witnessd');
const cib = path.join(tmp, 'cib.xml');
// A port for the witness service that nothing else on the machine uses during the test.
const PORT = 46000 + (process.pid % 1000);

interface Res { code: number; stdout: string; stderr: string }
function run(action: string, env: Record<string, string> = {}, opts: { user?: string } = {}): Res {
  const base: Record<string, string> = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    OCF_ROOT: '/usr/lib/ocf',
    OCF_RESOURCE_INSTANCE: 'witness_t',
    OCF_RESKEY_netname: 'FILESRV',
    OCF_RESKEY_db: path.join(tmp, 'state.db'),
    OCF_RESKEY_log_file: path.join(tmp, 'agent.log'),
    OCF_RESKEY_CRM_meta_interval: '10000',
    OCF_RESKEY_witness_port: String(PORT),
    OCF_RESKEY_epm: 'off',
    OCF_RESKEY_listen_address: '127.0.0.1',
    HA_RSCTMP: path.join(tmp, 'run'),
    CIB_file: cib,
    ...env,
  };
  const r = opts.user !== undefined
    ? spawnSync('setpriv', ['--reuid', opts.user, '--regid', 'nogroup', '--clear-groups', 'env', '-i', ...Object.entries(base).map(([k, v]) => `${k}=${v}`), agent, action], { encoding: 'utf8' })
    : spawnSync(agent, [action], { encoding: 'utf8', env: base });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('ocf:witness:witnessd', { timeout: 120_000 }, () => {
  before(() => {
    requireBuild();
    fs.writeFileSync(agent, fs.readFileSync(path.join(ROOT, 'ocf/witnessd'), 'utf8').replace('@WITNESS_ROOT@', ROOT).replace('@NODE@', process.execPath), { mode: 0o755 });
    fs.copyFileSync(new URL('../fixtures/cib/01-started.xml', import.meta.url), cib);
  });
  after(() => {
    run('stop');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('meta-data runs as nobody with no environment and validates against the OCF 1.0 DTD and pcs\' OCF 1.1 schema', () => {
    const r = run('meta-data', {}, { user: 'nobody' });
    assert.equal(r.code, 0, r.stderr);
    const xml = path.join(tmp, 'meta.xml');
    fs.writeFileSync(xml, r.stdout);
    const dtd = spawnSync('xmllint', ['--noout', '--dtdvalid', '/usr/share/resource-agents/ra-api-1.dtd', xml], { encoding: 'utf8' });
    assert.equal(dtd.status, 0, dtd.stderr);
    assert.doesNotMatch(dtd.stderr, /validity error|parser error/);
    const rng = spawnSync('xmllint', ['--noout', '--relaxng', '/usr/share/pcs/data/ocf-1.1.rng', xml], { encoding: 'utf8' });
    assert.equal(rng.status, 0, rng.stderr);
    assert.match(r.stdout, /<parameter name="netname" required="1">/);
    assert.match(r.stdout, /<action name="monitor" timeout="20s" interval="10s" depth="0"\/>/);
  });

  it('answers every action with the right code, idempotently', () => {
    assert.equal(run('monitor').code, 7, 'stopped → OCF_NOT_RUNNING');
    assert.equal(run('stop').code, 0, 'stop when stopped succeeds');
    assert.equal(run('start').code, 0);
    assert.equal(run('start').code, 0, 'start when started succeeds');
    assert.equal(run('monitor').code, 0);
    assert.equal(run('stop').code, 0);
    assert.equal(run('stop').code, 0);
    assert.equal(run('monitor').code, 7);
  });

  it('monitor syncs: a CIB change between monitors shows up as events in the store', async () => {
    assert.equal(run('start').code, 0);
    // Freeze the watcher so that only the monitor action can have seen the change.
    const watcher = Number(fs.readFileSync(path.join(tmp, 'run', 'witnessd-witness_t.watch.pid'), 'utf8'));
    process.kill(watcher, 'SIGSTOP');
    try {
      fs.copyFileSync(new URL('../fixtures/cib/02-group-moved.xml', import.meta.url), cib);
      assert.equal(run('monitor').code, 0);
      const { openStore } = await import('../../store/index.ts');
      const s = openStore(path.join(tmp, 'state.db'), { readonly: true });
      const kinds = s.eventsAfter(0).map((e) => `${e.kind} ${e.subject}`);
      s.close();
      assert.ok(kinds.includes('ip_moved 198.18.0.100'), kinds.join(', '));
    } finally {
      process.kill(watcher, 'SIGCONT');
      assert.equal(run('stop').code, 0);
      fs.copyFileSync(new URL('../fixtures/cib/01-started.xml', import.meta.url), cib);
    }
  });

  it('monitor fails when witnessd stops answering binds (a wedged process is not a running service)', () => {
    assert.equal(run('start').code, 0);
    const pid = Number(fs.readFileSync(path.join(tmp, 'run', 'witnessd-witness_t.service.pid'), 'utf8'));
    process.kill(pid, 'SIGSTOP');
    try {
      const r = run('monitor');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^ocf-exit-reason:witnessd does not answer: no answer to a bind/m);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.equal(run('monitor').code, 0);
    assert.equal(run('stop').code, 0);
  });

  it('a crashed watcher is a failure, not a clean stop; stop cleans up', () => {
    assert.equal(run('start').code, 0);
    const pid = Number(fs.readFileSync(path.join(tmp, 'run', 'witnessd-witness_t.watch.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    spawnSync('sleep', ['0.3']);
    const r = run('monitor');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ocf-exit-reason:witness-agent watch \(pid \d+\) is gone/m);
    const probe = run('monitor', { OCF_RESKEY_CRM_meta_interval: '0' });
    assert.equal(probe.code, 1);
    assert.doesNotMatch(probe.stderr, /ocf-exit-reason/, 'probes log no exit reason');
    assert.equal(run('stop').code, 0);
    assert.equal(run('monitor').code, 7);
  });

  it('bad configuration → OCF_ERR_CONFIGURED with a reason; unknown action → OCF_ERR_UNIMPLEMENTED', () => {
    const noName = run('validate-all', { OCF_RESKEY_netname: '' });
    assert.equal(noName.code, 6);
    assert.match(noName.stderr, /ocf-exit-reason:parameter netname is required/);
    assert.equal(run('validate-all', { OCF_RESKEY_shares: 'DATA' }).code, 6);
    assert.equal(run('validate-all', { OCF_RESKEY_witness_port: '70000' }).code, 6);
    assert.equal(run('validate-all', { OCF_RESKEY_db: 'relative.db' }).code, 6);
    assert.equal(run('start', { OCF_RESKEY_netname: '' }).code, 6);
    assert.equal(run('validate-all').code, 0);
    assert.equal(run('frobnicate').code, 3);
    assert.equal(run('stop', { OCF_RESKEY_netname: '' }).code, 0, 'stop succeeds even with broken parameters');
  });

  it('a corrupt store fails start with a clear reason', () => {
    const db = path.join(tmp, 'corrupt', 'state.db');
    fs.mkdirSync(path.dirname(db), { recursive: true });
    fs.writeFileSync(db, 'not a database '.repeat(100));
    const env = { OCF_RESKEY_db: db };
    const r = run('start', env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ocf-exit-reason:sync failed: store .* is corrupt/);
  });

  it('passes ocf-tester', () => {
    const r = spawnSync('ocf-tester', ['-n', 'witness_tester', '-o', 'netname=FILESRV', '-o', `db=${path.join(tmp, 'tester.db')}`, '-o', `log_file=${path.join(tmp, 'tester.log')}`, '-o', `witness_port=${PORT}`, '-o', 'epm=off', '-o', 'listen_address=127.0.0.1', agent], {
      encoding: 'utf8',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CIB_file: cib, HA_RSCTMP: path.join(tmp, 'run') },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /passed all tests/);
  });
});
