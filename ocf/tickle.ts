// ocf:witness:tickle — tickle ACKs for clients of a floating IP that cannot use the witness (SMB2,
// cifs.ko without witness support), as CTDB sends them. Placed in the file server's group after
// its IPaddr2 (and after the Filesystem holding tickle_dir):
//   monitor, stop: record the established connections to ip:port in tickle_dir/<ip> (one
//     "ip:port<TAB>client:port" line each, written to a new file, fsynced and renamed over);
//   start (on the node the group moved to): send each recorded client three TCP ACKs with a bogus
//     sequence number from ip:port (resource-agents' tickle_tcp). The client answers with a
//     challenge ACK carrying its real numbers; this node has no such connection and answers that
//     with a RST, so the client drops the connection and reconnects at once, instead of after its
//     retransmission timer (which backs off to tens of seconds) or, when idle, whenever it next
//     sends something.
//
// Why not ocf:heartbeat:portblock's tickle_dir (which this follows, and whose file format it
// keeps): on Debian 12, its iptables 1.8.9 prints the protocol as a number and resource-agents 4.12
// looks for "tcp", so an unblock resource that once stopped on a node (its stop inserts a DROP
// rule) never removes that rule when it starts there again, and monitor reports it running: port
// 445 stays blocked on that node (measured; fixed upstream in resource-agents PR #1924). It also
// needs iptables, which nothing else here does. docs/deploy-samba.md has the measurements.
//
// Tickles are an optimisation: a failure to record or send is logged and never fails the group.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { action, isProbe, param, paramSet, rscTmp, instance } from './env.ts';
import { OCF, OcfError, type OcfExitCode } from './exit-codes.ts';
import { ocfLog } from './log.ts';
import type { AgentSpec } from './metadata.ts';
import { runAgent } from './run.ts';
import { readEstablished, type Connection } from './tcp-established.ts';

const DEFAULTS = { port: '445', count: '3', tickle_tcp: '/usr/libexec/heartbeat/tickle_tcp' } as const;
/** Bounds on what start reads back: a list file larger than this is cut there. */
const MAX_LIST_BYTES = 4 * 1024 * 1024;
const MAX_CONNECTIONS = 65_536;

export const SPEC: AgentSpec = {
  name: 'tickle',
  version: '0.1.0',
  shortdesc: 'Tickle ACKs for the clients of a floating IP after it moves',
  longdesc:
    'Records the TCP connections to a floating IP and port while it runs (monitor, stop) in a directory on the ' +
    'storage that moves with it, and when it starts on another node sends each recorded client TCP ACKs with a ' +
    'bogus sequence number (resource-agents\' tickle_tcp), so the client gets a reset and reconnects at once ' +
    'instead of waiting for TCP retransmission timeouts. Put it in the group after the IPaddr2 and the Filesystem ' +
    'holding tickle_dir. IPv4 only.',
  parameters: [
    { name: 'ip', type: 'string', required: true, unique: true, shortdesc: 'Floating IP', longdesc: 'The IPv4 address clients connect to (the IPaddr2 resource\'s ip).' },
    { name: 'port', type: 'integer', default: DEFAULTS.port, shortdesc: 'Service port', longdesc: 'The TCP port whose connections are recorded and tickled (445: SMB).' },
    { name: 'tickle_dir', type: 'string', required: true, shortdesc: 'Connection list directory', longdesc: 'A directory on storage every node that can run the group reads (the group\'s own Filesystem is the usual place, outside every share\'s path); start makes it when its parent is there. The connection list is tickle_dir/<ip>, the format of ocf:heartbeat:portblock\'s tickle_dir.' },
    { name: 'count', type: 'integer', default: DEFAULTS.count, shortdesc: 'ACKs per connection', longdesc: 'How many tickle ACKs start sends to each recorded connection.' },
    { name: 'tickle_tcp', type: 'string', default: DEFAULTS.tickle_tcp, shortdesc: 'tickle_tcp program', longdesc: 'resource-agents\' tickle_tcp, which sends the ACKs (it needs raw sockets: the agent runs as root).' },
  ],
  actions: [
    { name: 'start', timeout: '20s' },
    { name: 'stop', timeout: '20s' },
    { name: 'monitor', timeout: '20s', interval: '10s', depth: '0' },
    { name: 'validate-all', timeout: '20s' },
    { name: 'meta-data', timeout: '5s' },
  ],
};

interface TickleConfig {
  ip: string;
  port: number;
  dir: string;
  count: number;
  tickleTcp: string;
}

function readConfig(): TickleConfig {
  const ip = param('ip', '');
  const octets = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!octets || octets.slice(1).some((o) => Number(o) > 255)) throw new OcfError(OCF.ERR_CONFIGURED, `ip must be an IPv4 address, not ${JSON.stringify(ip)}`);
  const port = Number(param('port', DEFAULTS.port));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new OcfError(OCF.ERR_CONFIGURED, `port must be 1-65535, not ${param('port', DEFAULTS.port)}`);
  const count = Number(param('count', DEFAULTS.count));
  if (!Number.isInteger(count) || count < 1 || count > 10) throw new OcfError(OCF.ERR_CONFIGURED, `count must be 1-10, not ${param('count', DEFAULTS.count)}`);
  if (!paramSet('tickle_dir')) throw new OcfError(OCF.ERR_CONFIGURED, 'tickle_dir is required');
  const dir = param('tickle_dir', '');
  if (!path.isAbsolute(dir)) throw new OcfError(OCF.ERR_CONFIGURED, `tickle_dir must be an absolute path, not ${JSON.stringify(dir)}`);
  return { ip, port, dir, count, tickleTcp: param('tickle_tcp', DEFAULTS.tickle_tcp) };
}

const stateFile = (): string => path.join(rscTmp(), `witness-tickle-${instance()}`);
const listFile = (c: TickleConfig): string => path.join(c.dir, c.ip);

function checkInstalled(c: TickleConfig): void {
  try {
    fs.accessSync(c.tickleTcp, fs.constants.X_OK);
  } catch {
    throw new OcfError(OCF.ERR_INSTALLED, `${c.tickleTcp} is missing: install resource-agents (or set tickle_tcp)`);
  }
}

/** The connection list as portblock writes it; written whole, then renamed over the old one. */
export function formatList(conns: Connection[]): string {
  return conns.map((x) => `${x.local}\t${x.remote}\n`).join('');
}

/** The recorded connections of `local` (ip:port) in a list file's text; other lines are skipped and counted. */
export function parseList(text: string, local: string): { conns: Connection[]; skipped: number } {
  const conns: Connection[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^(\d{1,3}(?:\.\d{1,3}){3}:\d{1,5})\s+(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(line.trim());
    const rport = Number(m?.[3]);
    if (!m || m[1] !== local || rport < 1 || rport > 65535 || conns.length >= MAX_CONNECTIONS) {
      skipped++;
      continue;
    }
    conns.push({ local, remote: `${m[2] ?? ''}:${rport}` });
  }
  return { conns, skipped };
}

function record(c: TickleConfig): number {
  const all = readEstablished(c.ip, c.port);
  // The same bound as start reads back: clients decide how many connections there are.
  if (all.length > MAX_CONNECTIONS) ocfLog('warning', `${all.length} connections to ${c.ip}:${c.port}: only the first ${MAX_CONNECTIONS} are recorded for tickles`);
  const conns = all.slice(0, MAX_CONNECTIONS);
  const file = listFile(c);
  const text = formatList(conns);
  let old: string | null = null;
  try {
    old = fs.readFileSync(file, 'utf8');
  } catch {
    // first time
  }
  if (old === text) return conns.length;
  const tmp = `${file}.new`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    fs.writeSync(fd, text);
    // The list must be whole on the shared storage before the node can die, not in its page cache.
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  return conns.length;
}

function recordQuietly(c: TickleConfig, when: string): void {
  try {
    const n = record(c);
    ocfLog('debug', `${when}: ${n} connection(s) to ${c.ip}:${c.port} recorded in ${listFile(c)}`);
  } catch (err) {
    ocfLog('warning', `${when}: cannot record the connections to ${c.ip}:${c.port} in ${c.dir}: ${(err as Error).message}`);
  }
}

function sendTickles(c: TickleConfig): void {
  let text: string;
  try {
    const fd = fs.openSync(listFile(c), 'r');
    try {
      const buf = Buffer.alloc(Math.min(fs.fstatSync(fd).size, MAX_LIST_BYTES));
      text = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('latin1');
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    ocfLog('info', `start: no connection list for ${c.ip} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): nothing to tickle`);
    return;
  }
  const { conns, skipped } = parseList(text, `${c.ip}:${c.port}`);
  if (skipped > 0) ocfLog('warning', `start: ${skipped} line(s) of ${listFile(c)} skipped (not ${c.ip}:${c.port} connections, unreadable, or beyond ${MAX_CONNECTIONS})`);
  if (conns.length === 0) return;
  const t0 = Date.now();
  const r = spawnSync(c.tickleTcp, ['-n', String(c.count)], { input: formatList(conns), encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) ocfLog('warning', `start: ${c.tickleTcp} exited ${r.status ?? r.signal ?? 'abnormally'}: ${(r.stderr || r.stdout).trim()}`);
  else ocfLog('info', `start: sent ${c.count} tickle ACK(s) to each of ${conns.length} client(s) of ${c.ip}:${c.port} in ${Date.now() - t0} ms`);
}

async function start(): Promise<OcfExitCode> {
  const c = readConfig();
  checkInstalled(c);
  if (fs.existsSync(stateFile())) return OCF.SUCCESS;
  // Made here, on the storage the group has just mounted, so the admin need not; a missing parent
  // means that storage is not there.
  try {
    fs.mkdirSync(c.dir, { mode: 0o755 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new OcfError(OCF.ERR_CONFIGURED, `the directory holding tickle_dir ${c.dir} is missing: put this resource after the Filesystem resource that mounts it, in the same group`);
    if (code !== 'EEXIST') throw err;
  }
  sendTickles(c);
  fs.mkdirSync(rscTmp(), { recursive: true });
  fs.writeFileSync(stateFile(), `${c.ip}:${c.port}\n`);
  // The list now names the old node's connections, which the tickles have just reset.
  recordQuietly(c, 'start');
  return Promise.resolve(OCF.SUCCESS);
}

async function stop(): Promise<OcfExitCode> {
  let c: TickleConfig | null = null;
  try {
    c = readConfig();
  } catch (err) {
    ocfLog('warning', `stop with invalid parameters: ${(err as Error).message}`);
  }
  if (c && fs.existsSync(stateFile())) recordQuietly(c, 'stop');
  fs.rmSync(stateFile(), { force: true });
  return Promise.resolve(OCF.SUCCESS);
}

async function monitor(): Promise<OcfExitCode> {
  const c = readConfig();
  if (!fs.existsSync(stateFile())) return OCF.NOT_RUNNING;
  if (!isProbe(action())) recordQuietly(c, 'monitor');
  return Promise.resolve(OCF.SUCCESS);
}

async function validateAll(): Promise<OcfExitCode> {
  checkInstalled(readConfig());
  return Promise.resolve(OCF.SUCCESS);
}

export async function main(argv: readonly string[] = process.argv): Promise<OcfExitCode> {
  return runAgent(SPEC, { start, stop, monitor, 'validate-all': validateAll }, argv);
}
