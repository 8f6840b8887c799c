// Helpers for tests that put Samba's own clients (python3-samba, rpcclient, smbtorture) and
// tshark against a real witnessd on loopback. Everything started here is stopped by its owner.

import { WITNESSD_NODE_FLAGS, witnessdEnv } from '../../service/node-flags.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../../store/index.ts';
import type { ClusterView, IpView } from '../../store/types.ts';
import { commitSync } from '../../store/view.ts';

/**
 * A TCP port free on 127.0.0.1, below the ephemeral range (32768-60999 here) so that no client's
 * outgoing connection can take it between this check and the listen (benchmarks on the same machine
 * open thousands of connections).
 */
export async function freePort(from: number): Promise<number> {
  for (let port = from; port < from + 2000; port++) {
    const ok = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => { resolve(false); });
      srv.listen(port, '127.0.0.1', () => { srv.close(() => { resolve(true); }); });
    });
    if (ok) return port;
  }
  throw new Error(`no free port from ${from}`);
}

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function ip(address: string, node: string | null, resource = `vip-${address}`, extra: Partial<IpView> = {}): IpView {
  return { resource, agent: 'ocf:heartbeat:IPaddr2', group: null, clone: null, address, family: address.includes(':') ? 6 : 4, prefix: 8, node, started: node !== null, failed: false, ...extra };
}

/** Two nodes, a witness on each, loopback addresses as the floating IPs (clients register with the address they use). */
export function twoNodeView(epoch = 1, over: Partial<ClusterView> = {}): ClusterView {
  return {
    cib: { adminEpoch: 0, epoch, numUpdates: 0 },
    dc: 'n1',
    nodes: [{ name: 'n1', id: '1', state: 'online' }, { name: 'n2', id: '2', state: 'online' }],
    ips: [ip('127.0.0.1', 'n1', 'vip1'), ip('127.0.0.2', 'n2', 'vip2')],
    shares: [],
    witness: [{ node: 'n1', resource: 'witness:0', started: true }, { node: 'n2', resource: 'witness:1', started: true }],
    ...over,
  };
}

/** Writes a view the way the agent does (a new CIB revision each time). */
export function writeView(db: string, v: ClusterView): void {
  const s = openStore(db);
  try {
    commitSync(s, v, () => []);
  } finally {
    s.close();
  }
}

export interface Witnessd {
  port: number;
  epmPort: number | null;
  db: string;
  dir: string;
  logs: () => string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export interface WitnessdOptions {
  view?: ClusterView;
  /** An existing store (a restart): no new directory, no view written, nothing removed on stop. */
  db?: string;
  epm?: string; // "127.0.0.1:135" or "off"
  port?: number;
  netname?: string;
  node?: string;
  extra?: string[];
  env?: Record<string, string>;
  /** Extra node options before the script (e.g. --cpu-prof for a benchmark). */
  nodeArgs?: string[];
  /** Authentication options (default ['--auth', 'none']), e.g. ['--accounts', FILE]. */
  auth?: string[];
  /** A command that runs node, e.g. ['prlimit', '--nofile=300:300'] for a lower descriptor limit. */
  prefix?: string[];
}

/** Starts witnessd from source on loopback with a fresh store holding `view`. */
export async function startWitnessd(o: WitnessdOptions = {}): Promise<Witnessd> {
  const dir = o.db !== undefined ? path.dirname(o.db) : fs.mkdtempSync(path.join(os.tmpdir(), 'pw-witnessd-'));
  const db = o.db ?? path.join(dir, 'state.db');
  if (o.db === undefined) writeView(db, o.view ?? twoNodeView());
  const args = [...WITNESSD_NODE_FLAGS, ...(o.nodeArgs ?? []), '--import', 'tsx', path.join(ROOT, 'service/main.ts'), '--db', db, '--listen', `127.0.0.1:${o.port ?? 0}`, '--epm', o.epm ?? 'off', '--netname', o.netname ?? 'FILESRV', '--node', o.node ?? 'n1', ...(o.auth ?? ['--auth', 'none']), ...(o.extra ?? ['--log-level', 'debug'])];
  const argv = [...(o.prefix ?? []), process.execPath, ...args];
  const proc = spawn(argv[0] ?? process.execPath, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...witnessdEnv(), ...(o.env ?? {}) } });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const t0 = Date.now();
  for (;;) {
    const m = /"witness":"[^"]*:(\d+)","epm":"(?:[^"]*:(\d+)|off)"/.exec(out);
    if (m) {
      const exited = new Promise<void>((resolve) => { proc.once('exit', () => { resolve(); }); });
      return {
        port: Number(m[1]),
        epmPort: m[2] !== undefined ? Number(m[2]) : null,
        db,
        dir,
        logs: () => out,
        proc,
        async stop(): Promise<void> {
          if (proc.exitCode === null && proc.signalCode === null) {
            proc.kill('SIGTERM');
            const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
            await exited;
            clearTimeout(timer);
          }
          if (o.db === undefined) fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    if (proc.exitCode !== null) throw new Error(`witnessd exited (${proc.exitCode}):\n${out}`);
    if (Date.now() - t0 > 20_000) {
      proc.kill('SIGKILL');
      throw new Error(`witnessd did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export type PyStep = Record<string, unknown> & { op: string };
export type PyResult = Record<string, unknown> & { ok: boolean; step: number; op: string; werror?: number };

/** Runs the python3-samba client with these steps and returns one result per step. */
/** `partial`: resolve with the steps that ran when the client is killed at the timeout (a client left hanging). */
export function runPy(steps: PyStep[], timeoutMs = 60_000, prefix: string[] = [], partial = false): Promise<PyResult[]> {
  return new Promise((resolve, reject) => {
    // `prefix` runs the client elsewhere, e.g. ['ip', 'netns', 'exec', 'pwci-hub'] on a test network.
    const argv = [...prefix, '/usr/bin/python3', path.join(ROOT, 'test/peers/witness_client.py')];
    const p = spawn(argv[0] ?? '/usr/bin/python3', argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => { p.kill('SIGKILL'); }, timeoutMs);
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      const lines = out.split('\n').filter((l) => l.trim() !== '');
      try {
        const results = lines.map((l) => JSON.parse(l) as PyResult);
        if (results.length !== steps.length && !partial) reject(new Error(`python client: ${results.length} of ${steps.length} steps ran (exit ${code ?? 'signal'})\n${out}\n${err}`));
        else resolve(results);
      } catch (e) {
        reject(new Error(`python client printed non-JSON (exit ${code ?? 'signal'}): ${(e as Error).message}\n${out}\n${err}`));
      }
    });
    p.stdin.end(JSON.stringify(steps));
  });
}

/** An interactive rpcclient session on one connection (context handles stay valid across commands). */
export class RpcClientSession {
  private readonly p: ChildProcess;
  private buf = '';

  /** `user`: rpcclient's -U value ('%' anonymous, 'DOM\\user%password'); NTLM only unless `extra` says otherwise. */
  constructor(binding: string, user = '%', extra: string[] = []) {
    this.p = spawn('rpcclient', [`-U${user}`, ...(user === '%' ? [] : ['--use-kerberos=disabled']), ...extra, binding], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.p.stdout?.on('data', (d: Buffer) => { this.buf += d.toString(); });
    this.p.stderr?.on('data', (d: Buffer) => { this.buf += d.toString(); });
  }

  /** Sends a command and collects its output until `done` matches or the output is quiet for `quietMs`. */
  async run(cmd: string, done: RegExp | null = null, quietMs = 400, timeoutMs = 20_000): Promise<string> {
    this.buf = '';
    this.p.stdin?.write(`${cmd}\n`);
    const t0 = Date.now();
    let last = '';
    let lastChange = Date.now();
    for (;;) {
      await new Promise((r) => setTimeout(r, 20));
      if (done?.test(this.buf) === true) return this.buf;
      if (this.buf !== last) {
        last = this.buf;
        lastChange = Date.now();
      } else if (done === null && Date.now() - lastChange > quietMs) {
        // Commands that succeed silently (UnRegister) print nothing: silence is the answer.
        return this.buf;
      }
      if (Date.now() - t0 > timeoutMs) throw new Error(`rpcclient: no answer to ${JSON.stringify(cmd)} in ${timeoutMs} ms; got ${JSON.stringify(this.buf)}`);
    }
  }

  async close(): Promise<void> {
    this.p.stdin?.end('quit\n');
    const timer = setTimeout(() => this.p.kill('SIGKILL'), 3000);
    await new Promise((r) => this.p.once('close', r));
    clearTimeout(timer);
  }
}

/** rpcclient -c for one-shot commands; `user` as for RpcClientSession. */
export function rpcclient(binding: string, commands: string, timeoutMs = 30_000, user = '%', extra: string[] = []): { code: number; out: string } {
  const r = spawnSync('rpcclient', [`-U${user}`, ...(user === '%' ? [] : ['--use-kerberos=disabled']), ...extra, '-c', commands, binding], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** A tshark capture on lo for the given TCP ports; stop() returns the pcap path. */
export class Capture {
  private readonly p: ChildProcess;
  readonly file: string;
  private err = '';

  constructor(ports: number[], file: string) {
    this.file = file;
    const filter = ports.map((p) => `tcp port ${p}`).join(' or ');
    this.p = spawn('dumpcap', ['-q', '-i', 'lo', '-f', filter, '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.p.stderr?.on('data', (d: Buffer) => { this.err += d.toString(); });
  }

  async started(): Promise<void> {
    const t0 = Date.now();
    while (!fs.existsSync(this.file) || !/Capturing on/.test(this.err)) {
      if (this.p.exitCode !== null) throw new Error(`dumpcap exited: ${this.err}`);
      if (Date.now() - t0 > 10_000) throw new Error(`dumpcap did not start: ${this.err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<string> {
    if (this.p.exitCode === null && this.p.signalCode === null) {
      await new Promise((r) => setTimeout(r, 300)); // let the last packets land
      this.p.kill('SIGINT');
      await new Promise((r) => this.p.once('close', r));
    }
    return this.file;
  }
}

export interface PcapReport {
  frames: number;
  witnessFrames: number;
  problems: string[];
}

/** Decodes a capture with tshark (our ports as DCE/RPC) and lists malformed frames and expert warnings. */
/**
 * `tsharkOptions`: e.g. the NTLM password for decryption. `onlyFrom`: judge only frames sent from
 * these ports (ours), when clients' own frames trip the dissector (impacket's empty sealed stub).
 */
export function checkPcap(file: string, rpcPorts: number[], tsharkOptions: string[] = [], onlyFrom: number[] | null = null): PcapReport {
  const decodeAs = [...tsharkOptions, ...rpcPorts.flatMap((p) => ['-d', `tcp.port==${p},dcerpc`])];
  const ours = onlyFrom ? ` && tcp.srcport in {${onlyFrom.join(' ')}}` : '';
  const count = (filter: string): number => {
    const r = spawnSync('tshark', ['-r', file, ...decodeAs, '-Y', filter, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
    return r.stdout.split('\n').filter((l) => l.trim() !== '').length;
  };
  const bad = spawnSync('tshark', ['-r', file, ...decodeAs, '-Y', `(_ws.malformed || _ws.expert.severity >= "warning")${ours}`, '-T', 'fields', '-e', 'frame.number', '-e', '_ws.col.Info', '-e', '_ws.expert.message'], { encoding: 'utf8' });
  return {
    frames: count('frame'),
    witnessFrames: count('witness'),
    problems: bad.stdout.split('\n').filter((l) => l.trim() !== ''),
  };
}

export interface Smbd {
  port: number;
  share: string;
  stop(): Promise<void>;
}

/**
 * Debian's smbd on a loopback port with one guest share, all its state in a temporary directory
 * (nothing system-wide is touched). smbtorture's witness tests enumerate shares over SMB on the
 * same host as the witness, so they need it.
 */
/**
 * `users`: serve these accounts instead of guests only — the passdb of a test Samba (its
 * `passdb backend` value) and the environment its Unix accounts need (nss_wrapper), so smbtorture
 * logs on to smbd as the same user it authenticates to the witness with.
 */
export async function startSmbd(port: number, users: { passdb: string; env: Record<string, string> } | null = null): Promise<Smbd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-smbd-'));
  for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'log', 'ncalrpc', 'share']) fs.mkdirSync(path.join(dir, d));
  const conf = path.join(dir, 'smb.conf');
  fs.writeFileSync(conf, [
    '[global]',
    '  server role = standalone server',
    '  workgroup = PWTEST',
    '  netbios name = PWTEST',
    `  smb ports = ${port}`,
    '  interfaces = lo',
    '  bind interfaces only = yes',
    `  private dir = ${path.join(dir, 'private')}`,
    `  lock directory = ${path.join(dir, 'lock')}`,
    `  state directory = ${path.join(dir, 'state')}`,
    `  cache directory = ${path.join(dir, 'cache')}`,
    `  pid directory = ${path.join(dir, 'pid')}`,
    `  ncalrpc dir = ${path.join(dir, 'ncalrpc')}`,
    `  log file = ${path.join(dir, 'log', '%m.log')}`,
    '  map to guest = Bad User',
    ...(users ? [`  passdb backend = ${users.passdb}`] : []),
    '  disable spoolss = yes',
    '  load printers = no',
    '[data]',
    `  path = ${path.join(dir, 'share')}`,
    '  guest ok = yes',
    '  read only = yes',
    '',
  ].join('\n'));
  // Its own process group, so stop() ends smbd, its children and samba-dcerpcd together.
  const p = spawn('smbd', ['--foreground', '--no-process-group', `--configfile=${conf}`], { detached: true, stdio: 'ignore', env: { ...process.env, ...(users?.env ?? {}) } });
  const t0 = Date.now();
  for (;;) {
    const r = spawnSync('smbclient', ['-N', '-L', '127.0.0.1', '-p', String(port)], { encoding: 'utf8', timeout: 5000 });
    if (/\bdata\s+Disk/.test(r.stdout)) break;
    if (p.exitCode !== null) throw new Error(`smbd exited: ${fs.readFileSync(path.join(dir, 'log', 'smbd.log'), 'utf8').slice(-2000)}`);
    if (Date.now() - t0 > 20_000) throw new Error('smbd did not start');
    await new Promise((res) => setTimeout(res, 200));
  }
  return {
    port,
    share: 'data',
    async stop(): Promise<void> {
      try {
        if (p.pid !== undefined) process.kill(-p.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((res) => setTimeout(res, 500));
      try {
        if (p.pid !== undefined) process.kill(-p.pid, 'SIGKILL');
      } catch {
        // gone
      }
      // smbd starts samba-dcerpcd (and its rpcd_* workers) on demand in a session of its own, out
      // of smbd's process group: find them by the config file they were given.
      spawnSync('pkill', ['-KILL', '-f', `configfile=${conf}`]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function smbtorture(test: string, smbPort: number, netName: string): { code: number; out: string } {
  const r = spawnSync('smbtorture', ['ncacn_ip_tcp:127.0.0.1', '-U%', '-p', String(smbPort), `--option=torture:net_name=${netName}`, `rpc.witness.witness.${test}`], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}
