// The cluster view table set (view_meta, nodes, ips, shares, witness_instances): what the agent
// derived from the CIB last, read by witnessd, witnessctl and `witness-agent show`. A sync writes
// the new view and its events in one transaction (commitSync).

import { toStoreError } from './errors.ts';
import { insertEvent } from './events.ts';
import type { Store } from './index.ts';
import { compareCibVersion, type ClusterEvent, type ClusterView, type IpView, type NewEvent, type NodeState, type NodeView, type ShareView, type WitnessInstanceView } from './types.ts';

export interface CommitResult {
  /** False when the CIB revision is older than the stored one (a racing sync won). */
  applied: boolean;
  /** The events written by this commit (empty when nothing changed). */
  events: ClusterEvent[];
}

export type DiffFn = (prev: ClusterView | null, next: ClusterView) => NewEvent[];

interface ViewMetaRow {
  cib_admin_epoch: number;
  cib_epoch: number;
  cib_num_updates: number;
  dc: string | null;
}

interface IpRow {
  resource: string;
  agent: string;
  grp: string | null;
  clone: string | null;
  address: string;
  family: number;
  prefix: number | null;
  node: string | null;
  started: number;
  failed: number;
}

/** The last committed view, or null before the first sync. */
export function readView(store: Store): ClusterView | null {
  try {
    const meta = store.stmt('SELECT cib_admin_epoch, cib_epoch, cib_num_updates, dc FROM view_meta WHERE id = 1').get() as ViewMetaRow | undefined;
    if (!meta) return null;
    const nodes = (store.stmt('SELECT name, node_id, state, addresses FROM nodes ORDER BY name').all() as { name: string; node_id: string; state: string; addresses: string | null }[])
      .map((r): NodeView => {
        const n: NodeView = { name: r.name, id: r.node_id, state: r.state as NodeState };
        if (r.addresses !== null) n.addresses = JSON.parse(r.addresses) as string[];
        return n;
      });
    const ips = (store.stmt('SELECT * FROM ips ORDER BY address, resource').all() as IpRow[]).map(
      (r): IpView => ({
        resource: r.resource,
        agent: r.agent,
        group: r.grp,
        clone: r.clone,
        address: r.address,
        family: r.family === 6 ? 6 : 4,
        prefix: r.prefix,
        node: r.node,
        started: r.started !== 0,
        failed: r.failed !== 0,
      }),
    );
    const shares = (store.stmt('SELECT name, resource, node, ips FROM shares ORDER BY name').all() as { name: string; resource: string; node: string | null; ips: string }[]).map(
      (r): ShareView => ({ name: r.name, resource: r.resource, node: r.node, ips: JSON.parse(r.ips) as string[] }),
    );
    const witness = (store.stmt('SELECT node, resource, started FROM witness_instances ORDER BY node, resource').all() as { node: string; resource: string; started: number }[]).map(
      (r): WitnessInstanceView => ({ node: r.node, resource: r.resource, started: r.started !== 0 }),
    );
    return {
      cib: { adminEpoch: meta.cib_admin_epoch, epoch: meta.cib_epoch, numUpdates: meta.cib_num_updates },
      dc: meta.dc,
      nodes,
      ips,
      shares,
      witness,
    };
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

/**
 * Diffs `next` against the stored view and writes the new view plus the events in one
 * IMMEDIATE transaction. Taking the write lock before reading the previous view is what makes
 * two racing syncs (watcher and monitor action) safe: the second one diffs against what the
 * first wrote, so it finds no change instead of duplicating events. A CIB revision older than
 * the stored one is ignored (applied: false), so a slow sync can't roll the view back.
 */
export function commitSync(store: Store, next: ClusterView, diff: DiffFn, now: number = Date.now()): CommitResult {
  try {
    return store.writeWithReserve((): CommitResult => {
      const prev = readView(store);
      if (prev && compareCibVersion(next.cib, prev.cib) < 0) return { applied: false, events: [] };
      const newEvents = diff(prev, next);
      writeView(store, next, prev, now);
      const events = newEvents.map((e) => insertEvent(store, e, next.cib, now));
      return { applied: true, events };
    });
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

/**
 * Writes the view. Tables whose content did not change are left alone: most syncs only bump
 * the CIB revision (a monitor result, an attribute), and rewriting hundreds of rows each time
 * would dominate a big cluster's sync.
 */
function writeView(store: Store, v: ClusterView, prev: ClusterView | null, now: number): void {
  store.stmt(
    `INSERT INTO view_meta (id, cib_admin_epoch, cib_epoch, cib_num_updates, dc, synced_at) VALUES (1, ?, ?, ?, ?, ?)
     ON CONFLICT(id) DO UPDATE SET cib_admin_epoch = excluded.cib_admin_epoch, cib_epoch = excluded.cib_epoch,
     cib_num_updates = excluded.cib_num_updates, dc = excluded.dc, synced_at = excluded.synced_at`,
  ).run(v.cib.adminEpoch, v.cib.epoch, v.cib.numUpdates, v.dc, now);
  const changed = (a: unknown, b: unknown): boolean => prev === null || JSON.stringify(a) !== JSON.stringify(b);
  if (changed(prev?.nodes, v.nodes)) {
    store.stmt('DELETE FROM nodes').run();
    const ins = store.stmt('INSERT INTO nodes (name, node_id, state, addresses) VALUES (?, ?, ?, ?)');
    for (const n of v.nodes) ins.run(n.name, n.id, n.state, n.addresses !== undefined && n.addresses.length > 0 ? JSON.stringify(n.addresses) : null);
  }
  if (changed(prev?.ips, v.ips)) {
    store.stmt('DELETE FROM ips').run();
    const ins = store.stmt('INSERT INTO ips (resource, agent, grp, clone, address, family, prefix, node, started, failed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    for (const ip of v.ips) {
      ins.run(ip.resource, ip.agent, ip.group, ip.clone, ip.address, ip.family, ip.prefix, ip.node, ip.started ? 1 : 0, ip.failed ? 1 : 0);
    }
  }
  if (changed(prev?.shares, v.shares)) {
    store.stmt('DELETE FROM shares').run();
    const ins = store.stmt('INSERT INTO shares (name, resource, node, ips) VALUES (?, ?, ?, ?)');
    for (const sh of v.shares) ins.run(sh.name, sh.resource, sh.node, JSON.stringify(sh.ips));
  }
  if (changed(prev?.witness, v.witness)) {
    store.stmt('DELETE FROM witness_instances').run();
    const ins = store.stmt('INSERT INTO witness_instances (node, resource, started) VALUES (?, ?, ?)');
    for (const w of v.witness) ins.run(w.node, w.resource, w.started ? 1 : 0);
  }
}
