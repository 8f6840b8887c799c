// Benchmark: how long each command takes from exec to exit, start-up included — what an admin waits
// for, and what Pacemaker pays on every monitor. For each command, from this checkout (bin/*, the
// tsc build in dist/) and from the package (the installed one when dpkg says so, else the same tree
// staged in a temporary directory), the median and p90 of wall time and of CPU time (user+sys of
// the process and its children, from wait4) over repeated runs, next to `node -e 0`, /bin/true and
// Samba's `net` (C) as floors. Prints figures; asserts nothing.
//   flock /tmp/pw-peers.lock node --import tsx bench/startup.ts [runs]
// (root: rpcclient finds witnessd through its endpoint mapper on 127.0.0.1:135).
//
// The commands run with a clean environment (PATH, LANG), as Pacemaker runs an agent: a variable
// like NODE_EXTRA_CA_CERTS (set in some shells) makes every node start ~40 ms slower.
// witnessctl list / client-move talk to a witnessd started here (loopback, --auth none) holding a
// registration made by rpcclient; witness-agent sync reads a CIB file; the OCF monitor is the
// recurring one (probe of the port + one sync), against a started agent with CIB_file.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleTree } from '../packaging/bundle.ts';
import { LIB_DIR, OCF_AGENT, PKG } from '../packaging/deb.ts';
import { freePort, ROOT, RpcClientSession, startWitnessd, twoNodeView } from '../test/peers/peers.ts';

const RUNS = Number(process.argv[2] ?? 15);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-bench-startup-'));
fs.chmodSync(tmp, 0o755);
const CLEAN_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

// Runs argv `runs` times (after one unmeasured run that fills the page cache and, for the
// package, writes its code cache) and prints wall and CPU times in ms, from wait4's rusage.
const TIMER = `
import json, os, sys, time
spec = json.load(sys.stdin)
out = {"wall": [], "cpu": [], "rc": [], "last": ""}
log = spec["log"]
for i in range(spec["runs"] + 1):
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open("/dev/null", os.O_RDWR)
        lf = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 0); os.dup2(lf, 1); os.dup2(lf, 2)
        argv = spec["argvs"][i % len(spec["argvs"])]
        os.execve(argv[0], argv, spec["env"])
    _, status, ru = os.wait4(pid, 0)
    if i == 0:
        continue
    out["wall"].append((time.perf_counter() - t) * 1000)
    out["cpu"].append((ru.ru_utime + ru.ru_stime) * 1000)
    out["rc"].append(os.waitstatus_to_exitcode(status))
    if out["rc"][-1] != 0:
        out["last"] = open(log).read()[-400:]
print(json.dumps(out))
`;

interface Timing { wall: number[]; cpu: number[]; rc: number[]; last: string }

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Times argv, or argv(i) for run i (0 is the unmeasured one). */
function time(argv: string[] | ((i: number) => string[]), env: Record<string, string> = {}): Timing {
  const argvs = Array.from({ length: RUNS + 1 }, (_, i) => {
    const a = typeof argv === 'function' ? argv(i) : argv;
    const exe = a[0]?.includes('/') === true ? a[0] : which(a[0] ?? '');
    if (exe === null || exe === undefined) throw new Error(`${a[0]} not found`);
    return [exe, ...a.slice(1)];
  });
  const r = spawnSync('/usr/bin/python3', ['-c', TIMER], { input: JSON.stringify({ runs: RUNS, log: path.join(tmp, 'last-run.out'), argvs, env: { ...CLEAN_ENV, ...env } }), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`timer failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Timing;
}

function q(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}

function row(label: string, where: string, t: Timing): void {
  const rcs = [...new Set(t.rc)].join(',');
  process.stdout.write(`${label.padEnd(34)} ${where.padEnd(9)} ${q(t.wall, 0.5).toFixed(1).padStart(7)} ${q(t.wall, 0.9).toFixed(1).padStart(7)} ${q(t.cpu, 0.5).toFixed(1).padStart(7)} ${q(t.cpu, 0.9).toFixed(1).padStart(7)}   ${rcs}\n`);
  if (t.last !== '') process.stdout.write(`    (a run that failed said: ${t.last.trim().replace(/\s+/g, ' ')})\n`);
}

/** An OCF agent shim like the installed one, for a code root. */
function ocfShim(file: string, root: string): string {
  fs.writeFileSync(file, fs.readFileSync(path.join(ROOT, 'ocf/witnessd'), 'utf8').replace('@WITNESS_ROOT@', root).replace('@NODE@', process.execPath), { mode: 0o755 });
  return file;
}

interface Variant {
  where: string;
  ctl: string[];
  agent: string[];
  ocf: string;
}

function packageInstalled(): boolean {
  return spawnSync('dpkg-query', ['-W', '-f=${Status}', PKG], { encoding: 'utf8' }).stdout.includes('install ok installed');
}

async function main(): Promise<void> {
  const variants: Variant[] = [{ where: 'checkout', ctl: [path.join(ROOT, 'bin/witnessctl')], agent: [path.join(ROOT, 'bin/witness-agent')], ocf: ocfShim(path.join(tmp, 'ocf-checkout'), ROOT) }];
  if (packageInstalled()) {
    variants.push({ where: 'package', ctl: ['/usr/bin/witnessctl'], agent: ['/usr/bin/witness-agent'], ocf: OCF_AGENT });
  } else {
    // The package's tree, staged: the same bundles, stubs and code cache as under /usr/lib.
    const tree = path.join(tmp, 'tree');
    const cache = path.join(tmp, 'cache');
    fs.mkdirSync(cache);
    await bundleTree(tree, cache);
    variants.push({ where: 'pkg-tree', ctl: [process.execPath, path.join(tree, 'dist/service/ctl/main.js')], agent: [process.execPath, path.join(tree, 'dist/agent/main.js')], ocf: ocfShim(path.join(tmp, 'ocf-tree'), tree) });
    process.stdout.write(`(${PKG} is not installed: 'pkg-tree' is its tree staged in ${tree}, as it would be under ${LIB_DIR})\n`);
  }

  const w = await startWitnessd({ epm: '127.0.0.1:135', view: twoNodeView(1, { shares: [{ name: 'data', resource: 'g1', node: 'n2', ips: ['127.0.0.2'] }] }), extra: ['--log-level', 'info', '--force-unregister-after', '0'] });
  const rpc = new RpcClientSession('ncacn_ip_tcp:127.0.0.1');
  const cib = path.join(ROOT, 'test/fixtures/cib/01-started.xml');
  const port = await freePort(26000 + (process.pid % 3000));
  const ocfEnv = (label: string): Record<string, string> => ({
    OCF_ROOT: '/usr/lib/ocf', OCF_RESOURCE_INSTANCE: `bench_${label}`, OCF_RESKEY_netname: 'FILESRV', OCF_RESKEY_db: path.join(tmp, `ocf-${label}.db`),
    OCF_RESKEY_log_file: path.join(tmp, `ocf-${label}.log`), OCF_RESKEY_witness_port: String(port), OCF_RESKEY_epm: 'off', OCF_RESKEY_listen_address: '127.0.0.1',
    OCF_RESKEY_auth: 'none', OCF_RESKEY_CRM_meta_interval: '10000', HA_RSCTMP: path.join(tmp, `run-${label}`), CIB_file: cib,
  });
  // Killed half-way (timeout, Ctrl-C): the agents started here and witnessd still go.
  const started: { ocf: string; env: Record<string, string> }[] = [];
  const cleanup = (): void => {
    for (const a of started) spawnSync(a.ocf, ['stop'], { env: { ...CLEAN_ENV, ...a.env } });
    void rpc.close();
    void w.stop().finally(() => { fs.rmSync(tmp, { recursive: true, force: true }); process.exit(130); });
  };
  process.once('SIGINT', cleanup);
  process.once('SIGTERM', cleanup);
  try {
    process.stdout.write(`\nstart-up and work, ${RUNS} runs each (ms)\n${'command'.padEnd(34)} ${'from'.padEnd(9)} ${'wall50'.padStart(7)} ${'wall90'.padStart(7)} ${'cpu50'.padStart(7)} ${'cpu90'.padStart(7)}   exit\n`);
    row('/bin/true', '-', time(['/bin/true']));
    row('node -e 0', '-', time([process.execPath, '-e', '0']));
    if (which('net') !== null) row('net --version (Samba, C)', '-', time(['net', '--version']));
    for (const v of variants) {
      const db = path.join(tmp, `agent-${v.where}.db`);
      row('witnessctl --help', v.where, time([...v.ctl, '--help']));
      row('witnessctl list', v.where, time([...v.ctl, 'list', '--db', w.db]));
      // A client told to move is not moved again: each client-move run has a registration of its
      // own, made just before (registrations made minutes earlier may have lapsed by then).
      for (let i = 0; i <= RUNS; i++) {
        const reg = await rpc.run(`RegisterEx --net=FILESRV --ip=127.0.0.2 --client=bench-${v.where}-${i} --share=data --timeout=300`, /^\d+:[0-9a-f-]{36}$/m);
        if (!/^\d+:[0-9a-f-]{36}$/m.test(reg)) throw new Error(`RegisterEx failed: ${reg}`);
      }
      row('witnessctl client-move', v.where, time((i) => [...v.ctl, 'client-move', '--client', `bench-${v.where}-${i}`, '--to-ip', '127.0.0.1', '--db', w.db]));
      row('witness-agent sync (file)', v.where, time([...v.agent, 'sync', '--db', db, '--cib-file', cib]));
      row('witness-agent sync --no-samba-shares', v.where, time([...v.agent, 'sync', '--db', db, '--cib-file', cib, '--no-samba-shares']));
      row('ocf meta-data', v.where, time([v.ocf, 'meta-data']));
      const env = ocfEnv(v.where);
      started.push({ ocf: v.ocf, env });
      const start = spawnSync(v.ocf, ['start'], { env: { ...CLEAN_ENV, ...env }, encoding: 'utf8' });
      if (start.status !== 0) {
        process.stdout.write(`ocf start (${v.where}) failed: ${start.stdout}${start.stderr}\n`);
        continue;
      }
      try {
        row('ocf monitor (probe + sync)', v.where, time([v.ocf, 'monitor'], env));
        row('ocf monitor probe (interval 0)', v.where, time([v.ocf, 'monitor'], { ...env, OCF_RESKEY_CRM_meta_interval: '0' }));
      } finally {
        spawnSync(v.ocf, ['stop'], { env: { ...CLEAN_ENV, ...env } });
      }
    }
  } finally {
    await rpc.close();
    await w.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
