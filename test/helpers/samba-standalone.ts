// A private standalone Samba for tests: a passdb with test users and a winbindd answering over
// unix sockets, everything (configuration, databases, sockets, logs) under one temporary
// directory. Nothing listens on the network, and the host's /etc/samba, /var/lib/samba, /run/samba
// and /var/log/samba are not touched.
//
// What it takes (Debian 12, Samba 4.17), as found out:
// - Samba's clients (ntlm_auth, wbinfo, libwbclient) look for winbindd's socket in a compiled-in
//   directory (/run/samba/winbindd). The only way to point them elsewhere is the selftest hook:
//   with nss_wrapper loaded (LD_PRELOAD=libnss_wrapper.so, package libnss-wrapper) and its
//   NSS_WRAPPER_PASSWD/NSS_WRAPPER_GROUP set, they use SELFTEST_WINBINDD_SOCKET_DIR. `env` below
//   has all four; give it to every Samba client (WinbindSource's `env` option for ntlm_auth).
// - The passdb users need Unix accounts (smbpasswd -a and winbindd's logon both call getpwnam):
//   nss_wrapper's passwd and group files provide them, so no user is added to the host.
// - A standalone server's own accounts live in the domain named after its NetBIOS name, not its
//   workgroup: clients authenticate as NETBIOSNAME\user (`domain` below) or with an empty domain.
// - winbindd would start samba-dcerpcd on demand (which logs to /var/log/samba before reading
//   the configuration): "rpc start on demand helpers = no" stops that; NTLM logons do not need
//   it. winbindd's own -l keeps its first log lines out of /var/log/samba too.
// - smbd and nmbd are not needed. winbindd answers `wbinfo -p` in about 0.3 s.
//
// Stopping: winbindd runs in its own process group (spawn's `detached`); stop() kills the group,
// then any process still naming this directory on its command line, then removes the directory.
// A process 'exit' hook kills the group if a test forgot to.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const NSS_WRAPPER_LIBRARY = '/usr/lib/x86_64-linux-gnu/libnss_wrapper.so';

export interface SambaUser {
  name: string;
  password: string;
}

export interface SambaStandaloneOptions {
  /** Default WITNESSTEST: also the domain of the passdb users. */
  netbiosName?: string;
  /** Default TESTWG. */
  workgroup?: string;
  users?: SambaUser[];
  /** Start winbindd now (default true). */
  winbindd?: boolean;
  /** Samba's log level (default 1). */
  logLevel?: number;
}

/** Which of the programs this needs are missing, as Debian package names (empty: all there). */
export function missingSambaPackages(): string[] {
  const need: [string, string][] = [
    ['/usr/sbin/winbindd', 'winbind'],
    ['/usr/bin/ntlm_auth', 'winbind'],
    ['/usr/bin/wbinfo', 'winbind'],
    ['/usr/bin/smbpasswd', 'samba-common-bin'],
    ['/usr/bin/pdbedit', 'samba'],
    [NSS_WRAPPER_LIBRARY, 'libnss-wrapper'],
  ];
  return [...new Set(need.filter(([f]) => !fs.existsSync(f)).map(([, p]) => p))];
}

export class SambaStandalone {
  readonly dir: string;
  readonly conf: string;
  readonly netbiosName: string;
  readonly workgroup: string;
  /** The domain the passdb users log on in (the NetBIOS name). */
  readonly domain: string;
  /** For every Samba client run against this one (ntlm_auth, wbinfo, smbpasswd, pdbedit). */
  readonly env: Record<string, string>;
  /** How long the last winbindd start took until it answered a ping. */
  winbinddStartMs = 0;
  private winbindd: ChildProcess | null = null;
  private winbinddExited: Promise<void> | null = null;
  private winbinddOut = '';
  private readonly logDir: string;
  private readonly passwdFile: string;
  private readonly groupFile: string;
  private nextUid = 20_001;
  private stopped = false;
  private readonly exitHook = (): void => { this.killGroup('SIGKILL'); };

  constructor(o: SambaStandaloneOptions = {}) {
    const missing = missingSambaPackages();
    if (missing.length > 0) throw new Error(`a private Samba needs these Debian packages: ${missing.join(' ')}`);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-samba-'));
    this.netbiosName = (o.netbiosName ?? 'WITNESSTEST').toUpperCase();
    this.workgroup = (o.workgroup ?? 'TESTWG').toUpperCase();
    this.domain = this.netbiosName;
    this.conf = path.join(this.dir, 'smb.conf');
    this.logDir = path.join(this.dir, 'log');
    for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc', 'wbsock', 'log']) fs.mkdirSync(path.join(this.dir, d), { mode: 0o755 });
    const p = (d: string): string => path.join(this.dir, d);
    fs.writeFileSync(this.conf, [
      '[global]',
      `  workgroup = ${this.workgroup}`,
      `  netbios name = ${this.netbiosName}`,
      '  server role = standalone server',
      '  security = user',
      `  passdb backend = tdbsam:${p('private/passdb.tdb')}`,
      `  smb passwd file = ${p('private/smbpasswd')}`,
      `  private dir = ${p('private')}`,
      `  lock directory = ${p('lock')}`,
      `  state directory = ${p('state')}`,
      `  cache directory = ${p('cache')}`,
      `  pid directory = ${p('pid')}`,
      `  ncalrpc dir = ${p('ncalrpc')}`,
      `  winbindd socket directory = ${p('wbsock')}`,
      `  log file = ${p('log')}/log.%m`,
      `  log level = ${o.logLevel ?? 1}`,
      '  rpc start on demand helpers = no',
      '  disable netbios = yes',
      '  interfaces = lo',
      '  bind interfaces only = yes',
      '  load printers = no',
      '  printing = bsd',
      '  printcap name = /dev/null',
      '',
    ].join('\n'));
    this.passwdFile = p('passwd');
    this.groupFile = p('group');
    fs.writeFileSync(this.passwdFile, 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
    fs.writeFileSync(this.groupFile, 'root:x:0:\nnogroup:x:65534:\n');
    this.env = {
      LD_PRELOAD: NSS_WRAPPER_LIBRARY,
      NSS_WRAPPER_PASSWD: this.passwdFile,
      NSS_WRAPPER_GROUP: this.groupFile,
      SELFTEST_WINBINDD_SOCKET_DIR: p('wbsock'),
    };
    process.once('exit', this.exitHook);
  }

  private run(cmd: string, args: string[], input = ''): string {
    const r = spawnSync(cmd, args, { input, encoding: 'utf8', env: { ...process.env, ...this.env }, timeout: 30_000 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? `exit ${r.status ?? r.signal ?? '?'}`}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** A Unix account (in nss_wrapper's files) and a passdb account with this password. */
  addUser(u: SambaUser): void {
    const uid = this.nextUid++;
    fs.appendFileSync(this.passwdFile, `${u.name}:x:${uid}:${uid}:${u.name}:/nonexistent:/usr/sbin/nologin\n`);
    fs.appendFileSync(this.groupFile, `${u.name}:x:${uid}:\n`);
    this.run('smbpasswd', ['-c', this.conf, '-a', '-s', u.name], `${u.password}\n${u.password}\n`);
  }

  /** The account's NT hash as the passdb holds it (pdbedit -w). */
  ntHash(user: string): Buffer {
    const out = this.run('pdbedit', ['-s', this.conf, '-L', '-w', '-u', user]);
    const hex = out.split(':')[3] ?? '';
    if (!/^[0-9A-F]{32}$/i.test(hex)) throw new Error(`pdbedit: no NT hash for ${user}: ${out}`);
    return Buffer.from(hex, 'hex');
  }

  /** wbinfo against this winbindd. */
  wbinfo(...args: string[]): { code: number; out: string } {
    const r = spawnSync('wbinfo', args, { encoding: 'utf8', env: { ...process.env, ...this.env }, timeout: 30_000 });
    return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
  }

  get winbinddPid(): number | null {
    return this.winbindd?.pid ?? null;
  }

  /** Starts winbindd and waits until it answers a ping (20 s at most). */
  async startWinbindd(): Promise<void> {
    if (this.winbindd !== null) throw new Error('winbindd is running already');
    const t0 = Date.now();
    this.winbinddOut = '';
    const proc = spawn('/usr/sbin/winbindd', ['-s', this.conf, '-l', this.logDir, '--foreground', '--no-process-group'], {
      detached: true, // its own process group, killed whole
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.env },
    });
    this.winbindd = proc;
    this.winbinddExited = new Promise((resolve) => { proc.once('close', () => { resolve(); }); });
    proc.stdout?.on('data', (d: Buffer) => { this.winbinddOut += d.toString(); });
    proc.stderr?.on('data', (d: Buffer) => { this.winbinddOut += d.toString(); });
    proc.once('exit', () => {
      if (this.winbindd === proc) this.winbindd = null;
    });
    for (;;) {
      if (this.winbindd !== proc) throw new Error(`winbindd exited at start:\n${this.logs()}`);
      if (this.wbinfo('-p').code === 0) break;
      if (Date.now() - t0 > 20_000) {
        await this.stopWinbindd();
        throw new Error(`winbindd did not answer a ping within 20 s:\n${this.logs()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    this.winbinddStartMs = Date.now() - t0;
  }

  private killGroup(signal: NodeJS.Signals): void {
    const pid = this.winbindd?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // gone already
    }
  }

  /** SIGSTOP / SIGCONT winbindd and its children: a hung winbindd. */
  pauseWinbindd(): void {
    this.killGroup('SIGSTOP');
  }

  resumeWinbindd(): void {
    this.killGroup('SIGCONT');
  }

  /** Stops winbindd (its whole process group), by force after 5 s. */
  async stopWinbindd(): Promise<void> {
    const proc = this.winbindd;
    if (proc === null) return;
    this.killGroup('SIGCONT');
    this.killGroup('SIGTERM');
    const force = setTimeout(() => { this.killGroup('SIGKILL'); }, 5000);
    await this.winbinddExited;
    clearTimeout(force);
    // its children (domain and idmap children) leave with it; make sure
    try {
      process.kill(-(proc.pid ?? 0), 'SIGKILL');
    } catch {
      // none left
    }
    this.winbindd = null;
  }

  /** winbindd's output and the tail of Samba's log files. */
  logs(): string {
    let text = this.winbinddOut;
    try {
      for (const f of fs.readdirSync(this.logDir)) {
        const p = path.join(this.logDir, f);
        if (!fs.statSync(p).isFile()) continue;
        text += `\n--- ${f}\n${fs.readFileSync(p, 'utf8').split('\n').slice(-40).join('\n')}`;
      }
    } catch {
      // removed already
    }
    return text;
  }

  /** Processes whose command line names this directory (what winbindd may have started). */
  private strays(): number[] {
    const out: number[] = [];
    for (const e of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
      try {
        if (fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(this.dir)) out.push(Number(e));
      } catch {
        // gone
      }
    }
    return out;
  }

  /** Stops everything and removes the directory. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.stopWinbindd();
    for (const pid of this.strays()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    process.removeListener('exit', this.exitHook);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A private standalone Samba with these users and (unless told otherwise) winbindd running. Always stop() it. */
export async function startSambaStandalone(o: SambaStandaloneOptions = {}): Promise<SambaStandalone> {
  const s = new SambaStandalone(o);
  try {
    for (const u of o.users ?? []) s.addUser(u);
    if (o.winbindd !== false) await s.startWinbindd();
    return s;
  } catch (err) {
    await s.stop();
    throw err;
  }
}
