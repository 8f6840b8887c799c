// `witnessctl`: the admin's view of the witness, modelled on Samba's `net witness`: list
// registrations, move clients or shares, force-unregister, and read the events and the audit trail.
// Reads go straight to the store; changes are requests in the store that the local witnessd
// carries out (it is woken by the store change) and answers there.

import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_DB_PATH, openStore, type Store } from '../store/index.ts';
import os from 'node:os';
import { addAdminRequest, getAdminRequest, selectorMatches, witnessNode, type AdminKind, type AdminSelector, type AdminTarget, type WireRequest } from '../store/admin.ts';
import { attrdUpdater } from '../agent/admin/attrd.ts';
import { askNode, newRequestId } from '../agent/admin/remote.ts';
import { LIST_FILTER_FIELDS, listNotifications, listRegistrations, matchesListFilters, type ListFilters, type RegistrationRow } from '../store/registrations.ts';
import { formatCibVersion } from '../store/types.ts';
import { MessageType } from './swn/constants.ts';
import { userCommand } from './auth/accounts/cli.ts';

const TYPE_NAMES: Record<number, string> = {
  [MessageType.RESOURCE_CHANGE]: 'RESOURCE_CHANGE',
  [MessageType.CLIENT_MOVE]: 'CLIENT_MOVE',
  [MessageType.SHARE_MOVE]: 'SHARE_MOVE',
  [MessageType.IP_CHANGE]: 'IP_CHANGE',
};

interface Filters {
  client?: string;
  share?: string;
  ip?: string;
  net?: string;
  key?: string;
}

function regex(what: string): (v: string) => RegExp {
  return (v) => {
    try {
      return new RegExp(v, 'i');
    } catch (err) {
      throw new InvalidArgumentError(`${what}: ${(err as Error).message}`);
    }
  };
}

function print(json: boolean | undefined, data: unknown, text: () => string): void {
  process.stdout.write(json === true ? `${JSON.stringify(data)}\n` : `${text()}\n`);
}

function withStore<T>(db: string, readonly: boolean, f: (s: Store) => T): T {
  const s = openStore(db, { readonly });
  try {
    return f(s);
  } finally {
    s.close();
  }
}

function describeRegistration(r: RegistrationRow): string {
  const since = new Date(r.createdAt).toISOString();
  const flags = r.flags !== 0 ? ` flags=0x${r.flags.toString(16)}` : '';
  return `${r.key}  ${r.clientName}  net=${r.netName} share=${r.shareName ?? '-'} ip=${r.ipAddress} v=${r.version === 0x10001 ? 1 : 2}${flags} ` +
    `keepalive=${r.keepAlive}s witness=${r.node} from=${r.remote} user=${r.identity ?? '-'} since=${since} pending=${r.pending ? 'yes' : 'no'} sent=${r.notificationsSent}` +
    (r.removedAt !== null ? ` removed=${new Date(r.removedAt).toISOString()} (${r.removedReason ?? '?'})` : '');
}

/** Where a request goes: --on-node, --all-nodes, or (default) here, else the other witness nodes. */
interface Scope {
  onNode?: string[];
  allNodes?: boolean;
}

interface Outcome {
  node: string;
  /** store: this node's witnessd through the local store; cib: another node through its attributes. */
  via: 'store' | 'cib';
  /** The local request's seq (via store) or the wire id (via cib). */
  request: number | string;
  state: 'done' | 'failed' | 'unreachable';
  result: Record<string, unknown>;
}

/** The local store's witness node, and the other nodes where the witness clone runs. */
function cluster(db: string): { here: string | null; others: string[] } {
  return withStore(db, true, (s) => {
    const here = witnessNode(s);
    const others = [...new Set((s.readView()?.witness ?? []).filter((w) => w.started && w.node !== here).map((w) => w.node))];
    return { here, others };
  });
}

async function viaStore(db: string, node: string, kind: AdminKind, selector: AdminSelector, target: AdminTarget, waitMs: number): Promise<Outcome> {
  const seq = withStore(db, false, (s) => addAdminRequest(s, node, kind, selector, target));
  const t0 = Date.now();
  for (;;) {
    const r = withStore(db, true, (s) => getAdminRequest(s, seq));
    if (r && r.state !== 'pending') return { node, via: 'store', request: seq, state: r.state, result: r.result ?? {} };
    if (Date.now() - t0 > waitMs) return { node, via: 'store', request: seq, state: 'unreachable', result: { error: `not carried out within ${waitMs} ms: is witnessd running here?` } };
    await new Promise((res) => setTimeout(res, 20));
  }
}

async function viaCib(from: string, node: string, req: Omit<WireRequest, 'id' | 'from' | 'at'>, waitMs: number): Promise<Outcome> {
  const id = newRequestId();
  try {
    const r = await askNode(attrdUpdater(), node, { ...req, id, from, at: Date.now() }, waitMs);
    return { node, via: 'cib', request: id, state: r.ok ? 'done' : 'failed', result: r.result };
  } catch (err) {
    return { node, via: 'cib', request: id, state: 'unreachable', result: { error: (err as Error).message } };
  }
}

async function request(db: string, kind: AdminKind, selector: AdminSelector, target: AdminTarget, json: boolean | undefined, waitMs: number, scope: Scope): Promise<void> {
  const { here, others } = cluster(db);
  // Registrations of this node's witnessd are in the local store; other nodes' are not.
  const localMatch = withStore(db, true, (s) => listRegistrations(s).some((r) => r.node === here && selectorMatches(selector, r)));
  let nodes: string[];
  if (scope.onNode !== undefined && scope.onNode.length > 0) nodes = scope.onNode;
  else if (scope.allNodes === true) nodes = [...(here !== null ? [here] : []), ...others];
  else if (localMatch && here !== null) nodes = [here];
  else if (selector.all === true) throw new Error('no live registration on this node; --apply-to-all reaches other nodes only with --all-nodes or --on-node');
  else nodes = others; // not here: the request goes to every other witness node
  if (nodes.length === 0) throw new Error(here === null ? 'no witnessd has used this store yet, and the cluster view names no witness node' : 'no live registration matches');
  const from = here ?? os.hostname();
  const outcomes = await Promise.all(nodes.map((n) => (n === here ? viaStore(db, n, kind, selector, target, waitMs) : viaCib(from, n, { kind, selector, target }, waitMs))));
  print(json, outcomes, () => outcomes.map((o) => `${o.node} (${o.via === 'store' ? `request #${String(o.request)}` : `via the cluster, request ${String(o.request)}`}): ${o.state} ${JSON.stringify(o.result)}`).join('\n'));
  const total = outcomes.reduce((n, o) => n + (typeof o.result['registrations'] === 'number' ? o.result['registrations'] : 0), 0);
  if (total === 0) {
    const where = outcomes.map((o) => (o.state === 'done' ? o.node : `${o.node} (${o.state}: ${typeof o.result['error'] === 'string' ? o.result['error'] : JSON.stringify(o.result)})`));
    if (!nodes.includes(here ?? '') && here !== null) where.unshift(here);
    throw new Error(`no live registration matches on ${where.join(', ')}`);
  }
  if (outcomes.some((o) => o.state !== 'done')) process.exitCode = 1;
}

function target(o: { toNode?: string; toIp?: string }): AdminTarget {
  if ((o.toNode === undefined) === (o.toIp === undefined)) throw new InvalidArgumentError('give exactly one of --to-node and --to-ip');
  return o.toNode !== undefined ? { node: o.toNode } : { ip: o.toIp ?? '' };
}

export function buildProgram(): Command {
  const program = new Command('witnessctl').description('Administer the SMB witness: registrations, moves, events, audit').showHelpAfterError();
  const db = (): Option => new Option('--db <path>', 'state store').default(DEFAULT_DB_PATH);

  program
    .command('list')
    .description('registrations held by witnessd (live ones unless --all)')
    .addOption(db())
    .option('--json', 'JSON output')
    .option('--all', 'include removed registrations')
    .option('--client <regex>', 'client computer name', regex('--client'))
    .option('--share <regex>', 'share name', regex('--share'))
    .option('--ip <regex>', 'IP address', regex('--ip'))
    .option('--net <regex>', 'NetName', regex('--net'))
    .option('--user <regex>', 'authenticated user (DOMAIN\\user)', regex('--user'))
    .option('--all-nodes', 'also ask every other witness node, through the cluster, for its registrations')
    .addOption(new Option('--wait-ms <ms>', 'how long to wait for each other node').default(10_000).argParser(Number))
    .action(async (o: { db: string; json?: boolean; all?: boolean; client?: RegExp; share?: RegExp; ip?: RegExp; net?: RegExp; user?: RegExp; allNodes?: boolean; waitMs: number }) => {
      const f: ListFilters = {};
      const filters: WireRequest['filters'] = {}; // the same, as other nodes take them
      for (const k of LIST_FILTER_FIELDS) {
        const re = o[k];
        if (re === undefined) continue;
        f[k] = re;
        filters[k] = re.source;
      }
      const rows = withStore(o.db, true, (s) => listRegistrations(s, { all: o.all === true })).filter((r) => matchesListFilters(r, f));
      if (o.allNodes === true) {
        // Other nodes' registrations are not replicated: each answers from its own store, capped
        // (agent/admin/relay.ts); notes about truncation and unreachable nodes go to stderr.
        const { here, others } = cluster(o.db);
        const answers = await Promise.all(others.map((n) => viaCib(here ?? os.hostname(), n, { kind: 'list', selector: {}, target: {}, filters }, o.waitMs)));
        for (const a of answers) {
          if (a.state !== 'done' || typeof a.result['error'] === 'string') {
            process.stderr.write(`witnessctl: ${a.node}: ${a.state === 'done' ? String(a.result['error']) : `${a.state}: ${JSON.stringify(a.result)}`}\n`);
            process.exitCode = 1;
            continue;
          }
          const got = Array.isArray(a.result['rows']) ? (a.result['rows'] as RegistrationRow[]) : [];
          rows.push(...got);
          if (a.result['truncated'] === true) process.stderr.write(`witnessctl: ${a.node} holds ${String(a.result['registrations'])} matching registrations; ${got.length} shown (run witnessctl list on ${a.node} for all)\n`);
        }
      }
      print(o.json, rows, () => (rows.length === 0 ? 'no registrations' : rows.map(describeRegistration).join('\n')));
    });

  const selectorOptions = (c: Command): Command =>
    c
      .option('--client <name>', 'client computer name')
      .option('--share <name>', 'share name')
      .option('--ip <ip>', 'registered IP')
      .option('--net <name>', 'NetName')
      .option('--key <key>', 'registration key')
      .option('--apply-to-all', 'every registration (of the nodes the request goes to)')
      .option('--on-node <nodes>', 'send the request to these witness nodes (comma-separated), wherever they are', (v) => v.split(',').map((x) => x.trim()).filter((x) => x !== ''))
      .option('--all-nodes', 'send the request to every witness node (default: this node if it holds a matching registration, else every other one)');
  const selector = (o: Filters & { applyToAll?: boolean }): AdminSelector => {
    const s: AdminSelector = {};
    if (o.client !== undefined) s.client = o.client;
    if (o.share !== undefined) s.share = o.share;
    if (o.ip !== undefined) s.ip = o.ip;
    if (o.net !== undefined) s.netName = o.net;
    if (o.key !== undefined) s.key = o.key;
    if (o.applyToAll === true) s.all = true;
    if (Object.keys(s).length === 0) throw new InvalidArgumentError('select registrations (--client, --share, --ip, --net, --key) or say --apply-to-all');
    return s;
  };
  const wait = new Option('--wait-ms <ms>', 'how long to wait for each witness node').default(10_000).argParser(Number);

  for (const [name, kind, desc] of [
    ['client-move', 'client-move', 'tell clients to move to another node or IP (CLIENT_MOVE)'],
    ['share-move', 'share-move', 'tell clients of a share to move to another node or IP (SHARE_MOVE)'],
  ] as const) {
    selectorOptions(program.command(name).description(desc).addOption(db()))
      .option('--to-node <node>', 'destination node (all its IPs)')
      .option('--to-ip <ip>', 'destination IP')
      .option('--json', 'JSON output')
      .addOption(wait)
      .action(async (o: Filters & Scope & { db: string; applyToAll?: boolean; toNode?: string; toIp?: string; json?: boolean; waitMs: number }) => {
        await request(o.db, kind, selector(o), target(o), o.json, o.waitMs, o);
      });
  }

  selectorOptions(program.command('force-unregister').description('drop registrations; their pending AsyncNotify returns ERROR_NOT_FOUND so clients re-register').addOption(db()))
    .option('--json', 'JSON output')
    .addOption(wait)
    .action(async (o: Filters & Scope & { db: string; applyToAll?: boolean; json?: boolean; waitMs: number }) => {
      await request(o.db, 'force-unregister', selector(o), {}, o.json, o.waitMs, o);
    });

  program
    .command('events')
    .description('cluster events recorded by the agent')
    .addOption(db())
    .option('--last <n>', 'how many', Number, 50)
    .option('--json', 'JSON output')
    .action((o: { db: string; last: number; json?: boolean }) => {
      const events = withStore(o.db, true, (s) => s.lastEvents(o.last));
      print(o.json, events, () => events.map((e) => `#${e.seq} ${new Date(e.at).toISOString()} cib ${formatCibVersion(e.cib)} ${e.kind} ${e.subject} ${e.from ?? '-'} -> ${e.to ?? '-'}`).join('\n') || 'no events');
    });

  program
    .command('audit')
    .description('every notification sent: who, what, from which event, latency, outcome')
    .addOption(db())
    .option('--since <time>', 'ISO time or milliseconds since the epoch', (v) => {
      const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
      if (!Number.isFinite(n)) throw new InvalidArgumentError('not a time');
      return n;
    }, 0)
    .option('--json', 'JSON output')
    .action((o: { db: string; since: number; json?: boolean }) => {
      const rows = withStore(o.db, true, (s) => listNotifications(s, o.since, 100_000));
      print(o.json, rows, () => rows.map((n) => `${new Date(n.sentAt).toISOString()} ${n.clientName} ${TYPE_NAMES[n.type] ?? n.type} "${n.summary}" event=${n.eventSeq ?? '-'} latency=${n.latencyMs ?? '-'}ms ${n.outcome} (witness ${n.node}, user ${n.identity ?? '-'})`).join('\n') || 'no notifications');
    });

  program.addCommand(userCommand());
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    process.stderr.write(`witnessctl: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
