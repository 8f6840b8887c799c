// `witnessctl`: the admin's view of the witness, modelled on Samba's `net witness`: list
// registrations, move clients or shares, force-unregister, and read the events and the audit trail.
// Reads go straight to the store; changes are requests in the store that the local witnessd
// carries out (it is woken by the store change) and answers there.

import { Command, InvalidArgumentError, Option } from 'commander';
import { openStore, type Store } from '../../store/index.ts';
import { DEFAULT_DB_PATH } from '../../store/defaults.ts';
import os from 'node:os';
import { addAdminRequest, getAdminRequest, selectorMatches, witnessNode, type AdminKind, type AdminSelector, type AdminTarget } from '../../store/admin-requests.ts';
import { type WireRequest } from '../../agent/admin/wire.ts';
import { attrdUpdater } from '../../agent/admin/attrd.ts';
import { askNode, newRequestId } from '../../agent/admin/remote.ts';
import { LIST_FILTER_FIELDS, listNotifications, listRegistrations, matchesListFilters, readJournalCounters, type JournalCounters, type ListFilters, type RegistrationRow } from '../../store/registrations.ts';
import { formatCibVersion } from '../../store/types.ts';
import { MessageType } from '../swn/constants.ts';
import { userCommand } from '../auth/accounts/cli.ts';
import { compileGlob, type Glob } from '../../store/patterns.ts';
import { escapeOr, escapePrincipal, escapeText, inertText, safeJson } from './escape.ts';
import { checkTargetIp } from './target.ts';
import { takeListAnswer } from './list-answer.ts';
import { lastEvents } from '../../store/events.ts';
import { readView } from '../../store/view.ts';

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

/** `list` selections are glob patterns (store/patterns.ts), never regular expressions: linear-time matching. */
function glob(what: string): (v: string) => Glob {
  return (v) => {
    try {
      return compileGlob(v);
    } catch (err) {
      throw new InvalidArgumentError(`${what}: ${(err as Error).message}`);
    }
  };
}

/** Someone used to the regular expressions `list` used to take: their pattern is now literal text. */
const REGEX_LOOKING = /^\^|\.[*+]|\\\\|\$$/;

/**
 * Human output: `text` must escape every string it did not make (escapeText); JSON output is the
 * exact values, with what a terminal would act on written as \u escapes (safeJson).
 */
function print(json: boolean | undefined, data: unknown, text: () => string): void {
  process.stdout.write(json === true ? `${safeJson(data)}\n` : `${text()}\n`);
}

/** stderr: what a terminal would act on is escaped (inertText); our own backslashes stay readable. */
function warn(message: string): void {
  process.stderr.write(`witnessctl: ${inertText(message)}\n`);
}

function withStore<T>(db: string, readonly: boolean, f: (s: Store) => T): T {
  const s = openStore(db, { readonly });
  try {
    return f(s);
  } finally {
    s.close();
  }
}

/** A time for human output; rows from other nodes are not checked, so a bad value prints as '?'. */
function isoTime(ms: unknown): string {
  const d = new Date(typeof ms === 'number' ? ms : NaN);
  return Number.isNaN(d.getTime()) ? '?' : d.toISOString();
}

/** One line per registration; every string in it may come from a client (or another node): escaped. */
function describeRegistration(r: RegistrationRow): string {
  const e = (v: string | number | null | undefined): string => (v === null || v === undefined ? '-' : escapeText(String(v)));
  const flags = r.flags !== 0 ? ` flags=0x${r.flags.toString(16)}` : '';
  return `${e(r.key)}  ${e(r.clientName)}  net=${e(r.netName)} share=${e(r.shareName)} ip=${e(r.ipAddress)} v=${r.version === 0x10001 ? 1 : 2}${flags} ` +
    `keepalive=${e(r.keepAlive)}s witness=${e(r.node)} from=${e(r.remote)} user=${escapePrincipal(r.identity)} since=${isoTime(r.createdAt)} pending=${r.pending ? 'yes' : 'no'} sent=${e(r.notificationsSent)}` +
    (r.removedAt !== null ? ` removed=${isoTime(r.removedAt)} (${escapeOr(r.removedReason, '?')})` : '');
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
    const others = [...new Set((readView(s)?.witness ?? []).filter((w) => w.started && w.node !== here).map((w) => w.node))];
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
  // The result may quote names (a node's error): safeJson keeps it JSON and the terminal inert.
  print(json, outcomes, () => outcomes.map((o) => `${escapeText(o.node)} (${o.via === 'store' ? `request #${String(o.request)}` : `via the cluster, request ${String(o.request)}`}): ${o.state} ${safeJson(o.result)}`).join('\n'));
  const total = outcomes.reduce((n, o) => n + (typeof o.result['registrations'] === 'number' ? o.result['registrations'] : 0), 0);
  if (total === 0) {
    // Raw here: main() makes the whole message inert (ctl/escape.ts inertText) when it prints it.
    const where = outcomes.map((o) => (o.state === 'done' ? o.node : `${o.node} (${o.state}: ${typeof o.result['error'] === 'string' ? o.result['error'] : JSON.stringify(o.result)})`));
    if (!nodes.includes(here ?? '') && here !== null) where.unshift(here);
    throw new Error(`no live registration matches on ${where.join(', ')}`);
  }
  if (outcomes.some((o) => o.state !== 'done')) process.exitCode = 1;
}

/** The destination; --to-ip must be an address the cluster view knows, unless --force. */
function target(db: string, o: { toNode?: string; toIp?: string; force?: boolean }): AdminTarget {
  if ((o.toNode === undefined) === (o.toIp === undefined)) throw new InvalidArgumentError('give exactly one of --to-node and --to-ip');
  if (o.toNode !== undefined) return { node: o.toNode };
  const ip = o.toIp ?? '';
  const view = withStore(db, true, (s) => readView(s));
  const checked = checkTargetIp(ip, view, o.force === true);
  if (checked.warning !== null) warn(`warning: ${checked.warning}`);
  return { ip: checked.address };
}

/**
 * `witnessctl audit`'s last line when witnessd ever had to drop or prune rows (journal counters in
 * service_state): what the audit above is missing, and why. None when it never had to.
 */
function journalLine(c: JournalCounters): string[] {
  if (c.dropped_audit_rows + c.dropped_registration_rows + c.pruned_audit_rows + c.pruned_registration_rows + c.write_failures === 0) return [];
  const printable = (t: string): string => t.replace(/\p{Cc}/gu, '?');
  return [`store: ${c.dropped_audit_rows} audit rows and ${c.dropped_registration_rows} registration rows dropped (the store refused writes for too long; ${c.write_failures} failed writes` +
    `${c.lastFailure !== null ? `, last ${printable(c.lastFailure)}` : ''}); ${c.pruned_audit_rows} audit rows and ${c.pruned_registration_rows} removed registrations pruned early (store budget, limits in witnessd's config)`];
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
    .option('--client <glob>', 'client computer name: a glob (* any run, ? one character, [a-z] one of), case-insensitive, the whole name', glob('--client'))
    .option('--share <glob>', 'share name (glob)', glob('--share'))
    .option('--ip <glob>', 'IP address (glob)', glob('--ip'))
    .option('--net <glob>', 'NetName (glob)', glob('--net'))
    .option('--user <glob>', 'authenticated user, DOMAIN\\user (glob; a backslash is literal)', glob('--user'))
    .option('--all-nodes', 'also ask every other witness node, through the cluster, for its registrations')
    .addOption(new Option('--wait-ms <ms>', 'how long to wait for each other node').default(10_000).argParser(Number))
    .action(async (o: { db: string; json?: boolean; all?: boolean; client?: Glob; share?: Glob; ip?: Glob; net?: Glob; user?: Glob; allNodes?: boolean; waitMs: number }) => {
      const f: ListFilters = {};
      const globs: NonNullable<WireRequest['globs']> = {}; // the pattern text, as other nodes take it
      for (const k of LIST_FILTER_FIELDS) {
        const g = o[k];
        if (g === undefined) continue;
        f[k] = g;
        globs[k] = g.source;
        if (REGEX_LOOKING.test(g.source)) warn(`note: --${k} takes a glob (* ? [...]), not a regular expression: ${g.source} is matched as written`);
      }
      const filtered = Object.keys(globs).length > 0;
      const rows = withStore(o.db, true, (s) => listRegistrations(s, { all: o.all === true })).filter((r) => matchesListFilters(r, f));
      if (o.allNodes === true) {
        // Other nodes' registrations are not replicated: each answers from its own store, capped
        // (agent/admin/relay.ts); notes about truncation and unreachable nodes go to stderr.
        // Patterns travel as `globs`; an older node's unfiltered answer is filtered here (ctl/list-answer.ts).
        const { here, others } = cluster(o.db);
        const req: Omit<WireRequest, 'id' | 'from' | 'at'> = { kind: 'list', selector: {}, target: {}, ...(filtered ? { globs } : {}) };
        const answers = await Promise.all(others.map((n) => viaCib(here ?? os.hostname(), n, req, o.waitMs)));
        for (const a of answers) {
          const taken = takeListAnswer(a, f, filtered);
          rows.push(...taken.rows);
          for (const n of taken.notes) warn(n);
          if (taken.failed) process.exitCode = 1;
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
      .option('--to-ip <ip>', 'destination IP (one the cluster serves, unless --force)')
      .option('--force', 'send a --to-ip the cluster view does not know (with a warning)')
      .option('--json', 'JSON output')
      .addOption(wait)
      .action(async (o: Filters & Scope & { db: string; applyToAll?: boolean; toNode?: string; toIp?: string; force?: boolean; json?: boolean; waitMs: number }) => {
        await request(o.db, kind, selector(o), target(o.db, o), o.json, o.waitMs, o);
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
      const events = withStore(o.db, true, (s) => lastEvents(s, o.last));
      print(o.json, events, () => events.map((e) => `#${e.seq} ${isoTime(e.at)} cib ${formatCibVersion(e.cib)} ${escapeText(e.kind)} ${escapeText(e.subject)} ${escapeOr(e.from)} -> ${escapeOr(e.to)}`).join('\n') || 'no events');
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
      const { rows, counters } = withStore(o.db, true, (s) => ({ rows: listNotifications(s, o.since, 100_000), counters: readJournalCounters(s) }));
      // Client names, and share names inside summaries, are the clients' choice: escaped.
      print(o.json, rows, () => [rows.map((n) => `${isoTime(n.sentAt)} ${escapeText(n.clientName)} ${TYPE_NAMES[n.type] ?? n.type} "${escapeText(n.summary)}" event=${n.eventSeq ?? '-'} latency=${n.latencyMs ?? '-'}ms ${escapeText(n.outcome)} (witness ${escapeText(n.node)}, user ${escapePrincipal(n.identity)})`).join('\n') || 'no notifications', ...journalLine(counters)].join('\n'));
    });

  program.addCommand(userCommand());
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    // Messages quote node names, other nodes' errors, the admin's input: made inert as a whole.
    warn((err as Error).message);
    process.exitCode = 1;
  }
}
