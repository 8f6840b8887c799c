// witnessd's endpoint mapper beside a real Samba file server on one node (docs/deploy-samba.md).
// Everything runs in a network namespace of its own (198.19.77.1 the node's address, .10 a floating
// IP, both on its loopback), so TCP 135 there is ours to take without the shared peers lock. Samba
// is Debian's smbd and samba-dcerpcd with a private smb.conf and state under a temporary directory.
//
// What is asserted, per Samba mode (all measured first by hand on Debian 12's Samba 4.17):
// - smbd with `rpc start on demand helpers = yes` (Samba's default): its samba-dcerpcd, started by
//   smbd for the first named-pipe client, listens on no TCP port. witnessd has 135: rpcclient and
//   python3-samba find the witness through it (a binding with no port), while Samba's own RPC keeps
//   working over SMB named pipes (rpcclient srvinfo, Samba's own epmapper over \pipe\epmapper).
// - samba-dcerpcd standalone with every helper (`--libexec-rpcds`): it takes 0.0.0.0:135 and [::]:135
//   and witnessd refuses to start, naming samba-dcerpcd and what to change; started after witnessd,
//   samba-dcerpcd logs that it cannot have 135 and runs without an endpoint mapper.
// - samba-dcerpcd standalone with its helpers listed and rpcd_epmapper left out: 135 is free for
//   witnessd, named pipes work; Samba's ncacn_ip_tcp services are then unreachable (rpcclient looks
//   every interface up in the endpoint mapper, even with a port in the binding: NOT_FOUND).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ip, ROOT, runPy, startWitnessd, twoNodeView, type Witnessd } from './peers.ts';

const NS = `pwepm-${process.pid}`;
const NODE_ADDR = '198.19.77.1';
const VIP = '198.19.77.10';
const OTHER_VIP = '198.19.77.20';
const DOMAIN = 'FILESRV';
const USER = 'alice';
const PASSWORD = 'Epm-Samba.7';
const LIBEXEC = '/usr/libexec/samba';
const HELPERS_WITHOUT_EPM = ['rpcd_classic', 'rpcd_lsad', 'rpcd_winreg', 'rpcd_spoolss', 'rpcd_fsrvp', 'rpcd_mdssvc'].map((h) => path.join(LIBEXEC, h));
const WITNESS_UUID = 'ccd8c074-d0e5-4a40-92b4-d074faa6ba28';

function sh(cmd: string, args: string[], timeout = 30_000): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}
const inNs = (cmd: string, args: string[], timeout?: number): { code: number; out: string } => sh('ip', ['netns', 'exec', NS, cmd, ...args], timeout);

/** rpcclient inside the namespace; `user` as -U (authenticated: NTLM, no Kerberos). */
function rpcclient(binding: string, commands: string, user = '%'): { code: number; out: string } {
  return inNs('rpcclient', [`-U${user}`, ...(user === '%' ? [] : ['--use-kerberos=disabled']), '-c', commands, binding]);
}

/** Listening TCP sockets in the namespace: "address:port process" lines (ss -ltnp). */
function listeners(): string[] {
  return inNs('ss', ['-Hltnp']).out.split('\n').filter((l) => l.trim() !== '').map((l) => {
    const f = l.trim().split(/\s+/);
    return `${f[3] ?? ''} ${/\(\("([^"]+)"/.exec(l)?.[1] ?? ''}`;
  });
}
const on135 = (): string[] => listeners().filter((l) => /:135 /.test(l)).sort();

async function waitFor<T>(what: string, f: () => T | undefined | false, ms = 15_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A private smb.conf: everything Samba writes lives under `dir`. */
function writeSmbConf(dir: string, extra: string[] = []): string {
  for (const d of ['lock', 'state', 'cache', 'pid', 'private', 'ncalrpc', 'log', 'share']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const conf = path.join(dir, 'smb.conf');
  fs.writeFileSync(conf, [
    '[global]',
    '  netbios name = EPMNODE', '  workgroup = TESTWG', '  server role = standalone server',
    ...[['lock directory', 'lock'], ['state directory', 'state'], ['cache directory', 'cache'], ['pid directory', 'pid'], ['ncalrpc dir', 'ncalrpc'], ['private dir', 'private']].map(([k, d]) => `  ${k} = ${path.join(dir, d ?? '')}`),
    `  passdb backend = tdbsam:${path.join(dir, 'private/passdb.tdb')}`,
    `  log file = ${path.join(dir, 'log/log.%m')}`,
    '  smb ports = 445', '  disable netbios = yes', '  load printers = no', '  printing = bsd', '  printcap name = /dev/null',
    ...extra,
    '[data]', `  path = ${path.join(dir, 'share')}`, '  read only = no', '',
  ].join('\n'));
  return conf;
}

/** Stops every process in the namespace (smbd, samba-dcerpcd and its helpers, witnessd) but `keep`. */
async function killAllInNs(keep?: number): Promise<void> {
  const pids = (): string[] => sh('ip', ['netns', 'pids', NS]).out.split('\n').map((p) => p.trim()).filter((p) => /^\d+$/.test(p) && Number(p) !== keep);
  for (const sig of ['TERM', 'KILL']) {
    if (pids().length === 0) return;
    sh('kill', [`-${sig}`, ...pids()]);
    const t0 = Date.now();
    while (Date.now() - t0 < 3000 && pids().length > 0) await new Promise((r) => setTimeout(r, 100));
  }
}

describe('endpoint mapper beside Samba (smbd, samba-dcerpcd) on one node', { timeout: 240_000 }, () => {
  let dir: string;
  let accounts: string;
  let w: Witnessd | null = null;
  const view = twoNodeView(1, { ips: [ip(VIP, 'n1', 'vip1'), ip(OTHER_VIP, 'n2', 'vip2')] });

  const witnessd = (): Promise<Witnessd> =>
    startWitnessd({ view, prefix: ['ip', 'netns', 'exec', NS], epm: '0.0.0.0:135', auth: ['--accounts', accounts], extra: ['--listen', '0.0.0.0:0', '--log-level', 'debug'] });
  const smbd = (conf: string): void => { assert.equal(inNs('smbd', ['-D', '-s', conf]).code, 0); };
  const dcerpcd = (conf: string, args: string[]): void => { assert.equal(inNs(path.join(LIBEXEC, 'samba-dcerpcd'), ['-D', '-s', conf, ...args]).code, 0); };

  /** The witness through the endpoint mapper (no port), with rpcclient and python3-samba. */
  async function witnessThroughEpm(): Promise<void> {
    const r = rpcclient(`ncacn_ip_tcp:${VIP}[sign]`, 'GetInterfaceList', `${DOMAIN}\\${USER}%${PASSWORD}`);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(OTHER_VIP.replaceAll('.', '\\.')), r.out);
    const map = rpcclient(`ncacn_ip_tcp:${VIP}`, 'epmmap witness');
    assert.match(map.out, new RegExp(`ncacn_ip_tcp:${VIP.replaceAll('.', '\\.')}\\[${w?.port ?? -1},abstract_syntax=${WITNESS_UUID}`), map.out);
    const py = await runPy([
      { op: 'connect', conn: 'a', host: NODE_ADDR, port: null, user: USER, password: PASSWORD, domain: DOMAIN, options: ['sign'] },
      { op: 'GetInterfaceList', conn: 'a' },
    ], 60_000, ['ip', 'netns', 'exec', NS]);
    assert.ok(py.every((s) => s.ok), JSON.stringify(py));
  }

  /** Samba's own RPC over SMB named pipes (smbd hands the pipe to samba-dcerpcd). */
  function sambaOverNamedPipes(): void {
    const s = rpcclient(`ncacn_np:${VIP}`, 'srvinfo');
    assert.equal(s.code, 0, s.out);
    assert.match(s.out, /EPMNODE\s.*Samba 4\./);
    // Samba's epmapper is still there for pipe clients, and does not know the witness.
    assert.match(rpcclient(`ncacn_np:${VIP}`, 'epmmap srvsvc').out, /ncacn_np:\[\\pipe\\srvsvc/);
    assert.match(rpcclient(`ncacn_np:${VIP}`, 'epmmap witness').out, /0x16C9A0D6/);
  }

  before(() => {
    sh('ip', ['netns', 'del', NS]);
    assert.equal(sh('ip', ['netns', 'add', NS]).code, 0);
    for (const a of [['link', 'set', 'lo', 'up'], ['addr', 'add', `${NODE_ADDR}/32`, 'dev', 'lo'], ['addr', 'add', `${VIP}/32`, 'dev', 'lo']]) assert.equal(sh('ip', ['-n', NS, ...a]).code, 0);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-epm-samba-'));
    accounts = path.join(dir, 'accounts');
    const add = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'service/ctl/main.ts'), 'user', 'add', `${DOMAIN}\\${USER}`, '--accounts', accounts], { cwd: ROOT, encoding: 'utf8', input: `${PASSWORD}\n` });
    assert.equal(add.status, 0, add.stderr);
  });

  after(async () => {
    await w?.stop();
    await killAllInNs();
    sh('ip', ['netns', 'del', NS]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('samba-dcerpcd standalone with its endpoint mapper: whoever starts first has 135; witnessd says why it cannot', async () => {
    const conf = writeSmbConf(path.join(dir, 'standalone'), ['  rpc start on demand helpers = no']);
    dcerpcd(conf, ['--libexec-rpcds']);
    const samba135 = await waitFor('samba-dcerpcd on 135', () => { const l = on135(); return l.length === 2 ? l : undefined; });
    assert.deepEqual(samba135, ['0.0.0.0:135 samba-dcerpcd', '[::]:135 samba-dcerpcd']);
    // Samba's endpoint mapper does not know the witness.
    assert.match(rpcclient(`ncacn_ip_tcp:${VIP}`, 'epmmap witness').out, /0x16C9A0D6/);
    await assert.rejects(witnessd(), (err: Error) => {
      assert.match(err.message, /endpoint mapper cannot listen on 0\.0\.0\.0:135: TCP port 135 is held by samba-dcerpcd \(pid \d+\) on /);
      assert.match(err.message, /rpc start on demand helpers = yes/);
      return true;
    });
    await killAllInNs();

    // The other order: witnessd first; samba-dcerpcd starts, logs that 135 is taken, and runs
    // without an endpoint mapper (none on TCP, none on ncalrpc).
    w = await witnessd();
    dcerpcd(conf, ['--libexec-rpcds']);
    await waitFor('samba-dcerpcd listening', () => listeners().some((l) => / samba-dcerpcd$/.test(l)));
    const log = path.join(dir, 'standalone/log/log.');
    await waitFor('samba-dcerpcd logging the failed 135', () => fs.existsSync(log) && /Failed to create socket on port 135/.test(fs.readFileSync(log, 'utf8')));
    assert.deepEqual(on135(), ['0.0.0.0:135 node']);
    await witnessThroughEpm();
    await killAllInNs(w.proc.pid); // witnessd stays for the next two cases
  });

  it('samba-dcerpcd standalone without rpcd_epmapper: witnessd has 135, named pipes work, Samba over TCP does not', async () => {
    const conf = writeSmbConf(path.join(dir, 'noepm'), ['  rpc start on demand helpers = no']);
    dcerpcd(conf, HELPERS_WITHOUT_EPM);
    await waitFor('samba-dcerpcd listening', () => listeners().some((l) => / samba-dcerpcd$/.test(l)));
    smbd(conf);
    await waitFor('smbd on 445', () => listeners().some((l) => / smbd$/.test(l) && /:445 /.test(l)));
    assert.ok(w);
    // No "Failed to create socket on port 135" this time: it did not try.
    const log = path.join(dir, 'noepm/log/log.');
    assert.doesNotMatch(fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '', /port 135/);
    assert.deepEqual(on135(), ['0.0.0.0:135 node']);
    await witnessThroughEpm();
    const s = rpcclient(`ncacn_np:${VIP}`, 'srvinfo');
    assert.equal(s.code, 0, s.out);
    assert.match(s.out, /EPMNODE\s.*Samba 4\./);
    // Samba's TCP endpoints are up but no endpoint mapper knows them, and rpcclient asks one even
    // when the binding names the port.
    const tcpPort = /:(\d+) samba-dcerpcd$/.exec(listeners().find((l) => /^0\.0\.0\.0:\d+ samba-dcerpcd$/.test(l)) ?? '')?.[1];
    assert.ok(tcpPort !== undefined);
    assert.match(rpcclient(`ncacn_ip_tcp:${VIP}[${tcpPort}]`, 'srvinfo').out, /NT_STATUS_NOT_FOUND/);
    await killAllInNs(w.proc.pid);
  });

  it("default Samba (smbd starts samba-dcerpcd on demand): nothing of Samba's on TCP 135, both work", async () => {
    const conf = writeSmbConf(path.join(dir, 'ondemand'));
    smbd(conf);
    await waitFor('smbd on 445', () => listeners().some((l) => / smbd$/.test(l) && /:445 /.test(l)));
    assert.ok(w);
    sambaOverNamedPipes(); // samba-dcerpcd now runs (--np-helper) …
    assert.ok(sh('pgrep', ['-f', `samba-dcerpcd --configfile=${conf}`]).code === 0, 'samba-dcerpcd was started by smbd');
    // … and listens on no TCP port: 135 is witnessd's alone.
    assert.deepEqual(listeners().filter((l) => /samba-dcerpcd|rpcd_/.test(l)), []);
    assert.deepEqual(on135(), ['0.0.0.0:135 node']);
    await witnessThroughEpm();
    sambaOverNamedPipes();
    await w.stop();
    w = null;
    await killAllInNs();
  });
});
