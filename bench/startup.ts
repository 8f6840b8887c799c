// Benchmark: how long each command takes from exec to exit, start-up included — what an admin waits
// for, and what Pacemaker pays on every monitor. For each command, from this checkout (bin/*, the
// tsc build in dist/) and from the package (the installed one when dpkg says so, else the same tree
// staged in a temporary directory), and with --before REV from the package tree of git revision
// REV too: CPU time (user+sys of the process and its children, from wait4) minimum, median and
// p90, and wall time median and p90, over repeated runs, next to `node -e 0`, /bin/true and
// Samba's `net` (C) as floors. Prints figures; asserts nothing.
//   flock /tmp/pw-peers.lock node --import tsx bench/startup.ts [runs] [--before REV] [--no-checkout] [--staged]
// (root: rpcclient finds witnessd through its endpoint mapper on 127.0.0.1:135).
//
// The variants of one command run in turn, with `node -e 0` among them, one run each per round
// (the first round unmeasured: it fills the page cache and writes the package's code caches), so a
// change in the machine's load falls on all of them and on their floor alike; on a shared machine,
// compare the minimum and the median.
// The commands run with a clean environment (PATH, LANG), as Pacemaker runs an agent: a variable
// like NODE_EXTRA_CA_CERTS (set in some shells) makes every node start ~40 ms slower.
// witnessctl list / client-move talk to a witnessd started here (loopback, --auth none) holding a
// registration made by rpcclient; witness-agent sync reads a CIB file; the OCF monitors run
// against an agent started for each variant with CIB_file: the probe (interval 0, the daemons
// looked at) and the recurring monitor (the port asked, one sync), the probe first as Pacemaker
// runs them.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleTree } from '../packaging/bundle.ts';
import { LIB_DIR, OCF_AGENT, PKG } from '../packaging/deb.ts';
import type { Entry } from '../packaging/entries.ts';
import { freePort, ROOT, RpcClientSession, startWitnessd, twoNodeView } from '../test/peers/peers.ts';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const RUNS = Number(args.find((a) => /^\d+$/.test(a)) ?? 15);
const BEFORE = flag('--before');
const CHECKOUT = !args.includes('--no-checkout');
/** The package's tree staged from this checkout even when a package is installed (which may be another build). */
const STAGED = args.includes('--staged');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-bench-startup-'));
fs.chmodSync(tmp, 0o755);
const CLEAN_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

// Runs each job's argv (argvs[i] in round i) in turn, rounds+1 times, the first round unmeasured,
// and prints per job the wall and CPU times in ms, from wait4's rusage.
const TIMER = `
import json, os, sys, time
spec = json.load(sys.stdin)
log = spec["log"]
outs = [{"wall": [], "cpu": [], "rc": [], "last": ""} for _ in spec["jobs"]]
for i in range(spec["runs"] + 1):
    for job, out in zip(spec["jobs"], outs):
        t = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            fd = os.open("/dev/null", os.O_RDWR)
            lf = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 0); os.dup2(lf, 1); os.dup2(lf, 2)
            argv = job["argvs"][i % len(job["argvs"])]
            os.execve(argv[0], argv, job["env"])
        _, status, ru = os.wait4(pid, 0)
        if i == 0:
            continue
        out["wall"].append((time.perf_counter() - t) * 1000)
        out["cpu"].append((ru.ru_utime + ru.ru_stime) * 1000)
        out["rc"].append(os.waitstatus_to_exitcode(status))
        if out["rc"][-1] != 0:
            out["last"] = open(log).read()[-400:]
print(json.dumps(outs))
`;

interface Timing { wall: number[]; cpu: number[]; rc: number[]; last: string }

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

interface Job {
  label: string;
  where: string;
  /** argv, or argv(i) for round i (0 is the unmeasured one). */
  argv: string[] | ((i: number) => string[]);
  env?: Record<string, string>;
}

/** Times the jobs in turn, one run each per round, and prints a row for each. */
function timeJobs(jobs: Job[]): void {
  const spec = jobs.map((j) => ({
    argvs: Array.from({ length: RUNS + 1 }, (_, i) => {
      const a = typeof j.argv === 'function' ? j.argv(i) : j.argv;
      const exe = a[0]?.includes('/') === true ? a[0] : which(a[0] ?? '');
      if (exe === null || exe === undefined) throw new Error(`${a[0]} not found`);
      return [exe, ...a.slice(1)];
    }),
    env: { ...CLEAN_ENV, ...j.env },
  }));
  const r = spawnSync('/usr/bin/python3', ['-c', TIMER], { input: JSON.stringify({ runs: RUNS, log: path.join(tmp, 'last-run.out'), jobs: spec }), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`timer failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as Timing[];
  jobs.forEach((j, i) => {
    const t = out[i];
    if (t !== undefined) row(j.label, j.where, t);
  });
}

function q(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}

function row(label: string, where: string, t: Timing): void {
  const rcs = [...new Set(t.rc)].join(',');
  const f = (n: number): string => n.toFixed(1).padStart(7);
  process.stdout.write(`${label.padEnd(42)} ${where.padEnd(14)} ${f(q(t.cpu, 0))} ${f(q(t.cpu, 0.5))} ${f(q(t.cpu, 0.9))} ${f(q(t.wall, 0.5))} ${f(q(t.wall, 0.9))}   ${rcs}\n`);
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

function distOf(entries: readonly Entry[], name: string): string {
  const e = entries.find((x) => x.name === name);
  if (e === undefined) throw new Error(`no entry ${name}`);
  return e.dist;
}

/** A package tree staged in tmp/<label> with its own code cache, built by `src`'s packaging. */
async function stagedTree(label: string, src: string): Promise<Variant> {
  const tree = path.join(tmp, label);
  const cache = path.join(tmp, `${label}-cache`);
  fs.mkdirSync(cache);
  const bundle = (await import(path.join(src, 'packaging/bundle.ts'))) as { bundleTree: typeof bundleTree };
  const entries = ((await import(path.join(src, 'packaging/entries.ts'))) as { ENTRIES: readonly Entry[] }).ENTRIES;
  await bundle.bundleTree(tree, cache);
  const node = (name: string): string[] => [process.execPath, path.join(tree, distOf(entries, name))];
  return { where: label, ctl: node('witnessctl'), agent: node('witness-agent'), ocf: ocfShim(path.join(tmp, `ocf-${label}`), tree) };
}

/**
 * The source of git revision `rev` in tmp, with this checkout's node_modules and its built native
 * parts (the C watcher, the Kerberos addon), which bundleTree copies from the source's root.
 */
function sourceOf(rev: string): string {
  const src = path.join(tmp, 'src-before');
  fs.mkdirSync(src);
  execFileSync('sh', ['-c', 'git -C "$1" archive "$2" | tar -x -C "$3"', 'sh', ROOT, rev, src]);
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'));
  for (const built of ['agent/watch/witness-cib-watch', 'service/auth/krb5/native/gss.node']) fs.copyFileSync(path.join(ROOT, built), path.join(src, built));
  return src;
}

async function main(): Promise<void> {
  const variants: Variant[] = [];
  if (CHECKOUT) variants.push({ where: 'checkout', ctl: [path.join(ROOT, 'bin/witnessctl')], agent: [path.join(ROOT, 'bin/witness-agent')], ocf: ocfShim(path.join(tmp, 'ocf-checkout'), ROOT) });
  if (BEFORE !== undefined) {
    const rev = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', BEFORE], { encoding: 'utf8' }).trim();
    variants.push(await stagedTree(`pkg@${rev}`, sourceOf(rev)));
  }
  if (!STAGED && packageInstalled()) {
    variants.push({ where: 'package', ctl: ['/usr/bin/witnessctl'], agent: ['/usr/bin/witness-agent'], ocf: OCF_AGENT });
  } else {
    // The package's tree, staged: the same bundles, stubs and code cache as under /usr/lib.
    const v = await stagedTree('pkg-tree', ROOT);
    variants.push(v);
    process.stdout.write(`(${STAGED ? '--staged' : `${PKG} is not installed`}: 'pkg-tree' is its tree staged in ${path.join(tmp, 'pkg-tree')}, as it would be under ${LIB_DIR})\n`);
  }

  const w = await startWitnessd({ epm: '127.0.0.1:135', view: twoNodeView(1, { shares: [{ name: 'data', resource: 'g1', node: 'n2', ips: ['127.0.0.2'] }] }), extra: ['--log-level', 'info', '--force-unregister-after', '0'] });
  const rpc = new RpcClientSession('ncacn_ip_tcp:127.0.0.1');
  const cib = path.join(ROOT, 'test/fixtures/cib/01-started.xml');
  let nextPort = 26000 + (process.pid % 3000);
  const ocfEnv = async (v: number): Promise<Record<string, string>> => {
    const port = await freePort(nextPort);
    nextPort = port + 1;
    return {
      OCF_ROOT: '/usr/lib/ocf', OCF_RESOURCE_INSTANCE: `bench_${v}`, OCF_RESKEY_netname: 'FILESRV', OCF_RESKEY_db: path.join(tmp, `ocf-${v}.db`),
      OCF_RESKEY_log_file: path.join(tmp, `ocf-${v}.log`), OCF_RESKEY_witness_port: String(port), OCF_RESKEY_epm: 'off', OCF_RESKEY_listen_address: '127.0.0.1',
      OCF_RESKEY_auth: 'none', OCF_RESKEY_CRM_meta_interval: '10000', HA_RSCTMP: path.join(tmp, `run-${v}`), CIB_file: cib,
    };
  };
  // Killed half-way (timeout, Ctrl-C): the agents started here and witnessd still go.
  const started: { ocf: string; env: Record<string, string> }[] = [];
  const stopAgents = (): void => {
    for (const a of started.splice(0)) spawnSync(a.ocf, ['stop'], { env: { ...CLEAN_ENV, ...a.env } });
  };
  const cleanup = (): void => {
    stopAgents();
    void rpc.close();
    void w.stop().finally(() => { fs.rmSync(tmp, { recursive: true, force: true }); process.exit(130); });
  };
  process.once('SIGINT', cleanup);
  process.once('SIGTERM', cleanup);
  try {
    const f = (s: string): string => s.padStart(7);
    process.stdout.write(`\nstart-up and work, ${RUNS} runs each, variants in turn (ms)\n${'command'.padEnd(42)} ${'from'.padEnd(14)} ${f('cpu min')} ${f('cpu50')} ${f('cpu90')} ${f('wall50')} ${f('wall90')}   exit\n`);
    timeJobs([{ label: '/bin/true', where: '-', argv: ['/bin/true'] }, { label: 'node -e 0', where: '-', argv: [process.execPath, '-e', '0'] }]);
    if (which('net') !== null) timeJobs([{ label: 'net --version (Samba, C)', where: '-', argv: ['net', '--version'] }]);
    // Each command's variants run in turn with `node -e 0` among them: the floor of those very rounds.
    const each = (label: string, job: (v: Variant, n: number) => Omit<Job, 'label' | 'where'>): void => {
      timeJobs([...variants.map((v, n) => ({ label, where: v.where, ...job(v, n) })), { label: '  node -e 0 (same rounds)', where: '-', argv: [process.execPath, '-e', '0'] }]);
    };
    each('witnessctl --help', (v) => ({ argv: [...v.ctl, '--help'] }));
    each('witnessctl list', (v) => ({ argv: [...v.ctl, 'list', '--db', w.db] }));
    // A client told to move is not moved again: each client-move run has a registration of its
    // own, made just before (registrations made minutes earlier may have lapsed by then).
    for (let n = 0; n < variants.length; n++) {
      for (let i = 0; i <= RUNS; i++) {
        const reg = await rpc.run(`RegisterEx --net=FILESRV --ip=127.0.0.2 --client=bench-${n}-${i} --share=data --timeout=300`, /^\d+:[0-9a-f-]{36}$/m);
        if (!/^\d+:[0-9a-f-]{36}$/m.test(reg)) throw new Error(`RegisterEx failed: ${reg}`);
      }
    }
    each('witnessctl client-move', (v, n) => ({ argv: (i) => [...v.ctl, 'client-move', '--client', `bench-${n}-${i}`, '--to-ip', '127.0.0.1', '--db', w.db] }));
    each('witness-agent sync (file)', (v, n) => ({ argv: [...v.agent, 'sync', '--db', path.join(tmp, `agent-${n}.db`), '--cib-file', cib] }));
    each('witness-agent sync --no-samba-shares', (v, n) => ({ argv: [...v.agent, 'sync', '--db', path.join(tmp, `agent-${n}.db`), '--cib-file', cib, '--no-samba-shares'] }));
    each('ocf meta-data', (v) => ({ argv: [v.ocf, 'meta-data'] }));
    const envs: Record<string, string>[] = [];
    for (const [n, v] of variants.entries()) {
      const env = await ocfEnv(n);
      started.push({ ocf: v.ocf, env });
      envs.push(env);
      const start = spawnSync(v.ocf, ['start'], { env: { ...CLEAN_ENV, ...env }, encoding: 'utf8' });
      if (start.status !== 0) throw new Error(`ocf start (${v.where}) failed: ${start.stdout}${start.stderr}`);
    }
    // The probe first, as Pacemaker runs them (the code cache of each is written by its first run).
    const env = (n: number): Record<string, string> => envs[n] ?? {};
    each('ocf monitor probe (interval 0)', (v, n) => ({ argv: [v.ocf, 'monitor'], env: { ...env(n), OCF_RESKEY_CRM_meta_interval: '0' } }));
    each('ocf monitor (recurring: probe + sync)', (v, n) => ({ argv: [v.ocf, 'monitor'], env: env(n) }));
    each('ocf monitor (recurring, samba_shares=off)', (v, n) => ({ argv: [v.ocf, 'monitor'], env: { ...env(n), OCF_RESKEY_samba_shares: 'off' } }));
  } finally {
    stopAgents();
    await rpc.close();
    await w.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
