// Previous view → next view: the events a witness needs, in a fixed order so every node of the
// cluster, diffing the same two CIB revisions, writes the same events.

import { nodeAddressesUp, type ClusterView, type IpView, type NewEvent, type NodeState } from '../store/types.ts';

const UP: ReadonlySet<NodeState> = new Set(['online', 'standby', 'maintenance', 'pending']);
const RUNS_RESOURCES: ReadonlySet<NodeState> = new Set(['online', 'standby', 'maintenance']);

function where(ip: IpView | undefined): string | null {
  return ip?.started === true ? ip.node : null;
}

function ipPayload(ip: IpView): Record<string, unknown> {
  return { resource: ip.resource, family: ip.family, prefix: ip.prefix, group: ip.group, clone: ip.clone, failed: ip.failed };
}

/**
 * A node address is a resource clients use as they use a floating IP (RegisterEx's IpAddress may
 * be one: a client whose SMB server is that node registers with the witness of another node), so
 * it goes offline and online through the same events; the payload says it is a node's own.
 */
function nodeAddressPayload(address: string, node: string): Record<string, unknown> {
  return { resource: `node:${node}`, family: address.includes(':') ? 6 : 4, nodeAddress: true };
}

/**
 * The first sync ever (prev null) only records a baseline: there is no earlier state to compare
 * with, and inventing "online" events for everything would notify no one usefully.
 */
export function diffViews(prev: ClusterView | null, next: ClusterView): NewEvent[] {
  if (!prev) return [];
  const nodeEvents: NewEvent[] = [];
  const laterNodeEvents: NewEvent[] = [];
  const prevNodes = new Map(prev.nodes.map((n) => [n.name, n.state]));
  for (const n of next.nodes) {
    const before = prevNodes.get(n.name);
    const now = n.state;
    if (before === now) continue;
    const payload = { id: n.id, state: now, previous: before ?? null };
    if (before !== undefined && UP.has(before) && !UP.has(now)) {
      nodeEvents.push({ kind: 'node_lost', subject: n.name, from: null, to: null, payload });
    } else if (before === 'online' && now === 'standby') {
      nodeEvents.push({ kind: 'node_standby', subject: n.name, from: null, to: null, payload });
    } else if ((before === undefined || !UP.has(before)) && RUNS_RESOURCES.has(now)) {
      laterNodeEvents.push({ kind: 'node_joined', subject: n.name, from: null, to: null, payload });
    } else if ((before === 'standby' || before === 'maintenance') && now === 'online') {
      laterNodeEvents.push({ kind: 'node_online', subject: n.name, from: null, to: null, payload });
    }
  }
  // A node that disappeared from the configuration altogether is gone too.
  for (const [name, state] of prevNodes) {
    if (UP.has(state) && !next.nodes.some((n) => n.name === name)) {
      nodeEvents.push({ kind: 'node_lost', subject: name, from: null, to: null, payload: { id: null, state: 'removed', previous: state } });
    }
  }

  const offline: NewEvent[] = [];
  const moved: NewEvent[] = [];
  const online: NewEvent[] = [];
  const prevIps = new Map(prev.ips.map((i) => [i.resource, i]));
  const nextIps = new Map(next.ips.map((i) => [i.resource, i]));
  const ids = [...new Set([...prevIps.keys(), ...nextIps.keys()])].sort();
  for (const id of ids) {
    const a = prevIps.get(id);
    const b = nextIps.get(id);
    if (a && b && a.address !== b.address) {
      // Reconfigured address: the old one went away, the new one appeared.
      if (where(a) !== null) offline.push({ kind: 'ip_offline', subject: a.address, from: where(a), to: null, payload: ipPayload(a) });
      if (where(b) !== null) online.push({ kind: 'ip_online', subject: b.address, from: null, to: where(b), payload: ipPayload(b) });
      continue;
    }
    const from = where(a);
    const to = where(b);
    if (from === to) continue;
    const ip = b ?? a;
    if (!ip) continue;
    if (from !== null && to !== null) moved.push({ kind: 'ip_moved', subject: ip.address, from, to, payload: ipPayload(ip) });
    else if (from !== null) offline.push({ kind: 'ip_offline', subject: ip.address, from, to: null, payload: ipPayload(ip) });
    else online.push({ kind: 'ip_online', subject: ip.address, from: null, to, payload: ipPayload(ip) });
  }

  // Node addresses, in address order so every node writes the same events.
  const prevUp = nodeAddressesUp(prev);
  const nextUp = nodeAddressesUp(next);
  for (const address of [...new Set([...prevUp.keys(), ...nextUp.keys()])].sort()) {
    const from = prevUp.get(address) ?? null;
    const to = nextUp.get(address) ?? null;
    if (from === to) continue;
    if (from !== null && to !== null) moved.push({ kind: 'ip_moved', subject: address, from, to, payload: nodeAddressPayload(address, to) });
    else if (from !== null) offline.push({ kind: 'ip_offline', subject: address, from, to: null, payload: nodeAddressPayload(address, from) });
    else if (to !== null) online.push({ kind: 'ip_online', subject: address, from: null, to, payload: nodeAddressPayload(address, to) });
  }

  const shares: NewEvent[] = [];
  const prevShares = new Map(prev.shares.map((s) => [s.name, s]));
  // Shares come and go with the SMB server's configuration (agent/samba-shares.ts) or the map.
  const nextNames = new Set(next.shares.map((s) => s.name));
  for (const s of prev.shares) {
    if (!nextNames.has(s.name)) shares.push({ kind: 'share_removed', subject: s.name, from: s.node, to: null, payload: { resource: s.resource } });
  }
  for (const s of next.shares) {
    if (!prevShares.has(s.name)) shares.push({ kind: 'share_added', subject: s.name, from: null, to: s.node, payload: { resource: s.resource, ips: s.ips } });
  }
  for (const s of next.shares) {
    const before = prevShares.get(s.name);
    const from = before?.node ?? null;
    if (from === s.node) continue;
    shares.push({ kind: 'share_moved', subject: s.name, from, to: s.node, payload: { resource: s.resource, ips: s.ips } });
  }

  return [...nodeEvents, ...offline, ...moved, ...online, ...shares, ...laterNodeEvents];
}
