// ocf:witness:witnessd — the resource agent that runs the witness on every node (as a clone):
//   pcs resource create witness ocf:witness:witnessd netname=FILESRV clone
// start: one sync, then the CIB watcher (`witness-agent watch`), then the witness service
// (`witnessd`); monitor: both alive, the witness port answers a DCE/RPC bind, and one more sync
// succeeds (the safety net under the watcher); stop: both end.
//
// This module is loaded for every action, meta-data included, so it imports nothing heavy at the
// top: the store (better-sqlite3) and the agent are loaded only by the actions that use them.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonState, startDaemon, stopDaemon, type DaemonSpec } from './daemon.ts';
import { checkLevel, instance, isProbe, param, rscTmp, timeoutMs } from './env.ts';
import { OCF, OcfError, type OcfExitCode } from './exit-codes.ts';
import { ocfLog } from './log.ts';
import type { AgentSpec } from './metadata.ts';
import { runAgent } from './run.ts';
import { WITNESSD_NODE_FLAGS } from '../service/node-flags.ts';

export const DEFAULTS = {
  db: '/var/lib/pacemaker-witness/state.db',
  ip_agents: 'ocf:heartbeat:IPaddr2 ocf:heartbeat:IPaddr ocf:heartbeat:IPv6addr',
  witness_port: '5999',
  epm: '0.0.0.0:135',
  listen_address: '0.0.0.0',
  auth: 'none',
  log_level: 'info',
  log_file: '/var/log/pacemaker-witness/witness-agent.log',
  watch_poll: '0',
  force_unregister_after: '5',
} as const;

export const SPEC: AgentSpec = {
  name: 'witnessd',
  version: '0.1.0',
  shortdesc: 'SMB Witness (MS-SWN) service for a Pacemaker file-server cluster',
  longdesc:
    'Runs the SMB Witness Protocol (MS-SWN) service on a cluster node, normally as a clone on every node. ' +
    'It follows the CIB (every change, cluster-wide) and keeps a node-local store of where every floating IP ' +
    'and share runs, so SMB3 clients registered with the witness learn within milliseconds when their IP or ' +
    'share goes away, moves or comes back.',
  parameters: [
    { name: 'netname', type: 'string', required: true, shortdesc: 'Cluster name(s) clients use', longdesc: 'The name(s) SMB clients use to reach the file server (the NetName they register for), separated by commas or spaces.' },
    { name: 'db', type: 'string', default: DEFAULTS.db, shortdesc: 'State store', longdesc: 'Path of the node-local SQLite state store (created with mode 0600).' },
    { name: 'shares', type: 'string', default: '', shortdesc: 'Share map', longdesc: 'Which Pacemaker resource carries which SMB share: "SHARE=resource,SHARE2=group". A share follows its resource.' },
    { name: 'ip_resources', type: 'string', default: '', shortdesc: 'Witness IP resources', longdesc: 'Resource ids (or groups) whose floating IPs clients use; empty means every resource of ip_agents.' },
    { name: 'ip_agents', type: 'string', default: DEFAULTS.ip_agents, shortdesc: 'Floating IP agents', longdesc: 'Resource agents (class:provider:type) that are floating IPs.' },
    { name: 'witness_port', type: 'integer', default: DEFAULTS.witness_port, shortdesc: 'Witness TCP port', longdesc: 'TCP port of the witness RPC service (fixed, so firewalls can be set).' },
    { name: 'epm', type: 'string', default: DEFAULTS.epm, shortdesc: 'Endpoint mapper address', longdesc: 'HOST:PORT for the DCE/RPC endpoint mapper clients query first (Windows uses TCP 135), or "off".' },
    { name: 'listen_address', type: 'string', default: DEFAULTS.listen_address, shortdesc: 'Listen address', longdesc: 'Address the witness service listens on.' },
    { name: 'auth', type: 'string', default: DEFAULTS.auth, shortdesc: 'Authentication mode', longdesc: 'Authentication required of clients: "none" until authentication is available.' },
    { name: 'log_level', type: 'string', default: DEFAULTS.log_level, shortdesc: 'Log level', longdesc: 'fatal, error, warn, info, debug or trace.' },
    { name: 'log_file', type: 'string', default: DEFAULTS.log_file, shortdesc: 'Log file', longdesc: 'Where the watcher and the service write their JSON logs.' },
    { name: 'force_unregister_after', type: 'integer', default: DEFAULTS.force_unregister_after, shortdesc: 'Re-registration workaround (s)', longdesc: 'Seconds after telling a client its resource is unavailable, or to move, before its registration is dropped so that Windows clients re-register (as Samba does); 0 turns it off.' },
    { name: 'watch_poll', type: 'integer', default: DEFAULTS.watch_poll, shortdesc: 'Poll instead of subscribing', longdesc: 'When above 0, poll the CIB every this many milliseconds instead of subscribing to its change notifications (slow; for nodes without the watcher helper).' },
  ],
  actions: [
    { name: 'start', timeout: '30s' },
    { name: 'stop', timeout: '30s' },
    { name: 'monitor', timeout: '20s', interval: '10s', depth: '0' },
    { name: 'validate-all', timeout: '20s' },
    { name: 'meta-data', timeout: '5s' },
  ],
};

export interface AgentConfig {
  netnames: string[];
  db: string;
  shares: string;
  ipResources: string;
  ipAgents: string;
  witnessPort: number;
  epm: string;
  listenAddress: string;
  auth: string;
  logLevel: string;
  logFile: string;
  watchPoll: number;
  forceUnregisterAfter: number;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/** Parameter syntax (OCF_CHECK_LEVEL 0): no look at the node. Throws OcfError(ERR_CONFIGURED). */
export async function readConfig(): Promise<AgentConfig> {
  const bad = (msg: string): never => {
    throw new OcfError(OCF.ERR_CONFIGURED, msg);
  };
  const netnames = param('netname', '').split(/[\s,]+/).filter((n) => n !== '');
  if (netnames.length === 0) bad('parameter netname is required: the name(s) clients use to reach the file server');
  const db = param('db', DEFAULTS.db);
  if (!path.isAbsolute(db)) bad(`db must be an absolute path, not ${JSON.stringify(db)}`);
  const shares = param('shares', '');
  if (shares.trim() !== '') {
    const { parseSharesMap } = await import('../agent/config.ts');
    try {
      parseSharesMap(shares);
    } catch (err) {
      bad(`shares: ${(err as Error).message}`);
    }
  }
  const port = Number(param('witness_port', DEFAULTS.witness_port));
  if (!Number.isInteger(port) || port < 1 || port > 65535) bad(`witness_port must be a TCP port, not ${JSON.stringify(param('witness_port', ''))}`);
  const epm = param('epm', DEFAULTS.epm);
  if (epm !== 'off' && !/^(\[[^\]]+\]|[^:\s]*):\d{1,5}$/.test(epm)) bad(`epm must be HOST:PORT or off, not ${JSON.stringify(epm)}`);
  const auth = param('auth', DEFAULTS.auth);
  if (auth !== 'none') bad(`auth ${JSON.stringify(auth)} is not supported yet; use none`);
  const logLevel = param('log_level', DEFAULTS.log_level);
  if (!LEVELS.includes(logLevel)) bad(`log_level must be one of ${LEVELS.join(', ')}`);
  const logFile = param('log_file', DEFAULTS.log_file);
  if (!path.isAbsolute(logFile)) bad(`log_file must be an absolute path, not ${JSON.stringify(logFile)}`);
  const watchPoll = Number(param('watch_poll', DEFAULTS.watch_poll));
  if (!Number.isInteger(watchPoll) || watchPoll < 0 || (watchPoll > 0 && watchPoll < 100)) bad('watch_poll must be 0 or an integer of at least 100 (ms)');
  const retire = Number(param('force_unregister_after', DEFAULTS.force_unregister_after));
  if (!Number.isInteger(retire) || retire < 0) bad('force_unregister_after must be 0 or a number of seconds');
  return {
    netnames,
    db,
    shares,
    ipResources: param('ip_resources', ''),
    ipAgents: param('ip_agents', DEFAULTS.ip_agents),
    witnessPort: port,
    epm,
    listenAddress: param('listen_address', DEFAULTS.listen_address),
    auth,
    logLevel,
    logFile,
    watchPoll,
    forceUnregisterAfter: retire,
  };
}

/** This checkout: dist/ocf/witnessd.js when built, ocf/witnessd.ts when run from source. */
function layout(): { root: string; fromSource: boolean } {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const fromSource = !here.split(path.sep).includes('dist');
  return { root: fromSource ? path.resolve(here, '..') : path.resolve(here, '..', '..'), fromSource };
}

function onPath(cmd: string): boolean {
  return (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => d !== '' && fs.existsSync(path.join(d, cmd)));
}

function usingCibFile(): boolean {
  const f = process.env['CIB_file'];
  return f !== undefined && f !== '';
}

/** OCF_CHECK_LEVEL 10 and every start: what this node must have. */
function checkInstalled(cfg: AgentConfig): void {
  const { root, fromSource } = layout();
  for (const rel of fromSource ? ['agent/main.ts', 'service/main.ts'] : ['dist/agent/main.js', 'dist/service/main.js']) {
    const entry = path.join(root, rel);
    if (!fs.existsSync(entry)) throw new OcfError(OCF.ERR_INSTALLED, `${entry} is missing: run 'npm ci && npm run build' in ${root}`);
  }
  if (!usingCibFile()) {
    if (!onPath('cibadmin')) throw new OcfError(OCF.ERR_INSTALLED, 'cibadmin not found: install pacemaker-cli-utils');
    const helper = path.join(root, 'agent/watch/witness-cib-watch');
    if (cfg.watchPoll === 0 && !fs.existsSync(helper)) {
      throw new OcfError(OCF.ERR_INSTALLED, `${helper} is missing: build it with 'npm run build' (needs pacemaker-dev), or set watch_poll`);
    }
  }
}

function agentFlags(cfg: AgentConfig): string[] {
  const flags = ['--db', cfg.db, '--ip-agents', cfg.ipAgents, '--log-level', cfg.logLevel];
  if (cfg.shares.trim() !== '') flags.push('--shares', cfg.shares);
  if (cfg.ipResources.trim() !== '') flags.push('--ip-resources', cfg.ipResources);
  return flags;
}

/**
 * A long-running node process of this checkout (the watcher or witnessd). Its identity — pidfile,
 * ready file, the marks in its command line — needs no configuration, so stop and monitor work
 * even when the parameters are broken; only its arguments do.
 */
function nodeDaemon(name: string, tag: 'watch' | 'service', entryRel: { source: string; dist: string }, leading: string[], cfg: AgentConfig | null, cfgArgs: (c: AgentConfig) => string[], nodeFlags: readonly string[] = []): DaemonSpec {
  const { root, fromSource } = layout();
  const base = path.join(rscTmp(), `witnessd-${instance().replace(/[^\w.:-]/g, '_')}`);
  const entry = path.join(root, fromSource ? entryRel.source : entryRel.dist);
  const ready = `${base}.${tag}.ready`;
  return {
    name,
    pidfile: `${base}.${tag}.pid`,
    readyFile: ready,
    command: process.execPath,
    args: [...nodeFlags, ...(fromSource ? ['--import', 'tsx'] : []), entry, ...leading, '--ready-file', ready, ...(cfg ? cfgArgs(cfg) : [])],
    cwd: root,
    logFile: cfg?.logFile ?? DEFAULTS.log_file,
    marks: [entry, ...leading, ready],
  };
}

function watcher(cfg: AgentConfig | null): DaemonSpec {
  return nodeDaemon('witness-agent watch', 'watch', { source: 'agent/main.ts', dist: 'dist/agent/main.js' }, ['watch'], cfg, (c) => [
    ...agentFlags(c),
    ...(c.watchPoll > 0 ? ['--poll', String(c.watchPoll)] : []),
    ...onNodeFlag(),
  ]);
}

/** Pacemaker names the node an action runs on; the watcher relays admin requests addressed to it. */
function onNodeFlag(): string[] {
  const node = process.env['OCF_RESKEY_CRM_meta_on_node'];
  return node !== undefined && node !== '' ? ['--node', node] : [];
}

function service(cfg: AgentConfig | null): DaemonSpec {
  return nodeDaemon('witnessd', 'service', { source: 'service/main.ts', dist: 'dist/service/main.js' }, [], cfg, (c) => {
    return [
      '--db', c.db,
      '--listen', `${c.listenAddress.includes(':') ? `[${c.listenAddress}]` : c.listenAddress}:${c.witnessPort}`,
      '--epm', c.epm,
      '--netname', ...c.netnames,
      '--auth', c.auth,
      '--log-level', c.logLevel,
      '--force-unregister-after', String(c.forceUnregisterAfter),
      ...onNodeFlag(),
    ];
  }, WITNESSD_NODE_FLAGS);
}

/** Where monitor sends its bind: the listen address, or loopback when listening on all addresses. */
function probeHost(cfg: AgentConfig): string {
  if (cfg.listenAddress === '0.0.0.0' || cfg.listenAddress === '') return '127.0.0.1';
  if (cfg.listenAddress === '::') return '::1';
  return cfg.listenAddress;
}

/** One sync from the current CIB, as the safety net under the watcher. */
async function syncNow(cfg: AgentConfig): Promise<void> {
  const [{ syncOnce }, { configFromFlags }] = await Promise.all([import('../agent/sync.ts'), import('../agent/cli.ts')]);
  const view = configFromFlags({ shares: cfg.shares, ipResources: cfg.ipResources, ipAgents: cfg.ipAgents });
  try {
    const r = await syncOnce({ db: cfg.db, config: view });
    ocfLog(r.events.length > 0 ? 'info' : 'debug', `synced CIB ${r.cib.adminEpoch}.${r.cib.epoch}.${r.cib.numUpdates}: ${r.events.length} event(s) in ${r.ms.toFixed(0)} ms`);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ENOENT_TOOL') throw new OcfError(OCF.ERR_INSTALLED, e.message);
    if (e.code === 'permission') throw new OcfError(OCF.ERR_PERM, e.message);
    throw new OcfError(OCF.ERR_GENERIC, `sync failed: ${e.message}`);
  }
}

async function monitor(): Promise<OcfExitCode> {
  const cfg = await readConfig();
  const daemons = [watcher(cfg), service(cfg)];
  const states = daemons.map((d) => daemonState(d));
  if (states.every((st) => st.state === 'stopped')) return OCF.NOT_RUNNING;
  states.forEach((st, i) => {
    const d = daemons[i];
    if (st.state !== 'running' && d) throw new OcfError(OCF.ERR_GENERIC, `${d.name} ${st.state === 'crashed' ? `(pid ${st.pid}) is gone` : 'is not running'}; see ${cfg.logFile}`);
  });
  // Probes only ask whether it runs; recurring monitors also check the port and resync.
  if (!isProbe('monitor')) {
    const { probeBind } = await import('./rpc-probe.ts');
    try {
      await probeBind(probeHost(cfg), cfg.witnessPort, 5000);
    } catch (err) {
      throw new OcfError(OCF.ERR_GENERIC, `witnessd does not answer: ${(err as Error).message}`);
    }
    await syncNow(cfg);
  }
  return OCF.SUCCESS;
}

async function start(): Promise<OcfExitCode> {
  const cfg = await readConfig();
  checkInstalled(cfg);
  const daemons = [watcher(cfg), service(cfg)];
  if (daemons.every((d) => daemonState(d).state === 'running')) return OCF.SUCCESS;
  await syncNow(cfg);
  const budget = Math.max(4000, timeoutMs(30_000) - 5000);
  for (const d of daemons) {
    if (daemonState(d).state === 'running') continue;
    await stopDaemon(d, 5000); // a crashed one leaves a pidfile behind
    const pid = await startDaemon(d, budget / daemons.length);
    ocfLog('info', `started ${d.name} (pid ${pid})`);
  }
  return OCF.SUCCESS;
}

async function stop(): Promise<OcfExitCode> {
  const cfg = await readConfig().catch((err: unknown) => {
    // Stop must succeed even with a broken configuration, or Pacemaker would fence the node.
    ocfLog('warning', `stop with invalid parameters: ${(err as Error).message}`);
    return null;
  });
  const budget = Math.max(2000, timeoutMs(30_000) - 5000);
  // The service first: clients see their connections close while the store is still current.
  for (const d of [service(cfg), watcher(cfg)]) await stopDaemon(d, budget / 2);
  return OCF.SUCCESS;
}

async function validateAll(): Promise<OcfExitCode> {
  const cfg = await readConfig();
  if (checkLevel() >= 10) checkInstalled(cfg);
  return OCF.SUCCESS;
}

export async function main(argv: readonly string[] = process.argv): Promise<OcfExitCode> {
  return runAgent(SPEC, { start, stop, monitor, 'validate-all': validateAll }, argv);
}
