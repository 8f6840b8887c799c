// The OCF agent as Pacemaker and ocf-tester see it: run as a process, from this checkout's build,
// with clients authenticated against a local account file made here with witnessctl.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, requireBuild } from '../cluster/harness.ts';
import { freePort, runPy } from '../peers/peers.ts';
import { eventsAfter } from '../../store/events.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-ocf-'));
fs.chmodSync(tmp, 0o755);
// An agent shim like the installed one, pointing at this checkout.
const agent = path.join(tmp, 'witnessd');
const cib = path.join(tmp, 'cib.xml');
// A port for the witness service that nothing else on the machine uses during the test (set in before()).
let PORT = 0;
const accounts = path.join(tmp, 'accounts');
const USER = { domain: 'PWTEST', user: 'agent', password: 'Agent-Test.7' };

/** An account file as an admin makes it: witnessctl user add, the password on stdin. */
function makeAccounts(file: string, who: { domain: string; user: string; password: string } = USER): void {
  const r = spawnSync(path.join(ROOT, 'bin/witnessctl'), ['user', 'add', `${who.domain}\\${who.user}`, '--accounts', file], { input: `${who.password}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
}


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
    OCF_RESKEY_accounts: accounts,
    HA_RSCTMP: path.join(tmp, 'run'),
    CIB_file: cib,
    // An empty value is how a test unsets a parameter (the agent reads '' as not set).
    ...env,
  };
  const r = opts.user !== undefined
    ? spawnSync('setpriv', ['--reuid', opts.user, '--regid', 'nogroup', '--clear-groups', 'env', '-i', ...Object.entries(base).map(([k, v]) => `${k}=${v}`), agent, action], { encoding: 'utf8' })
    : spawnSync(agent, [action], { encoding: 'utf8', env: base });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('ocf:witness:witnessd', { timeout: 120_000 }, () => {
  before(async () => {
    requireBuild();
    PORT = await freePort(20000 + (process.pid % 4000));
    fs.writeFileSync(agent, fs.readFileSync(path.join(ROOT, 'ocf/witnessd'), 'utf8').replace('@WITNESS_ROOT@', ROOT).replace('@NODE@', process.execPath), { mode: 0o755 });
    fs.copyFileSync(new URL('../fixtures/cib/01-started.xml', import.meta.url), cib);
    makeAccounts(accounts);
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
    for (const p of ['auth', 'accounts', 'smb_conf', 'keytab', 'min_auth_level', 'allow', 'allow_ntlmv1']) assert.match(r.stdout, new RegExp(`<parameter name="${p}">`));
    const authParam = /<parameter name="auth">[^]*?<\/parameter>/.exec(r.stdout)?.[0] ?? '';
    assert.doesNotMatch(authParam, /default=/, 'auth\'s default depends on accounts; never a default of none');
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
      const kinds = eventsAfter(s, 0).map((e) => `${e.kind} ${e.subject}`);
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
    // witnessd runs with the environment of service/node-flags.ts (one malloc arena).
    assert.ok(fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes('MALLOC_ARENA_MAX=1'), 'witnessd was started without MALLOC_ARENA_MAX=1');
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

  it('witnessd started by the agent authenticates clients: the account\'s user is served, anonymous calls are refused, and monitor\'s probe leaves no refusal in the log', async () => {
    assert.equal(run('start').code, 0);
    try {
      const creds = { user: USER.user, password: USER.password, domain: USER.domain, options: ['sign'] };
      const ok = await runPy([{ op: 'connect', conn: 'a', port: PORT, ...creds }, { op: 'RegisterEx', conn: 'a', version: 0x20000, net: 'FILESRV', share: null, ip: '198.18.0.100', client: 'agent-test', flags: 0, timeout: 30, save: 'h' }, { op: 'UnRegisterEx', conn: 'a', handle: 'h' }]);
      assert.deepEqual(ok.map((x) => x.ok), [true, true, true], JSON.stringify(ok));
      const wrong = await runPy([{ op: 'connect', conn: 'a', port: PORT, ...creds, password: 'not-it' }, { op: 'RegisterEx', conn: 'a', version: 0x20000, net: 'FILESRV', share: null, ip: '198.18.0.100', client: 'agent-wrong', flags: 0, timeout: 30 }]);
      assert.equal(wrong[1]?.ok, false, JSON.stringify(wrong));
      const anon = await runPy([{ op: 'connect', conn: 'a', port: PORT }, { op: 'GetInterfaceList', conn: 'a' }]);
      assert.match(String(anon[1]?.['error']), /Access Denied|ACCESS_DENIED/i, JSON.stringify(anon));
      const log = path.join(tmp, 'agent.log');
      // The anonymous call's refusal is logged (so the check below can see one), before the monitors run.
      const t0 = Date.now();
      while (!/an unauthenticated call.*call refused: access denied/.test(fs.readFileSync(log, 'utf8'))) {
        assert.ok(Date.now() - t0 < 5000, 'witnessd logs the anonymous call it refused');
        await new Promise((r) => setTimeout(r, 50));
      }
      const before = fs.readFileSync(log, 'utf8').length;
      for (let i = 0; i < 3; i++) {
        assert.equal(run('monitor').code, 0);
        spawnSync('sleep', ['1.1']); // past the refusal log's one-second rate limit
      }
      const added = fs.readFileSync(log, 'utf8').slice(before);
      assert.doesNotMatch(added, /access denied|refused/i, 'monitor\'s unauthenticated probe is not logged as a refusal');
    } finally {
      assert.equal(run('stop').code, 0);
    }
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

  it('bad auth parameters → OCF_ERR_CONFIGURED with a reason, from validate-all and from start', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ OCF_RESKEY_auth: 'kerberos' }, /auth must be one of winbind, accounts, none/],
      [{ OCF_RESKEY_auth: 'accounts', OCF_RESKEY_accounts: '' }, /auth=accounts needs the account file/],
      [{ OCF_RESKEY_accounts: 'accounts' }, /accounts must be an absolute path/],
      [{ OCF_RESKEY_auth: 'winbind' }, /accounts is set but auth=winbind would ignore it/],
      [{ OCF_RESKEY_auth: 'none' }, /accounts is set but auth=none would ignore it/],
      [{ OCF_RESKEY_auth: 'none', OCF_RESKEY_accounts: '', OCF_RESKEY_allow: 'PWTEST\\agent' }, /auth=none authenticates nobody, so allow cannot apply/],
      [{ OCF_RESKEY_smb_conf: '/etc/samba/smb.conf' }, /smb_conf is only used with auth=winbind/],
      [{ OCF_RESKEY_min_auth_level: 'packet' }, /min_auth_level must be one of connect, integrity, privacy/],
      [{ OCF_RESKEY_allow: 'A\\b\\c' }, /allow: "A\\\\b\\\\c" has more than one backslash/],
      [{ OCF_RESKEY_allow: '@' }, /allow: "@" names no group/],
      [{ OCF_RESKEY_allow_ntlmv1: 'maybe' }, /allow_ntlmv1 must be a boolean/],
      [{ OCF_RESKEY_keytab: 'cifs.keytab' }, /keytab must be an absolute path/],
      [{ OCF_RESKEY_auth: 'none', OCF_RESKEY_accounts: '', OCF_RESKEY_keytab: '/etc/krb5.keytab' }, /keytab is set but auth=none authenticates nobody/],
    ];
    for (const [env, reason] of cases) {
      for (const action of ['validate-all', 'start']) {
        const r = run(action, env);
        assert.equal(r.code, 6, `${action} ${JSON.stringify(env)}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`^ocf-exit-reason:${reason.source}`, 'm'), `${action} ${JSON.stringify(env)}`);
      }
    }
    // A keytab missing on the node: OCF_ERR_INSTALLED, as witnessd would not start without it.
    const noKeytab = run('validate-all', { OCF_RESKEY_keytab: path.join(tmp, 'absent.keytab') });
    assert.equal(noKeytab.code, 5, noKeytab.stderr);
    assert.match(noKeytab.stderr, /^ocf-exit-reason:the keytab \S+absent\.keytab: no such file on this node/m);
    const good = run('validate-all', { OCF_RESKEY_min_auth_level: 'privacy', OCF_RESKEY_allow: 'PWTEST\\agent, bob, @Domain Users', OCF_RESKEY_allow_ntlmv1: 'false' });
    assert.equal(good.code, 0, good.stderr);
    assert.equal(run('monitor').code, 7, 'nothing was started');
  });

  it('a bad account file makes validate-all and start fail with OCF_ERR_CONFIGURED and a reason; a missing one is OCF_ERR_INSTALLED', () => {
    const dir = path.join(tmp, 'bad-accounts');
    fs.mkdirSync(dir, { recursive: true });
    const loose = path.join(dir, 'loose');
    fs.copyFileSync(accounts, loose);
    fs.chmodSync(loose, 0o644);
    const garbled = path.join(dir, 'garbled');
    fs.writeFileSync(garbled, 'PWTEST\\agent:not-a-hash\n', { mode: 0o600 });
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '# no accounts yet\n', { mode: 0o600 });
    const cases: [string, number, RegExp][] = [
      [loose, 6, /account file: .*loose: mode 0644 gives group or others access to the NT hashes; it must be 0600/],
      [garbled, 6, /account file: .*garbled: line 1: the NT hash has 10 characters, not 32/],
      [empty, 6, /the account file .*empty holds no account/],
      [dir, 6, /account file: .*bad-accounts: not a regular file/],
      [path.join(dir, 'missing'), 5, /the account file .*missing does not exist on this node: make it with 'witnessctl user add/],
    ];
    for (const [file, code, reason] of cases) {
      for (const action of ['validate-all', 'start']) {
        const r = run(action, { OCF_RESKEY_accounts: file });
        assert.equal(r.code, code, `${action} ${file}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`^ocf-exit-reason:${reason.source}`, 'm'), `${action} ${file}`);
      }
    }
    assert.equal(run('monitor', { OCF_RESKEY_accounts: loose }).code, 7, 'start failed before starting anything');
    assert.equal(run('stop', { OCF_RESKEY_accounts: loose }).code, 0);
  });

  it('without auth or accounts the agent uses winbind, and refuses to start when winbindd does not answer (never falls back to none)', (t) => {
    if (spawnSync('wbinfo', ['--ping'], { stdio: 'ignore' }).status === 0) {
      t.skip('winbindd answers on this machine: the default works here');
      return;
    }
    for (const action of ['validate-all', 'start']) {
      const r = run(action, { OCF_RESKEY_accounts: '' });
      assert.equal(r.code, 1, `${action}: ${r.stderr}`);
      assert.match(r.stderr, /^ocf-exit-reason:auth is not set, so it is winbind, but winbindd does not answer on this node \(wbinfo --ping failed\).* Or set accounts=.*witnessctl user add.*, or auth=none/m);
    }
    const explicit = run('start', { OCF_RESKEY_accounts: '', OCF_RESKEY_auth: 'winbind' });
    assert.equal(explicit.code, 1);
    assert.match(explicit.stderr, /^ocf-exit-reason:auth=winbind but winbindd does not answer/m);
    assert.equal(run('monitor', { OCF_RESKEY_accounts: '' }).code, 7);
  });

  it('auth=none starts only when given, and then serves unauthenticated clients', async () => {
    const env = { OCF_RESKEY_auth: 'none', OCF_RESKEY_accounts: '' };
    assert.equal(run('start', env).code, 0);
    try {
      const r = await runPy([{ op: 'connect', conn: 'a', port: PORT }, { op: 'RegisterEx', conn: 'a', version: 0x20000, net: 'FILESRV', share: null, ip: '198.18.0.100', client: 'agent-anon', flags: 0, timeout: 30, save: 'h' }]);
      assert.deepEqual(r.map((x) => x.ok), [true, true], JSON.stringify(r));
      assert.equal(run('monitor', env).code, 0);
    } finally {
      assert.equal(run('stop', env).code, 0);
    }
  });

  it('passes ocf-tester', () => {
    const r = spawnSync('ocf-tester', ['-n', 'witness_tester', '-o', 'netname=FILESRV', '-o', `db=${path.join(tmp, 'tester.db')}`, '-o', `log_file=${path.join(tmp, 'tester.log')}`, '-o', `witness_port=${PORT}`, '-o', 'epm=off', '-o', 'listen_address=127.0.0.1', '-o', `accounts=${accounts}`, agent], {
      encoding: 'utf8',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CIB_file: cib, HA_RSCTMP: path.join(tmp, 'run') },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /passed all tests/);
  });
});
