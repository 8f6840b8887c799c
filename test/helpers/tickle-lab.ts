// A floating IP that moves between two "nodes" while a client holds a TCP connection to it, for
// measuring how fast the client notices (test/peers/tickle.test.ts, bench/tickle.ts). Four network
// namespaces on one bridge: <tag>-n1 (198.19.78.1), <tag>-n2 (.2), <tag>-c (the client, .100) and
// <tag>-hub (the bridge). The floating IP (198.19.78.10/24) is added and removed by the real
// ocf:heartbeat:IPaddr2 (gratuitous ARPs with send_arp), tickles are sent by our ocf:witness:tickle
// or by ocf:heartbeat:portblock (action=unblock, tickle_dir; needs iptables), all run by hand with
// OCF_ variables as Pacemaker would. Each node has its own HA_RSCTMP (the agents' state files) so the two do not see
// each other's; tickle_dir is one directory both can read, standing for the group's shared storage.
//
// A node "crashes" by losing its link (its sockets stay, unreachable, as on a dead machine) and is
// "rebooted" by removing the floating IP it still had and bringing the link back.
//
// The service on the floating IP is a TCP echo server on port 445 on both nodes; the client
// connects to it, optionally sends a byte every 200 ms (an active SMB client) or just waits (an
// idle one: open files, no I/O), and reconnects when it loses the connection. It prints one JSON
// line per event with Date.now() (the same clock as the test's).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const VIP = '198.19.78.10';
export const NODE_ADDRESSES = { n1: '198.19.78.1', n2: '198.19.78.2' } as const;
export const CLIENT_ADDRESS = '198.19.78.100';
export const PORT = 445;
const OCF_ROOT = '/usr/lib/ocf';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export type NodeName = 'n1' | 'n2';

export interface Run {
  code: number;
  out: string;
  ms: number;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}, timeout = 60_000): Run {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, env: { ...process.env, ...env } });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`, ms: Date.now() - t0 };
}

function must(cmd: string, args: string[]): void {
  const r = run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}: ${r.out}`);
}

const SERVER = `
const net = require('node:net');
net.createServer((s) => { s.on('data', (d) => s.write(d)); s.on('error', () => {}); }).listen(${PORT}, '0.0.0.0', () => console.log('listening'));
`;

const CLIENT = `
const net = require('node:net');
const [host, mode] = process.argv.slice(1);
const say = (ev, o = {}) => console.log(JSON.stringify({ t: Date.now(), ev, ...o }));
function connect() {
  const s = net.connect({ host, port: ${PORT}, timeout: 2000 });
  let timer = null;
  let done = false;
  const lost = (why) => { if (done) return; done = true; clearInterval(timer); s.destroy(); say('lost', { why }); setTimeout(connect, 100); };
  s.on('connect', () => {
    s.setTimeout(0);
    say('connected', { port: s.localPort });
    if (mode === 'active') timer = setInterval(() => s.write('x'), 200);
  });
  s.on('timeout', () => lost('connect timeout'));
  s.on('error', (e) => lost(e.code ?? e.message));
  s.on('end', () => lost('eof'));
  s.on('close', () => lost('close'));
  s.on('data', () => {});
}
connect();
`;

export interface ClientEvent {
  t: number;
  ev: 'connected' | 'lost';
  port?: number;
  why?: string;
}

export class LabClient {
  readonly events: ClientEvent[] = [];
  private readonly p: ChildProcess;
  private buf = '';

  constructor(ns: string, mode: 'active' | 'idle') {
    this.p = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', CLIENT, VIP, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.p.stdout?.on('data', (d: Buffer) => {
      this.buf += d.toString();
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (line.trim() !== '') this.events.push(JSON.parse(line) as ClientEvent);
      }
    });
  }

  /** The first event of this kind after time `since`, waiting up to `ms`. */
  async next(ev: ClientEvent['ev'], since: number, ms: number): Promise<ClientEvent | null> {
    const t0 = Date.now();
    for (;;) {
      const e = this.events.find((x) => x.ev === ev && x.t >= since);
      if (e) return e;
      if (Date.now() - t0 > ms) return null;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    if (this.p.exitCode !== null || this.p.signalCode !== null) return;
    const closed = new Promise((r) => this.p.once('close', r));
    this.p.kill('SIGKILL');
    await closed;
  }
}

export class TickleLab {
  readonly dir: string;
  readonly tickleDir: string;
  readonly ns: { hub: string; n1: string; n2: string; c: string };
  private readonly servers: ChildProcess[] = [];

  /** `tag`: a short prefix of its own (namespace and veth names), e.g. `pwtk${process.pid % 10000}`. */
  readonly tag: string;

  constructor(tag: string) {
    this.tag = tag;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
    this.tickleDir = path.join(this.dir, 'shared/tickle');
    fs.mkdirSync(this.tickleDir, { recursive: true });
    this.ns = { hub: `${tag}-hub`, n1: `${tag}-n1`, n2: `${tag}-n2`, c: `${tag}-c` };
  }

  /** Namespaces, the bridge, addresses, and the echo servers on both nodes. */
  async up(): Promise<void> {
    this.down();
    must('ip', ['netns', 'add', this.ns.hub]);
    must('ip', ['-n', this.ns.hub, 'link', 'add', 'br0', 'type', 'bridge']);
    must('ip', ['-n', this.ns.hub, 'link', 'set', 'br0', 'up']);
    const hosts: [keyof TickleLab['ns'], string][] = [['n1', NODE_ADDRESSES.n1], ['n2', NODE_ADDRESSES.n2], ['c', CLIENT_ADDRESS]];
    for (const [h, addr] of hosts) {
      const ns = this.ns[h];
      const a = `${this.tag}${h}a`; // veth names: at most 15 characters
      const b = `${this.tag}${h}b`;
      must('ip', ['netns', 'add', ns]);
      must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      must('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
      must('ip', ['link', 'set', a, 'netns', ns]);
      must('ip', ['link', 'set', b, 'netns', this.ns.hub]);
      must('ip', ['-n', ns, 'link', 'set', a, 'name', 'eth0']);
      must('ip', ['-n', this.ns.hub, 'link', 'set', b, 'master', 'br0', 'up']);
      must('ip', ['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
      must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
    for (const n of ['n1', 'n2'] as const) {
      fs.mkdirSync(path.join(this.dir, n, 'rsctmp'), { recursive: true });
      const p = spawn('ip', ['netns', 'exec', this.ns[n], process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
      this.servers.push(p);
      await new Promise<void>((resolve, reject) => {
        p.stdout?.once('data', () => { resolve(); });
        p.once('exit', (code) => { reject(new Error(`echo server on ${n} exited (${code ?? 'signal'})`)); });
      });
    }
  }

  /** Runs an OCF agent action inside a node, as Pacemaker would (OCF_RESKEY_* from `params`). */
  ocf(node: NodeName, agent: string, action: string, instance: string, params: Record<string, string>): Run {
    const env: Record<string, string> = { OCF_ROOT, OCF_RESOURCE_INSTANCE: instance, HA_RSCTMP: path.join(this.dir, node, 'rsctmp') };
    for (const [k, v] of Object.entries(params)) env[`OCF_RESKEY_${k}`] = v;
    return run('ip', ['netns', 'exec', this.ns[node], path.join(OCF_ROOT, 'resource.d/heartbeat', agent), action], env);
  }

  ipaddr(node: NodeName, action: 'start' | 'stop' | 'monitor'): Run {
    return this.ocf(node, 'IPaddr2', action, 'vip', { ip: VIP, cidr_netmask: '24', nic: 'eth0' });
  }

  /** ocf:heartbeat:portblock action=unblock with tickles, for the floating IP's port. */
  portblock(node: NodeName, action: 'start' | 'stop' | 'monitor'): Run {
    return this.ocf(node, 'portblock', action, 'vip-unblock', { ip: VIP, portno: String(PORT), protocol: 'tcp', action: 'unblock', tickle_dir: this.tickleDir });
  }

  /** Our ocf:witness:tickle (from source), with the parameters a group would give it (`params` override them). */
  tickle(node: NodeName, action: 'start' | 'stop' | 'monitor' | 'validate-all', o: { interval?: string; params?: Record<string, string> } = {}): Run {
    const params: Record<string, string> = { ip: VIP, port: String(PORT), tickle_dir: this.tickleDir, ...(o.params ?? {}) };
    const env: Record<string, string> = {
      OCF_ROOT, OCF_RESOURCE_INSTANCE: 'vip-tickle', HA_RSCTMP: path.join(this.dir, node, 'rsctmp'),
      OCF_RESKEY_CRM_meta_interval: o.interval ?? (action === 'monitor' ? '10000' : '0'),
    };
    for (const [k, v] of Object.entries(params)) env[`OCF_RESKEY_${k}`] = v;
    return run('ip', ['netns', 'exec', this.ns[node], process.execPath, '--import', 'tsx', path.join(ROOT, 'ocf/tickle-main.ts'), action], env);
  }

  /** Power cut, as far as the network can tell: the node's link goes down, its state stays. */
  crash(node: NodeName): void {
    must('ip', ['-n', this.ns[node], 'link', 'set', 'eth0', 'down']);
  }

  /** The node comes back without the floating IP (a reboot forgets it). */
  revive(node: NodeName): void {
    run('ip', ['-n', this.ns[node], 'addr', 'del', `${VIP}/24`, 'dev', 'eth0']);
    for (const f of fs.readdirSync(path.join(this.dir, node, 'rsctmp'))) fs.rmSync(path.join(this.dir, node, 'rsctmp', f), { recursive: true, force: true });
    must('ip', ['-n', this.ns[node], 'link', 'set', 'eth0', 'up']);
  }

  client(mode: 'active' | 'idle'): LabClient {
    return new LabClient(this.ns.c, mode);
  }

  /** Established connections to the floating IP as `ss` sees them in a namespace. */
  connections(node: NodeName | 'c'): string[] {
    return run('ip', ['netns', 'exec', this.ns[node], 'ss', '-Htn', 'state', 'established']).out.split('\n').filter((l) => l.includes(VIP));
  }

  down(): void {
    for (const p of this.servers.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const ns of [this.ns.c, this.ns.n1, this.ns.n2, this.ns.hub]) {
      const pids = run('ip', ['netns', 'pids', ns]).out.split('\n').map((s) => s.trim()).filter((s) => /^\d+$/.test(s));
      if (pids.length > 0) run('kill', ['-KILL', ...pids]);
      run('ip', ['netns', 'del', ns]);
    }
  }

  close(): void {
    this.down();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
