// TypeScript side of test/domain/domain.sh: an Active Directory domain (Samba AD DC + a joined
// member running winbindd) in network namespaces, for node:test files.
//
//   const d = await startDomain();          // reuses a healthy domain already up in the directory
//   after(() => d.stop());                  // always: domain.sh down (unless keep / PWAD_KEEP=1)
//   d.wbinfo('-a', `${d.domain}\\${d.user}%${d.password}`);
//   d.ntlmAuth(['--helper-protocol=ntlm-server-1'], request);
//   d.kinit();                              // a TGT for the test user in a cache of its own
//
// The DC (198.18.10.1) and the member (198.18.10.2) are reachable only from their namespaces:
// commands that talk to the DC (kinit, kvno, net, smbclient…) run in the member through
// memberCommand()/inMember(). winbindd's socket is a path, so a process in the root namespace can
// use it too, but libwbclient (wbinfo, ntlm_auth) only ever looks in /run/samba/winbindd: the
// member's mount namespace has DIR/member/winbindd there, hence ntlmAuthCommand() enters it.
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DOMAIN_SH = path.join(ROOT, 'test/domain/domain.sh');
export const DEFAULT_DIR = process.env.PWAD_DIR ?? '/tmp/pwad';

/** Debian 12 packages the domain needs (ask for them with --no-install-recommends). */
export const DOMAIN_PACKAGES = ['samba', 'samba-ad-provision', 'samba-dsdb-modules', 'samba-vfs-modules', 'winbind', 'krb5-user'];

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** What domain.sh writes into DIR/domain.json. */
export interface DomainInfo {
  dir: string;
  realm: string; // WITNESS.TEST
  domain: string; // WITNESS (NetBIOS)
  dnsDomain: string; // witness.test
  dcName: string; // dc1
  dcAddress: string; // 198.18.10.1
  memberName: string; // WMEMBER
  memberAddress: string; // 198.18.10.2
  netName: string; // FILESRV: the witness NetName whose cifs/ SPNs are in `keytab`
  namespaces: { hub: string; dc: string; member: string };
  adminUser: string;
  adminPassword: string;
  user: string; // a plain domain user
  password: string;
  dcSmbConf: string;
  smbConf: string; // the member's smb.conf (security = ads)
  krb5Conf: string; // KRB5_CONFIG for every Kerberos client here
  winbindSocketDir: string; // the member's winbindd socket directory (DIR/member/winbindd)
  memberKeytab: string; // the member's dedicated keytab (host/, cifs/WMEMBER, WMEMBER$)
  keytab: string; // cifs/FILESRV and cifs/filesrv.witness.test only
  spns: string[];
}

export interface Domain extends DomainInfo {
  /** True when a domain already running in the directory was taken as it was. */
  reused: boolean;
  /** Seconds `domain.sh up` took (0 when reused). */
  upSeconds: number;
  /** KRB5_CONFIG and a credential cache under DIR: for MIT/Heimdal tools wherever they run. */
  krbEnv(cache?: string): Record<string, string>;
  /** argv prefix + argv that runs `argv` in the member's network, mount and UTS namespaces. */
  memberCommand(argv: string[], env?: Record<string, string>): string[];
  /** Same in the DC. */
  dcCommand(argv: string[], env?: Record<string, string>): string[];
  /**
   * ntlm_auth for the member's winbindd, as a process in the root namespace would start it (the
   * witness's NTLM helper): it enters the member's mount namespace (for /run/samba/winbindd) and
   * network namespace (smb.conf's `interfaces` are there), nothing else.
   */
  ntlmAuthCommand(extra?: string[]): string[];
  /**
   * Environment for libwbclient users left in the root namespace and its mount namespace: with
   * libnss_wrapper preloaded, libwbclient honours SELFTEST_WINBINDD_SOCKET_DIR. null when
   * libnss-wrapper is not installed.
   */
  wbclientPreloadEnv(): Record<string, string> | null;
  inMember(argv: string[], opts?: { input?: string; env?: Record<string, string>; timeoutMs?: number }): Run;
  inDc(argv: string[], opts?: { input?: string; env?: Record<string, string>; timeoutMs?: number }): Run;
  wbinfo(...args: string[]): Run;
  ntlmAuth(args: string[], input?: string): Run;
  /** kinit as `user` (default the test user) into DIR/ccache/NAME; returns the cache ("FILE:…") and the run. */
  kinit(user?: string, password?: string, cache?: string): { ccache: string; run: Run };
  /** The tail of every log of the domain (for failure messages). */
  logs(): string;
  stop(): Promise<void>;
}

/** null when everything is installed, else what is missing (for a test's skip message). */
export function domainPrerequisitesMissing(): string | null {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  const bins: [string, string][] = [
    ['/usr/sbin/samba', 'samba'],
    ['/usr/sbin/samba_spnupdate', 'samba'],
    ['/usr/bin/samba-tool', 'samba-common-bin'],
    ['/usr/bin/net', 'samba-common-bin'],
    ['/usr/sbin/winbindd', 'winbind'],
    ['/usr/bin/wbinfo', 'winbind'],
    ['/usr/bin/ntlm_auth', 'winbind'],
    ['/usr/share/samba/setup/provision.ldif', 'samba-ad-provision'],
    ['/usr/bin/kinit', 'krb5-user'],
    ['/usr/bin/kvno', 'krb5-user'],
  ];
  for (const [file, pkg] of bins) if (!fs.existsSync(file)) missing.push(`${pkg} (${file})`);
  const libdirs = ['/usr/lib/x86_64-linux-gnu/samba', '/usr/lib/aarch64-linux-gnu/samba', '/usr/lib/samba'];
  const lib = libdirs.find((d) => fs.existsSync(d));
  if (lib === undefined || !fs.existsSync(path.join(lib, 'ldb/samba_dsdb.so'))) missing.push('samba-dsdb-modules');
  if (lib === undefined || !fs.existsSync(path.join(lib, 'vfs/dfs_samba4.so'))) missing.push('samba-vfs-modules');
  for (const tool of ['ip', 'nsenter', 'unshare', 'setsid']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) missing.push(tool);
  }
  if (missing.length === 0) return null;
  const hint = missing.length > 1 || missing[0] !== 'root' ? ` (Debian packages: ${DOMAIN_PACKAGES.join(' ')})` : '';
  return `missing: ${[...new Set(missing)].join(', ')}${hint}`;
}

function runSync(cmd: string, args: string[], opts: SpawnSyncOptions = {}): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 60_000, ...opts });
  const code = r.status ?? (r.signal !== null ? 128 : 1);
  return { code, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') + (r.error ? `\n${r.error.message}` : '') };
}

// domain.sh processes under way (own process groups): killed before an emergency down, so that
// an `up` cannot go on creating what the down just removed.
const running = new Set<number>();
function killRunning(): void {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
}

function domainSh(args: string[], timeoutMs: number, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn('bash', [DOMAIN_SH, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, detached: true });
    if (p.pid !== undefined) running.add(p.pid);
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    p.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      if (p.pid !== undefined) process.kill(-p.pid, 'SIGKILL');
    }, timeoutMs);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      if (p.pid !== undefined) running.delete(p.pid);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

// Directories brought up by this process and not yet brought down: taken down on exit, whatever
// ends the process (a failed before(), an uncaught error, SIGTERM from the test runner).
const owned = new Set<string>();
let hooked = false;
function downSync(dir: string): void {
  spawnSync('bash', [DOMAIN_SH, 'down', dir], { stdio: 'ignore', timeout: 60_000 });
  owned.delete(dir);
}
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    killRunning();
    for (const dir of [...owned]) downSync(dir);
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killRunning();
      for (const dir of [...owned]) downSync(dir);
      process.kill(process.pid, sig);
    });
  }
}

export interface StartOptions {
  /** Where everything lives (default PWAD_DIR or /tmp/pwad). */
  dir?: string;
  /** Leave the domain up on stop() (also PWAD_KEEP=1): the next test file reuses it. */
  keep?: boolean;
  /** Timeout for `domain.sh up` (default 180 s). */
  timeoutMs?: number;
  /**
   * The member's netbios name (default PWAD_MEMBER_NAME or WMEMBER). An NTLM server that verifies
   * through the member's winbindd must give this name as MsvAvNbComputerName in its CHALLENGE's
   * target info: the DC refuses an NTLMv2 response whose blob names another computer. A domain
   * found running under another name is brought down and up again.
   */
  memberName?: string;
}

function readInfo(dir: string): DomainInfo | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'domain.json'), 'utf8')) as DomainInfo;
  } catch {
    return null;
  }
}

export async function startDomain(opts: StartOptions = {}): Promise<Domain> {
  const dir = path.resolve(opts.dir ?? DEFAULT_DIR);
  const keep = opts.keep ?? process.env.PWAD_KEEP === '1';
  const memberName = (opts.memberName ?? process.env.PWAD_MEMBER_NAME ?? 'wmember').toUpperCase();
  const status = await domainSh(['status', dir], 30_000);
  let reused = status.code === 0 && readInfo(dir)?.memberName === memberName;
  let upSeconds = 0;
  if (!reused) {
    hookExit();
    owned.add(dir);
    const t0 = performance.now();
    const up = await domainSh(['up', dir], opts.timeoutMs ?? 180_000, { PWAD_MEMBER_NAME: memberName });
    upSeconds = (performance.now() - t0) / 1000;
    if (up.code !== 0) {
      const logs = runSync('bash', [DOMAIN_SH, 'logs', dir]).stdout;
      downSync(dir);
      throw new Error(`domain.sh up ${dir} failed (exit ${up.code}):\n${up.stdout}\n${up.stderr}\n${logs}`);
    }
    // "domain already up" when another process won a race between status and up.
    reused = /already up/.test(up.stdout);
  }
  const info = readInfo(dir);
  if (info === null) throw new Error(`${dir}/domain.json unreadable after domain.sh up`);
  const anchor = (h: 'dc' | 'member'): string => fs.readFileSync(path.join(dir, `${h}.anchor`), 'utf8').trim();
  const krbEnv = (cache = 'test'): Record<string, string> => ({ KRB5_CONFIG: info.krb5Conf, KRB5CCNAME: `FILE:${path.join(dir, 'ccache', cache)}` });
  const envArgs = (env: Record<string, string>): string[] => Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const hostCommand = (h: 'dc' | 'member', argv: string[], env: Record<string, string> = {}): string[] => [
    'nsenter', '-t', anchor(h), '-m', '-u', '-n', '--',
    'env', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', ...envArgs({ ...krbEnv(), ...env }), ...argv,
  ];
  const hostRun = (h: 'dc' | 'member', argv: string[], o: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Run => {
    const [cmd, ...args] = hostCommand(h, argv, o.env);
    return runSync(cmd!, args, { ...(o.input !== undefined ? { input: o.input } : {}), timeout: o.timeoutMs ?? 60_000 });
  };
  let stopped = false;
  const d: Domain = {
    ...info,
    reused,
    upSeconds,
    krbEnv,
    memberCommand: (argv, env) => hostCommand('member', argv, env),
    dcCommand: (argv, env) => hostCommand('dc', argv, env),
    ntlmAuthCommand: (extra = []) => ['nsenter', '-t', anchor('member'), '-m', '-n', '--', '/usr/bin/ntlm_auth', `--configfile=${info.smbConf}`, ...extra],
    wbclientPreloadEnv: () => {
      const lib = ['/usr/lib/x86_64-linux-gnu/libnss_wrapper.so', '/usr/lib/aarch64-linux-gnu/libnss_wrapper.so'].find((f) => fs.existsSync(f));
      if (lib === undefined) return null;
      return { LD_PRELOAD: lib, NSS_WRAPPER_PASSWD: '/etc/passwd', NSS_WRAPPER_GROUP: '/etc/group', SELFTEST_WINBINDD_SOCKET_DIR: info.winbindSocketDir };
    },
    inMember: (argv, o) => hostRun('member', argv, o),
    inDc: (argv, o) => hostRun('dc', argv, o),
    wbinfo: (...args) => hostRun('member', ['wbinfo', ...args]),
    ntlmAuth: (args, input) => {
      const [cmd, ...rest] = d.ntlmAuthCommand(args);
      return runSync(cmd!, rest, input !== undefined ? { input } : {});
    },
    kinit: (user = info.user, password = info.password, cache = user) => {
      const env = krbEnv(cache);
      const run = hostRun('member', ['kinit', user], { input: `${password}\n`, env });
      return { ccache: env.KRB5CCNAME!, run };
    },
    logs: () => runSync('bash', [DOMAIN_SH, 'logs', dir]).stdout,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (keep) {
        owned.delete(dir);
        return;
      }
      const r = await domainSh(['down', dir], 120_000);
      owned.delete(dir);
      if (r.code !== 0) throw new Error(`domain.sh down ${dir} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    },
  };
  return d;
}
