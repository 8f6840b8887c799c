// `witness-agent`: sync once, watch the CIB, or show what the store holds.

import { Command, InvalidArgumentError, Option } from 'commander';
import { openStore } from '../store/index.ts';
import { DEFAULT_DB_PATH } from '../store/defaults.ts';
import { formatCibVersion, type ClusterEvent, type ClusterView } from '../store/types.ts';
import { makeLogger } from './log.ts';
import { LOG_LEVELS, type LogLevel } from '../store/log-levels.ts';
import { syncOnce } from './sync.ts';
import { SkippedIpLog } from './skipped.ts';
import { execFileSync } from 'node:child_process';
import type { Logger } from 'pino';
import { attrdUpdater, type Attrd } from './admin/attrd.ts';
import { cibFileFrom } from './cib/source.ts';
import type { SyncedAttributes } from './node-addresses.ts';
import { NO_RESOURCE } from './samba-shares.ts';
import { DEFAULT_SMB_CONF } from '../store/defaults.ts';
import { configFromFlags, type ConfigFlags } from './view-flags.ts';
import { lastEvents } from '../store/events.ts';
import { readView } from '../store/view.ts';

/** This node's name (--node, else crm_node -n) and attrd, or undefined (relay off, logged). */
function relayFor(node: string | undefined, logger: Logger): { node: string; attrd: Attrd } | undefined {
  const name = nodeName(node, logger, 'admin requests from other nodes will not be relayed');
  return name === undefined ? undefined : { node: name, attrd: attrdUpdater() };
}

/** --node, else crm_node -n; undefined (logged with what it costs) when neither gives a name. */
function nodeName(node: string | undefined, logger: Logger, without: string): string | undefined {
  let name = node;
  if (name === undefined) {
    try {
      name = execFileSync('crm_node', ['-n'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    } catch (err) {
      logger.warn({ err }, `cannot tell this node's name (crm_node -n failed): ${without}`);
      return undefined;
    }
  }
  return name === '' ? undefined : name;
}

function addConfigOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--db <path>', 'state store').default(DEFAULT_DB_PATH))
    .option('--shares <map>', 'share map "SHARE=resource,SHARE2=group"')
    .option('--ip-resources <ids>', 'resource ids that count as witness IPs (default: every IP agent resource)')
    .option('--ip-agents <agents>', 'resource agents that are floating IPs (default: IPaddr2, IPaddr, IPv6addr)')
    .option('--witness-agent <agent>', 'agent of the witness clone (default ocf:witness:witnessd)')
    .option('--smb-conf <path>', `learn the SMB shares from this Samba configuration (testparm -s); nothing when absent (default ${DEFAULT_SMB_CONF})`)
    .option('--no-samba-shares', 'do not read Samba\'s configuration: shares come from --shares only')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'));
}

function describeEvent(e: ClusterEvent): string {
  const when = new Date(e.at).toISOString();
  const move = e.from !== null || e.to !== null ? ` ${e.from ?? '-'} -> ${e.to ?? '-'}` : '';
  return `#${e.seq} ${when} cib ${formatCibVersion(e.cib)} ${e.kind} ${e.subject}${move}`;
}

function describeView(v: ClusterView): string {
  const lines = [`CIB ${formatCibVersion(v.cib)}, DC ${v.dc ?? '(none)'}`, 'Nodes:'];
  for (const n of v.nodes) lines.push(`  ${n.name} (id ${n.id}): ${n.state}${n.addresses !== undefined ? `, addresses ${n.addresses.join(', ')}` : ''}`);
  lines.push('IPs:');
  if (v.ips.length === 0) lines.push('  (none)');
  for (const i of v.ips) {
    const where = i.node ?? 'nowhere';
    lines.push(`  ${i.address}${i.prefix !== null ? `/${i.prefix}` : ''} (${i.resource}): ${i.started ? 'started' : 'stopped'} on ${where}${i.failed ? ', FAILED' : ''}`);
  }
  lines.push('Shares:');
  if (v.shares.length === 0) lines.push('  (none)');
  for (const s of v.shares) lines.push(s.resource === NO_RESOURCE ? `  ${s.name} (follows no resource)` : `  ${s.name} (${s.resource}) on ${s.node ?? 'nowhere'}: ${s.ips.join(', ') || 'no IPs'}`);
  lines.push('Witness instances:');
  if (v.witness.length === 0) lines.push('  (none)');
  for (const w of v.witness) lines.push(`  ${w.node} (${w.resource}): ${w.started ? 'started' : 'stopped'}`);
  return lines.join('\n');
}

export function buildProgram(): Command {
  const program = new Command('witness-agent')
    .description('Follows the Pacemaker CIB and keeps the witness state store (view + events) up to date')
    .showHelpAfterError();

  addConfigOptions(program.command('sync').description('read the CIB once and record changes'))
    .option('--cib-file <file>', 'read this CIB file instead of the live CIB (also: $CIB_file)')
    .option('--json', 'print the result as JSON')
    .action(async (o: ConfigFlags & { db: string; cibFile?: string; json?: boolean; logLevel: LogLevel }) => {
      const logger = makeLogger('witness-agent', o.logLevel);
      const r = await syncOnce({ db: o.db, cibFile: o.cibFile, config: configFromFlags(o, logger) });
      new SkippedIpLog(logger).report(r.skipped);
      if (o.json === true) {
        process.stdout.write(`${JSON.stringify({ applied: r.applied, cib: r.cib, events: r.events, ms: r.ms })}\n`);
      } else {
        process.stdout.write(`synced CIB ${formatCibVersion(r.cib)} in ${r.ms.toFixed(1)} ms: ${r.applied ? `${r.events.length} event(s)` : 'stale, store already newer'}\n`);
        for (const e of r.events) process.stdout.write(`${describeEvent(e)}\n`);
      }
    });

  addConfigOptions(program.command('watch').description('follow CIB changes cluster-wide and sync on each (long-running)'))
    .option('--poll <ms>', 'poll the CIB every MS instead of subscribing (slow; for nodes without the helper)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 100) throw new InvalidArgumentError('must be an integer >= 100');
      return n;
    })
    .option('--ready-file <file>', 'create this file once the first sync is done (for supervisors)')
    .option('--node <name>', "this node's cluster name, for admin requests from other nodes (default: crm_node -n)")
    .option('--no-relay', 'do not relay admin requests from other nodes')
    .option('--no-plan', 'do not ask the scheduler about planned moves (no early CLIENT_MOVE)')
    .option('--node-addresses <setting>', "this node's own addresses offered to clients beside the floating IPs, published as its witness-addresses node attribute: auto (its addresses on the floating IPs' subnets), none, or addresses and subnets (198.18.0.0/24)", 'auto')
    .action(async (o: ConfigFlags & { db: string; logLevel: LogLevel; poll?: number; readyFile?: string; node?: string; relay: boolean; plan: boolean; nodeAddresses: string }) => {
      const { runWatch } = await import('./watcher.ts');
      const { NodeAddressPublisher, parseNodeAddressSetting } = await import('./node-addresses.ts');
      const setting = parseNodeAddressSetting(o.nodeAddresses);
      const logger = makeLogger('witness-agent', o.logLevel);
      const live = cibFileFrom({}) === undefined;
      const relay = o.relay && live ? relayFor(o.node, logger) : undefined;
      const me = live ? (relay?.node ?? nodeName(o.node, logger, 'this node\'s addresses will not be published')) : undefined;
      const publisher = me !== undefined ? new NodeAddressPublisher({ node: me, attrd: relay?.attrd ?? attrdUpdater(), setting, logger }) : null;
      const ac = new AbortController();
      const stop = (): void => { ac.abort(); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      await runWatch({
        db: o.db,
        config: configFromFlags(o, logger),
        logger,
        signal: ac.signal,
        ...(o.poll !== undefined ? { pollMs: o.poll } : {}),
        ...(o.readyFile !== undefined ? { readyFile: o.readyFile } : {}),
        ...(relay !== undefined ? { relay } : {}),
        ...(o.plan ? { planner: {} } : {}),
        ...(publisher !== null ? { afterSync: (r: SyncedAttributes) => { publisher.onSync(r); } } : {}),
      });
      await publisher?.withdraw();
    });

  program
    .command('simulate')
    .description('demo only: write a simulated two-node cluster into the store, failing an IP over every --interval seconds')
    .addOption(new Option('--db <path>', 'state store').default(DEFAULT_DB_PATH))
    .option('--nodes <a,b>', 'the two node names', 'demo1,demo2')
    .option('--static-ip <ip>', 'address that stays on the first node', '127.0.0.11')
    .option('--moving-ip <ip>', 'address that fails over with the share', '127.0.0.12')
    .option('--share <name>', 'share that follows the moving address', 'data')
    .option('--interval <seconds>', 'seconds between failovers', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 1) throw new InvalidArgumentError('must be at least 1');
      return n;
    }, 20)
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .action(async (o: { db: string; nodes: string; staticIp: string; movingIp: string; share: string; interval: number; logLevel: LogLevel }) => {
      const { runSimulation } = await import('./simulate.ts');
      const [a = 'demo1', b = 'demo2'] = o.nodes.split(',');
      const ac = new AbortController();
      process.once('SIGTERM', () => { ac.abort(); });
      process.once('SIGINT', () => { ac.abort(); });
      await runSimulation({ db: o.db, nodes: [a, b], staticIp: o.staticIp, movingIp: o.movingIp, share: o.share, intervalMs: o.interval * 1000, logger: makeLogger('witness-agent', o.logLevel), signal: ac.signal });
    });

  program
    .command('show')
    .description('print the stored cluster view and the last events')
    .addOption(new Option('--db <path>', 'state store').default(DEFAULT_DB_PATH))
    .option('--events <n>', 'how many of the last events to show', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
      return n;
    }, 20)
    .option('--json', 'print { view, events } as JSON')
    .action((o: { db: string; events: number; json?: boolean }) => {
      const store = openStore(o.db, { readonly: true });
      try {
        const view = readView(store);
        const events = lastEvents(store, o.events);
        if (o.json === true) {
          process.stdout.write(`${JSON.stringify({ view, events })}\n`);
          return;
        }
        process.stdout.write(view ? `${describeView(view)}\n` : 'no view yet (never synced)\n');
        process.stdout.write(`Last ${events.length} event(s):\n`);
        for (const e of events) process.stdout.write(`  ${describeEvent(e)}\n`);
      } finally {
        store.close();
      }
    });
  return program;
}

/** Runs the CLI; errors become one line on stderr and exit status 1. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const e = err as Error & { code?: string };
    process.stderr.write(`witness-agent: ${e.message}\n`);
    process.exitCode = 1;
  }
}
