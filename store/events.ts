// The events table: what changed in the cluster, in order (seq), written by the agent with each
// view (store/view.ts commitSync) or alone (its planned moves), followed by witnessd's notifier.

import { toStoreError } from './errors.ts';
import type { Store } from './index.ts';
import type { CibVersion, ClusterEvent, EventKind, NewEvent } from './types.ts';

interface EventRow {
  seq: number;
  at: number;
  cib_admin_epoch: number;
  cib_epoch: number;
  cib_num_updates: number;
  kind: string;
  subject: string;
  from_node: string | null;
  to_node: string | null;
  payload: string;
}

function rowToEvent(r: EventRow): ClusterEvent {
  return {
    seq: r.seq,
    at: r.at,
    cib: { adminEpoch: r.cib_admin_epoch, epoch: r.cib_epoch, numUpdates: r.cib_num_updates },
    kind: r.kind as EventKind,
    subject: r.subject,
    from: r.from_node,
    to: r.to_node,
    payload: JSON.parse(r.payload) as Record<string, unknown>,
  };
}

/** Records events that come with no view change (the agent's planned moves), in one transaction. */
export function appendEvents(store: Store, events: readonly NewEvent[], cib: CibVersion, now: number = Date.now()): ClusterEvent[] {
  try {
    return store.writeWithReserve(() => events.map((e) => insertEvent(store, e, cib, now)));
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

/** One event row, inside the caller's write transaction (commitSync, appendEvents). */
export function insertEvent(store: Store, e: NewEvent, cib: CibVersion, now: number): ClusterEvent {
  const info = store
    .stmt(
      `INSERT INTO events (at, cib_admin_epoch, cib_epoch, cib_num_updates, kind, subject, from_node, to_node, payload)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(now, cib.adminEpoch, cib.epoch, cib.numUpdates, e.kind, e.subject, e.from, e.to, JSON.stringify(e.payload));
  return Object.assign({}, e, { seq: Number(info.lastInsertRowid), at: now, cib });
}

/** Events with seq > `seq`, oldest first, at most `limit`. */
export function eventsAfter(store: Store, seq: number, limit = 1000): ClusterEvent[] {
  try {
    const rows = store.stmt('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?').all(seq, limit) as EventRow[];
    return rows.map(rowToEvent);
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

/** The newest `limit` events, oldest first. */
export function lastEvents(store: Store, limit: number): ClusterEvent[] {
  try {
    const rows = store.stmt('SELECT * FROM (SELECT * FROM events ORDER BY seq DESC LIMIT ?) ORDER BY seq').all(limit) as EventRow[];
    return rows.map(rowToEvent);
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

/** Highest event seq, 0 when there is none. */
export function lastSeq(store: Store): number {
  try {
    const row = store.stmt('SELECT COALESCE(MAX(seq), 0) AS seq FROM events').get() as { seq: number };
    return row.seq;
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}
