// Planned moves, seen as early as the cluster shows them. `pcs resource move`, `crm_resource
// --move/--ban` and `pcs node standby` change the CIB's configuration (a cli-prefer / cli-ban
// constraint, a standby attribute) some hundreds of milliseconds before the scheduler's stop of
// the resource shows up in the status section. On each configuration change we ask Pacemaker's
// own scheduler what it will do with that CIB (crm_simulate -S, ~0.1 s) and record an
// ip_move_planned event (from → to) for every IP it will move, so witnessd can send CLIENT_MOVE
// before the IP goes down (service/swn/notifier.ts).

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Store } from '../store/index.ts';
import type { ClusterView, NewEvent } from '../store/types.ts';
import { child, children, descendants, readXml } from './cib/xml.ts';
import { appendEvents } from '../store/events.ts';

export interface PlannedMove {
  resource: string;
  from: string;
  to: string;
}

/** The moves in `crm_simulate -S --output-as=xml` output (<actions><rsc_action action="move" …/>). Throws CibParseError on output that is not XML. */
export function parseSimulation(xml: string): PlannedMove[] {
  if (xml.trim() === '') return [];
  const out: PlannedMove[] = [];
  for (const actions of descendants(readXml(xml, { what: 'crm_simulate output' }), 'actions')) {
    for (const { attrs: a } of children(actions, 'rsc_action')) {
      const action = a['action'];
      if ((action === 'move' || action === 'migrate') && a['resource'] !== undefined && a['source'] !== undefined && a['dest'] !== undefined) {
        out.push({ resource: a['resource'], from: a['source'], to: a['dest'] });
      }
    }
  }
  return out;
}

/** What the planner reads in a CIB's configuration. */
export interface PlanInputs {
  /** resource → node of each cli-prefer constraint. */
  prefer: Map<string, string>;
  /** The bans (`ban <constraint id>`) and standby nodes (`standby <node>`). */
  marks: Set<string>;
}

/**
 * Reads the configuration of a CIB (the status section is passed over unread) for the planner:
 *
 * - `pcs resource move R N` / `crm_resource --move -r R -N N` write the constraint
 *   <rsc_location id="cli-prefer-R" rsc="R" node="N" score="INFINITY"/>: the destination is in the
 *   CIB itself, no need to wait for the scheduler.
 * - What may make Pacemaker move resources without naming a destination: cli-ban constraints
 *   (`crm_resource --ban`, `pcs resource move R` with no node) and nodes put in standby. Only when
 *   one of these appears is the scheduler asked: crm_simulate costs ~0.1 s of CPU on every node,
 *   and running it on every configuration change slowed the notification path on a small machine.
 */
export function readPlanInputs(cibXml: string): PlanInputs {
  const root = readXml(cibXml, {
    what: 'CIB',
    takeOver: (name, ancestors, sc) => {
      if (name !== 'status' || ancestors.length !== 1) return false;
      if (!sc.skipPast('status')) sc.fail('<status> is never closed');
      return true;
    },
  });
  const conf = child(root, 'configuration');
  const prefer = new Map<string, string>();
  const marks = new Set<string>();
  for (const { attrs: a } of children(child(conf, 'constraints'), 'rsc_location')) {
    const id = a['id'] ?? '';
    const score = a['score'] ?? '';
    if (id.startsWith('cli-prefer-') && a['rsc'] !== undefined && a['node'] !== undefined && (score === 'INFINITY' || score === '+INFINITY')) prefer.set(a['rsc'], a['node']);
    if (id.startsWith('cli-ban-')) marks.add(`ban ${id}`);
  }
  for (const n of children(child(conf, 'nodes'), 'node')) {
    for (const set of children(n, 'instance_attributes')) {
      for (const { attrs: a } of children(set, 'nvpair')) {
        if (a['name'] === 'standby' && (a['value'] === 'on' || a['value'] === 'true')) marks.add(`standby ${n.attrs['uname'] ?? '?'}`);
      }
    }
  }
  return { prefer, marks };
}

export type Simulator = (cibXml: string) => Promise<PlannedMove[]>;

/** Runs Pacemaker's scheduler on this CIB (crm_simulate -x FILE -S), without touching the cluster. */
export function crmSimulate(timeoutMs = 10_000): Simulator {
  return (cibXml) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'witness-plan-'));
    const file = path.join(dir, 'cib.xml');
    fs.writeFileSync(file, cibXml, { mode: 0o600 });
    return new Promise<PlannedMove[]>((resolve, reject) => {
      execFile('crm_simulate', ['-x', file, '-S', '--output-as=xml'], { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        fs.rmSync(dir, { recursive: true, force: true });
        if (err) {
          reject(new Error(`crm_simulate: ${err.message} ${stderr.slice(0, 500)}`));
          return;
        }
        try {
          resolve(parseSimulation(stdout));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
  };
}

export interface PlannerOptions {
  store: Store;
  logger: Logger;
  simulate?: Simulator;
}

/**
 * Looks at every configuration change (the CIB epoch moved): a new cli-prefer constraint is a
 * planned move at once; a new ban or standby makes it ask the scheduler. Each planned IP move is
 * recorded once. One simulation at a time; changes during it trigger one more.
 */
export class MovePlanner {
  private readonly opts: PlannerOptions;
  private readonly simulate: Simulator;
  private lastEpoch: string | null = null;
  private prefer = new Map<string, string>();
  private marks = new Set<string>();
  private running = false;
  private next: { xml: string; view: ClusterView } | null = null;
  /** "address>to" of moves already recorded and still planned → the cli-prefer resource behind it, if any. */
  private announced = new Map<string, string | null>();
  private current: Promise<void> = Promise.resolve();

  constructor(opts: PlannerOptions) {
    this.opts = opts;
    this.simulate = opts.simulate ?? crmSimulate();
  }

  /** Every synced CIB. The first one only sets the baseline (nothing was just configured). */
  onCib(xml: string, view: ClusterView): void {
    const epoch = `${view.cib.adminEpoch}.${view.cib.epoch}`;
    const first = this.lastEpoch === null;
    if (!first && epoch === this.lastEpoch) return; // a status update: nothing was configured
    this.lastEpoch = epoch;
    let inputs: PlanInputs;
    try {
      inputs = readPlanInputs(xml);
    } catch (err) {
      this.opts.logger.warn({ err }, 'cannot read the CIB configuration for planned moves; clients will be told when the IPs move');
      return;
    }
    const { prefer, marks } = inputs;
    const before = this.prefer;
    this.prefer = prefer;
    const fresh = [...marks].some((m) => !this.marks.has(m));
    this.marks = marks;
    if (first) return;
    // A move to a named node (a new cli-prefer constraint) is recorded in this same sync, before
    // the DC has even scheduled the stop; a ban or a standby waits for the scheduler's answer.
    const direct: PlannedMove[] = [];
    for (const [rsc, node] of prefer) {
      if (before.get(rsc) === node) continue;
      for (const ip of view.ips) {
        if ((ip.resource === rsc || ip.group === rsc) && ip.started && ip.node !== null && ip.node !== node) direct.push({ resource: ip.resource, from: ip.node, to: node });
      }
    }
    if (direct.length > 0) this.record(direct, view, 0, false);
    if (!fresh) return;
    this.next = { xml, view };
    if (!this.running) this.current = this.drain();
  }

  /** Resolves when no simulation is running (tests, shutdown). */
  async settle(): Promise<void> {
    await this.current;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.next) {
        const { xml, view } = this.next;
        this.next = null;
        const t0 = Date.now();
        let moves: PlannedMove[];
        try {
          moves = await this.simulate(xml);
        } catch (err) {
          this.opts.logger.warn({ err }, 'cannot ask the scheduler about planned moves; clients will be told when the IPs move');
          continue;
        }
        this.record(moves, view, Date.now() - t0, true);
      }
    } finally {
      this.running = false;
    }
  }

  /**
   * Records the moves not announced yet. `complete`: `moves` is the scheduler's whole plan, so
   * moves it no longer lists are forgotten, except those announced from a cli-prefer constraint
   * that still stands while the IP has not arrived (the simulation may predate them).
   */
  private record(moves: PlannedMove[], view: ClusterView, ms: number, complete: boolean): void {
    const events: NewEvent[] = [];
    const seen = new Map<string, string | null>();
    for (const m of moves) {
      for (const ip of view.ips) {
        if (ip.resource !== m.resource || ip.node !== m.from) continue;
        const key = `${ip.address}>${m.to}`;
        seen.set(key, complete ? null : m.resource);
        if (this.announced.has(key)) continue;
        events.push({ kind: 'ip_move_planned', subject: ip.address, from: m.from, to: m.to, payload: { resource: m.resource, via: complete ? 'scheduler' : 'cli-prefer' } });
      }
    }
    if (complete) {
      for (const [key, rsc] of this.announced) {
        if (seen.has(key) || rsc === null) continue;
        const [address, to] = key.split('>');
        const ip = view.ips.find((i) => i.address === address);
        if ((this.prefer.get(rsc) === to || this.prefer.get(ip?.group ?? '') === to) && ip?.node !== to) seen.set(key, rsc);
      }
      this.announced = seen;
    } else {
      for (const [k, v] of seen) this.announced.set(k, v);
    }
    if (events.length === 0) return;
    try {
      appendEvents(this.opts.store, events, view.cib);
      this.opts.logger.info({ moves: events.map((e) => `${e.subject} ${e.from ?? '?'} -> ${e.to ?? '?'}`), simulateMs: ms }, 'planned moves recorded');
    } catch (err) {
      this.opts.logger.error({ err }, 'cannot record planned moves');
    }
  }
}
