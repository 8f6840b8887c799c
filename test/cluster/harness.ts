// TypeScript side of test/cluster/harness.sh, for node:test files.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterEvent, ClusterView } from '../../store/types.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HARNESS = path.join(ROOT, 'test/cluster/harness.sh');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function sh(cmd: string, args: string[], timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export async function harness(...args: string[]): Promise<Run> {
  return sh('bash', [HARNESS, ...args], 180_000);
}

/** Runs a command on node k and fails loudly when it fails. */
export async function onNode(k: number, ...cmd: string[]): Promise<string> {
  const r = await harness('exec', String(k), ...cmd);
  if (r.code !== 0) throw new Error(`node ${k}: ${cmd.join(' ')} → exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

export interface Shown {
  view: ClusterView | null;
  events: ClusterEvent[];
}

export const STORE = '/var/lib/pacemaker-witness/state.db';

/**
 * A command as the nodes run it: the package's (/usr/bin) once createWitnessCluster installed it,
 * else this checkout's bin/.
 */
export function command(name: 'witness-agent' | 'witnessctl' | 'witnessd'): string {
  return fs.existsSync(path.join(process.env['PWCI_BASE'] ?? '/tmp/pwci', 'package-installed')) ? path.join('/usr/bin', name) : path.join(ROOT, 'bin', name);
}

/** The node's store as `witness-agent show --json` prints it (null while it does not exist yet). */
export async function show(k: number): Promise<Shown | null> {
  const r = await harness('exec', String(k), command('witness-agent'), 'show', '--json', '--events', '200', '--db', STORE);
  if (r.code !== 0) return null;
  return JSON.parse(r.stdout) as Shown;
}

export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function requireBuild(): void {
  if (!fs.existsSync(path.join(ROOT, 'dist/ocf/witnessd-main.js')) || !fs.existsSync(path.join(ROOT, 'agent/watch/witness-cib-watch'))) {
    throw new Error('the build is missing: run `npm run build` (or `npm test`, which runs .ci/setup) first');
  }
}

/**
 * The account file on every node (each node's /var/lib/pacemaker-witness is its own, see
 * harness.sh; a real cluster would keep it in /etc/pacemaker-witness, which the harness does not
 * make private, so the host's /etc stays untouched).
 */
export const ACCOUNTS = '/var/lib/pacemaker-witness/accounts';

/** The one account clients of the test clusters authenticate with. */
export const CLIENT = { domain: 'PWCI', user: 'witness-client', password: 'Pwci-Client.42' } as const;

/** python3-samba connect-step options: the account, signed (integrity, the witness's minimum). */
export function clientCreds(): { user: string; password: string; domain: string; options: string[] } {
  return { user: CLIENT.user, password: CLIENT.password, domain: CLIENT.domain, options: ['sign'] };
}

/** rpcclient's -U value for the account. */
export const RPCCLIENT_USER = `${CLIENT.domain}\\${CLIENT.user}%${CLIENT.password}`;

/** Number of nodes the harness set up. */
function nodeCount(): number {
  const n = Number(fs.readFileSync(path.join(process.env['PWCI_BASE'] ?? '/tmp/pwci', 'count'), 'utf8').trim());
  if (!Number.isInteger(n) || n < 1) throw new Error('the harness has no nodes: run harness.sh up N first');
  return n;
}

/**
 * The admin's way: one account file made with `witnessctl user add` (password on stdin), copied
 * to every node with mode 0600, owned by root.
 */
export async function installAccounts(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pwci-accounts-'));
  try {
    const file = path.join(tmp, 'accounts');
    const r = spawnSync(command('witnessctl'), ['user', 'add', `${CLIENT.domain}\\${CLIENT.user}`, '--accounts', file], { input: `${CLIENT.password}\n`, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`witnessctl user add failed: ${r.stdout}${r.stderr}`);
    for (let k = 1; k <= nodeCount(); k++) await onNode(k, 'install', '-m', '0600', '-o', 'root', '-g', 'root', file, ACCOUNTS);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The Debian package built from this checkout (npm run package's build, without tsc) and installed
 * for every node with dpkg -i (harness.sh install; `harness.sh down` removes it). The .deb is
 * reused while the bundled tree is unchanged.
 */
export async function installPackage(): Promise<string> {
  const { buildPackage } = await import('../../packaging/deb.ts');
  const { deb } = await buildPackage();
  const r = await harness('install', deb);
  if (r.code !== 0) throw new Error(`harness.sh install ${deb} failed: ${r.stdout}${r.stderr}`);
  return deb;
}

/**
 * The set-up every cluster test and benchmark shares: the package installed on the nodes, the
 * account file on every node, resources kept where they are once placed (so clearing a move does
 * not move them back), the witness created as a clone with pcs (clients authenticate against the
 * account file), and one IPaddr2 on eth0, all started.
 */
export async function createWitnessCluster(vip: string): Promise<void> {
  await installPackage();
  await installAccounts();
  await onNode(1, 'crm_attribute', '-t', 'rsc_defaults', '-n', 'resource-stickiness', '-v', '100');
  await onNode(1, 'pcs', 'resource', 'create', 'witness', 'ocf:witness:witnessd', 'netname=FILESRV', `accounts=${ACCOUNTS}`, 'clone');
  await onNode(1, 'pcs', 'resource', 'create', 'vip', 'ocf:heartbeat:IPaddr2', `ip=${vip}`, 'cidr_netmask=24', 'nic=eth0', 'op', 'monitor', 'interval=5s');
  await onNode(1, 'crm_resource', '--wait', '--timeout=90');
}
