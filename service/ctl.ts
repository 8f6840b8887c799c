// `witnessctl`: the admin's view of the witness, modelled on Samba's `net witness`: list
// registrations, move clients or shares, force-unregister, and read the events and the audit trail.
// Reads go straight to the store; changes are requests in the store that the local witnessd
// carries out (it is woken by the store change) and answers there.

import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_DB_PATH, openStore, type Store } from '../store/index.ts';
import { addAdminRequest, getAdminRequest, selectorMatches, type AdminKind, type AdminSelector, type AdminTarget } from '../store/admin.ts';
import { listNotifications, listRegistrations, type RegistrationRow } from '../store/registrations.ts';
import { formatCibVersion } from '../store/types.ts';
import { MessageType } from './swn/constants.ts';

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
    `keepalive=${r.keepAlive}s witness=${r.node} from=${r.remote} since=${since} pending=${r.pending ? 'yes' : 'no'} sent=${r.notificationsSent}` +
    (r.removedAt !== null ? ` removed=${new Date(r.removedAt).toISOString()} (${r.removedReason ?? '?'})` : '');
}

async function request(db: string, kind: AdminKind, selector: AdminSelector, target: AdminTarget, json: boolean | undefined, waitMs: number): Promise<void> {
  // Requests go to the witness node(s) holding the selected registrations.
  const nodes = withStore(db, true, (s) => [...new Set(listRegistrations(s).filter((r) => selectorMatches(selector, r)).map((r) => r.node))]);
  if (nodes.length === 0) throw new Error('no live registration matches');
  const seqs = withStore(db, false, (s) => nodes.map((n) => addAdminRequest(s, n, kind, selector, target)));
  const t0 = Date.now();
  for (;;) {
    const reqs = withStore(db, true, (s) => seqs.map((q) => getAdminRequest(s, q)));
    if (reqs.every((r) => r?.state !== 'pending')) {
      print(json, reqs, () => reqs.map((r) => `request #${r?.seq ?? '?'} on ${r?.node ?? '?'}: ${r?.state ?? '?'} ${JSON.stringify(r?.result)}`).join('\n'));
      if (reqs.some((r) => r?.state === 'failed')) process.exitCode = 1;
      return;
    }
    if (Date.now() - t0 > waitMs) {
      throw new Error(`request(s) ${seqs.join(', ')} not carried out within ${waitMs} ms: is witnessd running on ${nodes.join(', ')}?`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
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
    .action((o: { db: string; json?: boolean; all?: boolean; client?: RegExp; share?: RegExp; ip?: RegExp; net?: RegExp }) => {
      const rows = withStore(o.db, true, (s) => listRegistrations(s, { all: o.all === true })).filter(
        (r) => (o.client?.test(r.clientName) ?? true) && (o.share?.test(r.shareName ?? '') ?? true) && (o.ip?.test(r.ipAddress) ?? true) && (o.net?.test(r.netName) ?? true),
      );
      print(o.json, rows, () => (rows.length === 0 ? 'no registrations' : rows.map(describeRegistration).join('\n')));
    });

  const selectorOptions = (c: Command): Command =>
    c.option('--client <name>', 'client computer name').option('--share <name>', 'share name').option('--ip <ip>', 'registered IP').option('--net <name>', 'NetName').option('--key <key>', 'registration key').option('--apply-to-all', 'every registration');
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
  const wait = new Option('--wait-ms <ms>', 'how long to wait for witnessd').default(5000).argParser(Number);

  for (const [name, kind, desc] of [
    ['client-move', 'client-move', 'tell clients to move to another node or IP (CLIENT_MOVE)'],
    ['share-move', 'share-move', 'tell clients of a share to move to another node or IP (SHARE_MOVE)'],
  ] as const) {
    selectorOptions(program.command(name).description(desc).addOption(db()))
      .option('--to-node <node>', 'destination node (all its IPs)')
      .option('--to-ip <ip>', 'destination IP')
      .option('--json', 'JSON output')
      .addOption(wait)
      .action(async (o: Filters & { db: string; applyToAll?: boolean; toNode?: string; toIp?: string; json?: boolean; waitMs: number }) => {
        await request(o.db, kind, selector(o), target(o), o.json, o.waitMs);
      });
  }

  selectorOptions(program.command('force-unregister').description('drop registrations; their pending AsyncNotify returns ERROR_NOT_FOUND so clients re-register').addOption(db()))
    .option('--json', 'JSON output')
    .addOption(wait)
    .action(async (o: Filters & { db: string; applyToAll?: boolean; json?: boolean; waitMs: number }) => {
      await request(o.db, 'force-unregister', selector(o), {}, o.json, o.waitMs);
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
      print(o.json, rows, () => rows.map((n) => `${new Date(n.sentAt).toISOString()} ${n.clientName} ${TYPE_NAMES[n.type] ?? n.type} "${n.summary}" event=${n.eventSeq ?? '-'} latency=${n.latencyMs ?? '-'}ms ${n.outcome} (witness ${n.node})`).join('\n') || 'no notifications');
    });
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
