// Where everything runs, derived from the CIB the way Pacemaker itself reads its status section.
//
// The trap this module exists to avoid: a lost node's <node_state> keeps its last operation
// history, so a naive reading still shows its resources "started" there (crm_simulate
// --node-fail produces exactly that). Only nodes that are up count, and a resource's state on a
// node comes from its whole operation history ordered by call-id, not from any single entry.

import { parseAddressWithPrefix, parsePrefix } from '../store/address.ts';
import type { ClusterView, IpView, NodeState, NodeView, ShareView, WitnessInstanceView } from '../store/types.ts';
import type { Cib, CibClone, CibGroup, CibNodeState, CibPrimitive, CibResource, LrmOp, LrmResource } from './cib/types.ts';
import type { ViewConfig } from './config.ts';

const TRUE_VALUES = new Set(['on', 'true', 'yes', 'y', '1']);

function isTrue(v: string | undefined): boolean {
  return v !== undefined && TRUE_VALUES.has(v.toLowerCase());
}

/**
 * Node state as crm_mon shows it (determine_online_status without fencing subtleties):
 * online = in the membership, controller up, joined. A node that left while it was expected
 * up is `lost`; one that the fencer reported on is `fenced`; a clean shutdown is `offline`.
 */
export function nodeStateOf(ns: CibNodeState | undefined, configAttrs: Record<string, string>): NodeState {
  if (!ns) return 'offline';
  const attrs = { ...configAttrs, ...ns.attributes };
  if (ns.inCcm && ns.crmdOnline && ns.join === 'member') {
    if (isTrue(attrs['standby'])) return 'standby';
    if (isTrue(attrs['maintenance'])) return 'maintenance';
    return 'online';
  }
  if (ns.inCcm && ns.crmdOnline) return 'pending';
  // The controller records a fencing result with this origin (Pacemaker 2.1 send_stonith_update).
  if (ns.origin === 'send_stonith_update') return 'fenced';
  return ns.expected === 'member' ? 'lost' : 'offline';
}

/** Nodes whose status section can be trusted to say what runs there. */
function isUp(s: NodeState): boolean {
  return s === 'online' || s === 'standby' || s === 'maintenance';
}

export interface ResourceState {
  running: boolean;
  failed: boolean;
}

const STARTING = new Set(['start', 'promote', 'demote', 'migrate_from']);

/**
 * A resource's state on one node from its operation history, replayed in call-id order.
 * Recurring monitors keep the call-id of their first run, so a monitor started before a stop
 * sorts before it. Operations still in flight (op-status -1) count as newest: a pending start
 * is not running yet, a pending stop is already on its way out.
 */
export function resourceStateOf(ops: readonly LrmOp[]): ResourceState {
  const sorted = ops.length > 1 ? [...ops].sort((a, b) => rank(a) - rank(b)) : ops;
  let running = false;
  let failed = false;
  for (const op of sorted) {
    const ok = op.opStatus === 0;
    if (op.opStatus === -1) {
      if (STARTING.has(op.operation) || op.operation === 'stop' || op.operation === 'migrate_to') running = false;
      continue;
    }
    if (STARTING.has(op.operation)) {
      running = ok && (op.rc === 0 || op.rc === 8);
      failed = !running;
    } else if (op.operation === 'stop') {
      running = false;
      failed = !(ok && op.rc === 0);
    } else if (op.operation === 'migrate_to') {
      if (ok && op.rc === 0) running = false;
    } else if (op.operation === 'monitor') {
      if (ok && (op.rc === 0 || op.rc === 8)) {
        running = true;
        failed = false;
      } else if (op.rc === 7 && ok) {
        // A probe (interval 0) finding it stopped is normal; a recurring monitor finding it
        // stopped means it died.
        running = false;
        failed = op.interval > 0;
      } else {
        running = false;
        failed = true;
      }
    }
  }
  return { running, failed };
}

function rank(op: LrmOp): number {
  return op.opStatus === -1 || op.callId < 0 ? Number.MAX_SAFE_INTEGER : op.callId;
}

function agentOf(p: CibPrimitive): string {
  return p.provider !== null ? `${p.cls}:${p.provider}:${p.type}` : `${p.cls}:${p.type}`;
}

interface PrimitiveCtx {
  prim: CibPrimitive;
  group: CibGroup | null;
  clone: CibClone | null;
}

function flatten(resources: readonly CibResource[]): PrimitiveCtx[] {
  const out: PrimitiveCtx[] = [];
  const walk = (r: CibResource, group: CibGroup | null, clone: CibClone | null): void => {
    if (r.kind === 'primitive') out.push({ prim: r, group, clone });
    else if (r.kind === 'group') for (const c of r.children) walk(c, r, clone);
    else if (r.kind === 'clone') {
      if (r.child) walk(r.child, null, r);
    } // bundles: container resources are not witness IPs; skipped.
  };
  for (const r of resources) walk(r, null, null);
  return out;
}

interface Placement {
  /** Up nodes where an instance runs, with the status id of that instance. */
  running: { node: string; instance: string }[];
  failed: boolean;
}

/** An IP resource left out of the view, and why (the agent warns about it; see agent/skipped.ts). */
export interface SkippedIp {
  /** Primitive id. */
  resource: string;
  agent: string;
  /** The parameter at fault (ip, ipv6addr, cidr_netmask, ...), or null when the address parameter is missing. */
  param: string | null;
  /** Its value as configured, or null. */
  value: string | null;
  /** Why, for the message ("prefix length 33 is out of range for IPv4 (0-32)"). */
  reason: string;
  /** Set for a scoped IPv6 address: its zone ("%eth0"). */
  zone?: string;
}

/** The parameter that holds the address, as each agent names it. */
function addressParam(p: CibPrimitive): { param: string; value: string } | null {
  const names = p.type === 'IPv6addr' ? ['ipv6addr', 'ip'] : ['ip', 'ipv6addr', 'ipaddr'];
  for (const param of names) {
    const value = p.params[param];
    if (value !== undefined) return { param, value };
  }
  return null;
}

/** cidr_netmask, or the old netmask when cidr_netmask is unset or empty (as IPaddr2 reads them). */
function netmaskParam(p: CibPrimitive): { param: string; value: string } | null {
  for (const param of ['cidr_netmask', 'netmask']) {
    const value = p.params[param];
    if (value !== undefined && value.trim() !== '') return { param, value };
  }
  return null;
}

/**
 * The address and prefix an IP primitive configures, or why it cannot be used. The address may
 * carry "/N" (IPv6addr's ipv6addr="2001:db8::1/64"); cidr_netmask overrides it, as in IPv6addr.
 * A scoped address (fe80::1%eth0) is refused, not stripped: see parseAddress in store/address.ts.
 */
export function ipOf(p: CibPrimitive): { address: string; family: 4 | 6; prefix: number | null } | Omit<SkippedIp, 'resource' | 'agent'> {
  const a = addressParam(p);
  if (a === null) return { param: null, value: null, reason: 'no ip parameter' };
  const parsed = parseAddressWithPrefix(a.value);
  if (!parsed.ok) {
    const { reason, zone } = parsed.problem;
    return zone !== undefined ? { ...a, reason, zone } : { ...a, reason };
  }
  const nm = netmaskParam(p);
  if (nm === null) return parsed.value;
  const prefix = parsePrefix(nm.value, parsed.value.family);
  if (!prefix.ok) return { ...nm, reason: prefix.problem.reason };
  return { ...parsed.value, prefix: prefix.value };
}

function ipPredicate(cfg: ViewConfig): (c: PrimitiveCtx) => boolean {
  const ipAgents = new Set(cfg.ipAgents);
  const ipIds = cfg.ipResources !== null ? new Set(cfg.ipResources) : null;
  return (c) => (ipIds !== null ? ipIds.has(c.prim.id) || (c.group !== null && ipIds.has(c.group.id)) : ipAgents.has(agentOf(c.prim)));
}

/**
 * The primitives whose operation history the view depends on: the IPs, the witness clone, and
 * every primitive of a share's resource. parseCib uses it to skip the rest of the status section.
 */
export function relevantResources(resources: readonly CibResource[], cfg: ViewConfig): Set<string> {
  const isIp = ipPredicate(cfg);
  const shareRoots = new Set(cfg.shares.values());
  const keep = new Set<string>();
  for (const c of flatten(resources)) {
    if (isIp(c) || agentOf(c.prim) === cfg.witnessAgent || shareRoots.has(c.prim.id) || (c.group !== null && shareRoots.has(c.group.id)) || (c.clone !== null && shareRoots.has(c.clone.id))) {
      keep.add(c.prim.id);
    }
  }
  return keep;
}

/**
 * The cluster view of `cib`. IP resources whose address cannot be used are left out, each told to
 * `onSkip` (the rest of the view is unaffected).
 */
export function deriveView(cib: Cib, cfg: ViewConfig, onSkip?: (s: SkippedIp) => void): ClusterView {
  // Nodes: configured ones plus any that only appear in the status section.
  const states = new Map<string, CibNodeState>();
  for (const ns of cib.status) states.set(ns.id, ns);
  const nodes: NodeView[] = [];
  const nodeById = new Map<string, string>();
  const known = new Set<string>();
  for (const n of cib.nodes) {
    if (n.type === 'remote' || n.type === 'ping') continue;
    const ns = states.get(n.id) ?? cib.status.find((s) => s.uname === n.uname);
    nodes.push({ name: n.uname, id: n.id, state: nodeStateOf(ns, n.attributes) });
    nodeById.set(n.id, n.uname);
    known.add(n.uname);
  }
  for (const ns of cib.status) {
    if (known.has(ns.uname) || ns.uname === '') continue;
    nodes.push({ name: ns.uname, id: ns.id, state: nodeStateOf(ns, {}) });
    nodeById.set(ns.id, ns.uname);
    known.add(ns.uname);
  }
  nodes.sort((a, b) => cmp(a.name, b.name));
  const up = new Set(nodes.filter((n) => isUp(n.state)).map((n) => n.name));

  // Operation history per primitive id (clone instances "id:N" fold into their primitive).
  const history = new Map<string, { node: string; lrm: LrmResource }[]>();
  for (const ns of cib.status) {
    const name = ns.uname !== '' ? ns.uname : (nodeById.get(ns.id) ?? ns.id);
    for (const lrm of ns.resources) {
      const base = lrm.id.replace(/:\d+$/, '');
      const h = history.get(base) ?? [];
      h.push({ node: name, lrm });
      history.set(base, h);
    }
  }
  const placementOf = (p: CibPrimitive): Placement => {
    const running: Placement['running'] = [];
    let failed = false;
    for (const { node, lrm } of history.get(p.id) ?? []) {
      if (!up.has(node)) continue; // stale history of a node that is not up
      const s = resourceStateOf(lrm.ops);
      if (s.running) running.push({ node, instance: lrm.id });
      failed ||= s.failed;
    }
    running.sort((a, b) => cmp(a.node, b.node) || cmp(a.instance, b.instance));
    return { running, failed };
  };

  const prims = flatten(cib.resources);
  const placements = new Map<string, Placement>(prims.map((c) => [c.prim.id, placementOf(c.prim)]));
  const isIp = ipPredicate(cfg);

  const ips: IpView[] = [];
  const ipAgents = new Set(cfg.ipAgents);
  for (const c of prims) {
    if (!isIp(c)) continue;
    const addr = ipOf(c.prim);
    if ('reason' in addr) {
      // Nothing a client could use. A primitive that has no address and is neither an IP agent's
      // nor named in ip_resources (a group named there also holds its file system) is no news.
      if (onSkip !== undefined && (addr.param !== null || ipAgents.has(agentOf(c.prim)) || cfg.ipResources?.includes(c.prim.id) === true)) onSkip({ resource: c.prim.id, agent: agentOf(c.prim), ...addr });
      continue;
    }
    const pl = placements.get(c.prim.id) ?? { running: [], failed: false };
    const base = {
      agent: agentOf(c.prim),
      group: c.group?.id ?? null,
      clone: c.clone?.id ?? null,
      address: addr.address,
      family: addr.family,
      prefix: addr.prefix,
    };
    if (c.clone !== null && pl.running.length > 0) {
      // One entry per running instance of a cloned IP; the id names the node it runs on, since
      // anonymous clone instances carry no number in the status section.
      for (const r of pl.running) ips.push({ ...base, resource: `${c.prim.id}@${r.node}`, node: r.node, started: true, failed: false });
    } else {
      const where = pl.running[0]?.node ?? null;
      ips.push({ ...base, resource: c.prim.id, node: where, started: where !== null, failed: where === null && pl.failed });
    }
  }
  ips.sort((a, b) => cmp(a.address, b.address) || cmp(a.resource, b.resource));

  const shares: ShareView[] = [];
  for (const [name, rscId] of cfg.shares) {
    const node = shareNode(rscId, cib.resources, placements);
    const groupIps = ips.filter((i) => i.group === rscId);
    const candidates = groupIps.length > 0 ? groupIps : ips;
    shares.push({
      name,
      resource: rscId,
      node,
      ips: node === null ? [] : candidates.filter((i) => i.node === node && i.started).map((i) => i.address),
    });
  }
  shares.sort((a, b) => cmp(a.name, b.name));

  const witness: WitnessInstanceView[] = [];
  for (const c of prims) {
    if (agentOf(c.prim) !== cfg.witnessAgent) continue;
    for (const r of placements.get(c.prim.id)?.running ?? []) witness.push({ node: r.node, resource: r.instance, started: true });
  }
  witness.sort((a, b) => cmp(a.node, b.node) || cmp(a.resource, b.resource));

  return {
    cib: cib.version,
    dc: cib.dcUuid !== null ? (nodeById.get(cib.dcUuid) ?? null) : null,
    nodes,
    ips,
    shares,
    witness,
  };
}

/**
 * The node a share's resource runs on: a primitive's node; a group's node when every member
 * runs there (a group half-way through a move serves no one); null for clones, which run
 * everywhere, and for resources not found or not running.
 */
function shareNode(id: string, resources: readonly CibResource[], placements: Map<string, Placement>): string | null {
  const find = (rs: readonly CibResource[]): CibResource | null => {
    for (const r of rs) {
      if (r.id === id) return r;
      if (r.kind === 'group') {
        const hit = find(r.children);
        if (hit) return hit;
      }
    }
    return null;
  };
  const r = find(resources);
  if (!r) return null;
  if (r.kind === 'primitive') return placements.get(r.id)?.running[0]?.node ?? null;
  if (r.kind === 'group') {
    const nodes = r.children.map((c) => placements.get(c.id)?.running[0]?.node ?? null);
    const first = nodes[0] ?? null;
    return first !== null && nodes.every((n) => n === first) ? first : null;
  }
  return null;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
