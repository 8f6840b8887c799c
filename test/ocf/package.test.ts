// The Debian package (npm run package) as an admin meets it: dpkg -i, the commands on the PATH,
// the OCF agent under ocf-tester and its meta-data as nobody, then dpkg -r and --purge leaving
// nothing behind (every path dpkg -L listed is gone). Root only; it installs on this machine, so
// run it holding /tmp/pw-cluster.lock on a shared machine (cluster tests use the same agent path).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildPackage, CACHE_DIR, LIB_DIR, OCF_AGENT, OCF_DIR, PKG } from '../../packaging/deb.ts';
import { ROOT } from '../cluster/harness.ts';
import { WITNESSD_ENV, WITNESSD_NODE_FLAGS } from '../../service/node-flags.ts';
import { freePort } from '../peers/peers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-pkg-'));
fs.chmodSync(tmp, 0o755);
const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };
const STATE = '/var/lib/pacemaker-witness';

interface Res { code: number; out: string }
function run(cmd: string, args: string[], env: Record<string, string> = {}, input?: string): Res {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...ENV, ...env }, ...(input !== undefined ? { input } : {}) });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function installed(): boolean {
  return run('dpkg-query', ['-W', '-f=${Status}', PKG]).out.includes('install ok installed');
}

/** Any mount on the state directory (a test cluster's node keeps its private store there). */
function stateMounted(): boolean {
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').some((l) => l.split(' ')[4] === STATE)) return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

describe('the Debian package', { timeout: 300_000 }, () => {
  let deb = '';
  let listed: string[] = [];
  before(async () => {
    assert.equal(process.getuid?.(), 0, 'installs a package: run as root');
    assert.ok(!installed(), `${PKG} is installed already (dpkg -r ${PKG} first)`);
    deb = (await buildPackage()).deb;
  });
  after(() => {
    if (installed()) run('dpkg', ['-r', PKG]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('declares what it needs: the node major version its native module was built for, the watcher\'s Pacemaker libraries, pacemaker-cli-utils', () => {
    const info = run('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Depends']);
    assert.equal(info.code, 0, info.out);
    const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    assert.match(info.out, new RegExp(`^Version: ${version.replace(/\./g, '\\.')}$`, 'm'));
    const major = Number(process.versions.node.split('.')[0]);
    assert.match(info.out, new RegExp(`nodejs \\(>= ${major}[.0-9]*\\), nodejs \\(<< ${major + 1}\\)`));
    for (const dep of [/libcib\d+/, /libcrmcommon\d+/, /libglib2\.0-0/, /libstdc\+\+6/, /libgssapi-krb5-2/, /pacemaker-cli-utils/]) assert.match(info.out, dep);
  });

  it('installs with dpkg -i: the commands on the PATH, the OCF agent, the state directory root\'s alone', () => {
    const r = run('dpkg', ['-i', deb]);
    assert.equal(r.code, 0, r.out);
    listed = run('dpkg', ['-L', PKG]).out.split('\n').filter((l) => l.startsWith('/'));
    for (const p of ['/usr/bin/witnessd', '/usr/bin/witnessctl', '/usr/bin/witness-agent', OCF_AGENT, `${OCF_DIR}/tickle`, `${LIB_DIR}/agent/watch/witness-cib-watch`, `${LIB_DIR}/native/better_sqlite3.node`, `${LIB_DIR}/native/gss.node`]) {
      assert.ok(listed.includes(p), `dpkg -L lacks ${p}`);
    }
    for (const name of ['witnessd', 'witnessctl', 'witness-agent']) {
      assert.equal(run('sh', ['-c', `command -v ${name}`]).out.trim(), `/usr/bin/${name}`);
      const help = run(name, ['--help']);
      assert.equal(help.code, 0, help.out);
      assert.match(help.out, new RegExp(`Usage: ${name}`));
    }
    assert.equal(fs.statSync(STATE).mode & 0o777, 0o700);
    // witnessd starts as bin/witnessd does: service/node-flags.ts's flags and environment.
    const wrapper = fs.readFileSync('/usr/bin/witnessd', 'utf8');
    for (const f of WITNESSD_NODE_FLAGS) assert.match(wrapper, new RegExp(`^exec \\S+ .*${f}`, 'm'));
    for (const [k, v] of Object.entries(WITNESSD_ENV)) assert.match(wrapper, new RegExp(`^${k}=\\$\\{${k}:-${v}\\}$`, 'm'));
    // A node whose module ABI is not the one the native module was built for is refused up front.
    const stub = path.join(tmp, 'wrong-abi.js');
    fs.writeFileSync(stub, `require(${JSON.stringify(`${LIB_DIR}/launch.cjs`)}).launch(${JSON.stringify(`${LIB_DIR}/dist/service/ctl/main.bundle.cjs`)}, { hash: 'x', cacheDir: null, abi: '1', builtWith: '1.0.0' });\n`);
    const wrong = run(process.execPath, [stub, '--help']);
    assert.equal(wrong.code, 5, wrong.out);
    assert.match(wrong.out, /built for Node\.js 1\.0\.0 \(module ABI 1\)/);
    // Nothing of the checkout is referred to.
    assert.doesNotMatch(fs.readFileSync(OCF_AGENT, 'utf8'), new RegExp(ROOT));
  });

  it('witness-agent sync and show work from the package (its native SQLite module loads), and witnessctl reads the store', () => {
    const db = path.join(tmp, 'state.db');
    const cib = path.join(ROOT, 'test/fixtures/cib/01-started.xml');
    const s = run('witness-agent', ['sync', '--db', db, '--cib-file', cib, '--no-samba-shares']);
    assert.equal(s.code, 0, s.out);
    const shown = run('witness-agent', ['show', '--json', '--db', db]);
    assert.equal(shown.code, 0, shown.out);
    const view = (JSON.parse(shown.out) as { view: { ips: { address: string }[] } | null }).view;
    assert.ok(view !== null && view.ips.length > 0, shown.out);
    const list = run('witnessctl', ['list', '--json', '--db', db]);
    assert.equal(list.code, 0, list.out);
    assert.deepEqual(JSON.parse(list.out), []);
    // The first run as root left a code cache for the bundle and that first argument.
    assert.ok(fs.readdirSync(CACHE_DIR).some((f) => /^main\.bundle-[0-9a-f]{16}-sync\.v8$/.test(f)), fs.readdirSync(CACHE_DIR).join(' '));
  });

  it('witnessd from the package loads its Kerberos addon: a keytab made with ktutil is read and its keys listed', async () => {
    const keytab = path.join(tmp, 'pkg.keytab');
    const kt = run('ktutil', [], {}, `addent -password -p cifs/FILESRV@PKG.TEST -k 3 -e aes256-cts-hmac-sha1-96\nPkg-Key.3\nwkt ${keytab}\nquit\n`);
    assert.ok(fs.existsSync(keytab), kt.out);
    const accounts = path.join(tmp, 'pkg.accounts');
    const add = run('witnessctl', ['user', 'add', 'PKG\\user', '--accounts', accounts], {}, 'Pkg-User.1\n');
    assert.equal(add.code, 0, add.out);
    const port = await freePort(47400);
    const r = spawnSync('timeout', ['-s', 'INT', '4', 'witnessd', '--db', path.join(tmp, 'krb5.db'), '--listen', `127.0.0.1:${port}`, '--epm', 'off', '--netname', 'FILESRV', '--node', 'n1', '--accounts', accounts, '--keytab', keytab], { encoding: 'utf8', env: ENV });
    const out = `${r.stdout}${r.stderr}`;
    assert.match(out, /"principals":\["cifs\/FILESRV@PKG\.TEST kvno 3"\].*Kerberos service keys loaded/, out);
    assert.match(out, /witnessd listening/, out);
  });

  it('the OCF agents: witnessd\'s meta-data as nobody with no environment, ocf-tester passes, Pacemaker finds both (witnessd, tickle)', async () => {
    const meta = spawnSync('setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', 'env', '-i', OCF_AGENT, 'meta-data'], { encoding: 'utf8' });
    assert.equal(meta.status, 0, meta.stderr);
    assert.match(meta.stdout, /<resource-agent name="witnessd"/);
    for (const agent of ['witnessd', 'tickle']) {
      const shown = run('crm_resource', ['--show-metadata', `ocf:witness:${agent}`]);
      assert.equal(shown.code, 0, shown.out);
      assert.match(shown.out, new RegExp(`<resource-agent name="${agent}"`));
    }
    const accounts = path.join(tmp, 'accounts');
    const add = run('witnessctl', ['user', 'add', 'PWPKG\\tester', '--accounts', accounts], {}, 'Pkg-Test.9\n');
    assert.equal(add.code, 0, add.out);
    const cib = path.join(tmp, 'cib.xml');
    fs.copyFileSync(path.join(ROOT, 'test/fixtures/cib/01-started.xml'), cib);
    const port = await freePort(24000 + (process.pid % 4000));
    const r = run('ocf-tester', ['-n', 'witness_pkg', '-o', 'netname=FILESRV', '-o', `db=${path.join(tmp, 'tester.db')}`, '-o', `log_file=${path.join(tmp, 'tester.log')}`, '-o', `witness_port=${port}`, '-o', 'epm=off', '-o', 'listen_address=127.0.0.1', '-o', `accounts=${accounts}`, OCF_AGENT], { CIB_file: cib, HA_RSCTMP: path.join(tmp, 'run') });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /passed all tests/);
  });

  it('dpkg -r leaves no agent behind (every file dpkg -L listed is gone, and the code caches); --purge takes the state', (t) => {
    assert.ok(listed.length > 10, 'the install step listed the files');
    const r = run('dpkg', ['-r', PKG]);
    assert.equal(r.code, 0, r.out);
    const left = listed.filter((p) => fs.existsSync(p) && !fs.statSync(p).isDirectory());
    assert.deepEqual(left, []);
    for (const p of [OCF_AGENT, LIB_DIR, CACHE_DIR]) assert.ok(!fs.existsSync(p), `${p} is still there`);
    // The agents' directory goes too, unless something else put files there (a checkout's
    // ocf/install.sh, on a shared machine): those are not the package's to remove.
    if (fs.existsSync(OCF_DIR)) t.diagnostic(`${OCF_DIR} kept for files the package did not install: ${fs.readdirSync(OCF_DIR).join(' ')}`);
    assert.notEqual(run('crm_resource', ['--show-metadata', 'ocf:witness:witnessd']).code, 0);
    assert.notEqual(run('sh', ['-c', 'command -v witnessctl']).code, 0);
    if (stateMounted()) {
      // Purging deletes the host's state directory, which a running test cluster's nodes use.
      t.diagnostic(`a test cluster has ${STATE} mounted: --purge not tried`);
      return;
    }
    const p = run('dpkg', ['--purge', PKG]);
    assert.equal(p.code, 0, p.out);
    assert.ok(!fs.existsSync(STATE), `${STATE} is still there after --purge`);
    assert.match(run('dpkg-query', ['-W', '-f=${Status}', PKG]).out, /not-installed|no packages found/i);
  });
});
