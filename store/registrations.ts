// witnessd's copy of its registrations and the notification audit trail.

import type { Store } from './index.ts';
import { toStoreError } from './errors.ts';
import type { Glob } from './patterns.ts';

/**
 * What a client registered for (WitnessrRegister/RegisterEx, MS-SWN §3.1.4.2 and §3.1.4.5) under
 * which key: the fields a live registration (service/swn/registry.ts) and its store row share.
 */
export interface RegisteredFor {
  /** The context handle, hex. */
  key: string;
  version: number;
  netName: string;
  shareName: string | null;
  ipAddress: string;
  clientName: string;
  flags: number;
}

export interface RegistrationRow extends RegisteredFor {
  node: string;
  pid: number;
  keepAlive: number;
  association: number;
  remote: string;
  local: string;
  identity: string | null;
  createdAt: number;
  lastUse: number;
  pending: boolean;
  notificationsSent: number;
  removedAt: number | null;
  removedReason: string | null;
}

export type NotificationOutcome = 'delivered' | 'client_gone' | 'timed_out';

export interface NotificationRow {
  registration: string;
  clientName: string;
  node: string;
  type: number;
  summary: string;
  eventSeq: number | null;
  eventAt: number | null;
  sentAt: number;
  latencyMs: number | null;
  outcome: NotificationOutcome;
}

export interface RegistrationFilter {
  node?: string;
  /** Include removed registrations (default: live only). */
  all?: boolean;
}

interface DbRegistration {
  key: string;
  node: string;
  pid: number;
  version: number;
  net_name: string;
  share_name: string | null;
  ip_address: string;
  client_name: string;
  flags: number;
  keep_alive: number;
  association: number;
  remote: string;
  local: string;
  identity: string | null;
  created_at: number;
  last_use: number;
  pending: number;
  notifications_sent: number;
  removed_at: number | null;
  removed_reason: string | null;
}

function fromDb(r: DbRegistration): RegistrationRow {
  return {
    key: r.key,
    node: r.node,
    pid: r.pid,
    version: r.version,
    netName: r.net_name,
    shareName: r.share_name,
    ipAddress: r.ip_address,
    clientName: r.client_name,
    flags: r.flags,
    keepAlive: r.keep_alive,
    association: r.association,
    remote: r.remote,
    local: r.local,
    identity: r.identity,
    createdAt: r.created_at,
    lastUse: r.last_use,
    pending: r.pending !== 0,
    notificationsSent: r.notifications_sent,
    removedAt: r.removed_at,
    removedReason: r.removed_reason,
  };
}

export interface RegistrationChanges {
  upserts: readonly RegistrationRow[];
  removals: readonly { key: string; at: number; reason: string }[];
  notifications: readonly NotificationRow[];
  /** Oldest rows to delete first, in the same transaction, to stay within the row budgets (pruneOldest). */
  prune?: { registrations: number; notifications: number };
  /** witnessd's journal counters to add to (JOURNAL_COUNTERS), written with the rows they describe. */
  counters?: Partial<Record<JournalCounter, number>>;
  /** The last write failure, to record (journal_last_failure). */
  lastFailure?: string;
}

/**
 * What witnessd's journal counts, kept in service_state (as `journal_<name>`) and shown by
 * `witnessctl audit`: rows it had to drop because the store could not take them for too long
 * (dropped_*), rows of old audit and removed registrations deleted early to stay within the row or
 * byte budget (pruned_*), and writes that failed (retried: write_failures).
 */
export const JOURNAL_COUNTERS = ['dropped_audit_rows', 'dropped_registration_rows', 'pruned_audit_rows', 'pruned_registration_rows', 'write_failures'] as const;
export type JournalCounter = (typeof JOURNAL_COUNTERS)[number];

export interface JournalCounters extends Record<JournalCounter, number> {
  /** "ISO time: message" of the last failed write, or null. */
  lastFailure: string | null;
}

/** Writes a batch of registration changes and audit rows in one transaction; returns the rows pruned first. */
export function writeRegistrationChanges(store: Store, c: RegistrationChanges): { registrations: number; notifications: number } {
  const up = store.stmt(
    `INSERT INTO registrations (key, node, pid, version, net_name, share_name, ip_address, client_name, flags, keep_alive,
       association, remote, local, identity, created_at, last_use, pending, notifications_sent, removed_at, removed_reason)
     VALUES (@key, @node, @pid, @version, @netName, @shareName, @ipAddress, @clientName, @flags, @keepAlive,
       @association, @remote, @local, @identity, @createdAt, @lastUse, @pending, @notificationsSent, NULL, NULL)
     ON CONFLICT(key) DO UPDATE SET last_use = excluded.last_use, pending = excluded.pending,
       notifications_sent = excluded.notifications_sent`,
  );
  const rm = store.stmt('UPDATE registrations SET removed_at = ?, removed_reason = ?, pending = 0 WHERE key = ? AND removed_at IS NULL');
  const note = store.stmt(
    `INSERT INTO notifications (registration, client_name, node, type, summary, event_seq, event_at, sent_at, latency_ms, outcome)
     VALUES (@registration, @clientName, @node, @type, @summary, @eventSeq, @eventAt, @sentAt, @latencyMs, @outcome)`,
  );
  try {
    return store.db.transaction(() => {
      const pruned = c.prune ? deleteOldest(store, c.prune) : { registrations: 0, notifications: 0 };
      if (c.prune) addCounters(store, { pruned_registration_rows: pruned.registrations, pruned_audit_rows: pruned.notifications });
      // Parameters written out: an object spread with a property after it is a slow path in V8 11
      // (~8 µs for a PDU-sized object), and this runs once per registration change.
      for (const r of c.upserts) {
        up.run({
          key: r.key, node: r.node, pid: r.pid, version: r.version, netName: r.netName, shareName: r.shareName, ipAddress: r.ipAddress,
          clientName: r.clientName, flags: r.flags, keepAlive: r.keepAlive, association: r.association, remote: r.remote, local: r.local,
          identity: r.identity, createdAt: r.createdAt, lastUse: r.lastUse, pending: r.pending ? 1 : 0, notificationsSent: r.notificationsSent,
        });
      }
      for (const r of c.removals) rm.run(r.at, r.reason, r.key);
      for (const n of c.notifications) note.run(n);
      if (c.counters) addCounters(store, c.counters);
      if (c.lastFailure !== undefined) setState(store, 'journal_last_failure', c.lastFailure);
      return pruned;
    }).immediate();
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

function setState(store: Store, key: string, value: string): void {
  store.stmt('INSERT INTO service_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
}

function addCounters(store: Store, counters: Partial<Record<JournalCounter, number>>): void {
  const add = store.stmt("INSERT INTO service_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + CAST(excluded.value AS INTEGER) AS TEXT)");
  for (const k of JOURNAL_COUNTERS) {
    const n = counters[k] ?? 0;
    if (n !== 0) add.run(`journal_${k}`, String(n));
  }
}

/** The oldest removed registrations and the oldest audit rows, at most this many of each, deleted (live registrations never are). */
function deleteOldest(store: Store, n: { registrations: number; notifications: number }): { registrations: number; notifications: number } {
  const registrations = n.registrations > 0
    ? store.stmt('DELETE FROM registrations WHERE key IN (SELECT key FROM registrations WHERE removed_at IS NOT NULL ORDER BY removed_at LIMIT ?)').run(n.registrations).changes
    : 0;
  const notifications = n.notifications > 0 ? store.stmt('DELETE FROM notifications WHERE id IN (SELECT id FROM notifications ORDER BY id LIMIT ?)').run(n.notifications).changes : 0;
  return { registrations, notifications };
}

/** deleteOldest in a transaction of its own (to make room when the byte budget is reached), with the counters it adds to. */
export function pruneOldest(store: Store, n: { registrations: number; notifications: number }): { registrations: number; notifications: number } {
  try {
    return store.db.transaction(() => {
      const pruned = deleteOldest(store, n);
      addCounters(store, { pruned_registration_rows: pruned.registrations, pruned_audit_rows: pruned.notifications });
      return pruned;
    }).immediate();
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

/** Rows in the registrations (live and removed) and notifications tables. */
export function countRows(store: Store): { registrations: number; notifications: number } {
  try {
    const registrations = store.stmt('SELECT COUNT(*) FROM registrations').pluck().get() as number;
    const notifications = store.stmt('SELECT COUNT(*) FROM notifications').pluck().get() as number;
    return { registrations, notifications };
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

/**
 * Live registrations with an AsyncNotify pending (what benches wait for).
 * @testOnly the benches wait until their clients' calls are pending (bench/witnessd-probe.ts, register-storm.ts).
 */
export function countPendingRegistrations(store: Store): number {
  try {
    return store.stmt('SELECT COUNT(*) FROM registrations WHERE removed_at IS NULL AND pending = 1').pluck().get() as number;
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

/** The journal's counters (all 0 and no failure on a store witnessd never had to drop or prune for). */
export function readJournalCounters(store: Store): JournalCounters {
  try {
    const rows = store.stmt("SELECT key, value FROM service_state WHERE substr(key, 1, 8) = 'journal_'").all() as { key: string; value: string }[];
    const got = new Map(rows.map((r) => [r.key, r.value]));
    const out: JournalCounters = { dropped_audit_rows: 0, dropped_registration_rows: 0, pruned_audit_rows: 0, pruned_registration_rows: 0, write_failures: 0, lastFailure: got.get('journal_last_failure') ?? null };
    for (const k of JOURNAL_COUNTERS) out[k] = Number(got.get(`journal_${k}`) ?? 0);
    return out;
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

/** Marks every live registration of `node` removed: a restarted witnessd holds none of them. */
export function retireRegistrations(store: Store, node: string, at: number, reason: string): number {
  try {
    return store.db.prepare('UPDATE registrations SET removed_at = ?, removed_reason = ?, pending = 0 WHERE node = ? AND removed_at IS NULL').run(at, reason, node).changes;
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

export function listRegistrations(store: Store, f: RegistrationFilter = {}): RegistrationRow[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (f.all !== true) where.push('removed_at IS NULL');
  if (f.node !== undefined) {
    where.push('node = ?');
    args.push(f.node);
  }
  const sql = `SELECT * FROM registrations ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, key`;
  try {
    return (store.db.prepare(sql).all(...args) as DbRegistration[]).map(fromDb);
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

export function listNotifications(store: Store, sinceMs = 0, limit = 1000): (NotificationRow & { id: number; identity: string | null })[] {
  try {
    const rows = store.db
      .prepare(
        // Who the client authenticated as is its registration's identity.
        `SELECT n.id, n.registration, n.client_name AS clientName, n.node, n.type, n.summary, n.event_seq AS eventSeq, n.event_at AS eventAt,
           n.sent_at AS sentAt, n.latency_ms AS latencyMs, n.outcome, r.identity
         FROM notifications n LEFT JOIN registrations r ON r.key = n.registration WHERE n.sent_at >= ? ORDER BY n.id LIMIT ?`,
      )
      .all(sinceMs, limit);
    return rows as (NotificationRow & { id: number; identity: string | null })[];
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

/** Drops audit rows and removed registrations older than `beforeMs` (retention). */
export function pruneAudit(store: Store, beforeMs: number): { notifications: number; registrations: number } {
  try {
    return store.db.transaction(() => ({
      notifications: store.db.prepare('DELETE FROM notifications WHERE sent_at < ?').run(beforeMs).changes,
      registrations: store.db.prepare('DELETE FROM registrations WHERE removed_at IS NOT NULL AND removed_at < ?').run(beforeMs).changes,
    })).immediate();
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

/** The fields `witnessctl list` filters on (its options of the same names); `user` is the authenticated identity. */
export const LIST_FILTER_FIELDS = ['client', 'share', 'ip', 'net', 'user'] as const;
export type ListFilterField = (typeof LIST_FILTER_FIELDS)[number];

/**
 * `witnessctl list` filters: glob patterns (store/patterns.ts: case-insensitive, whole value, matched in
 * linear time) on these fields, AND-ed. A registration without a share or an identity is matched as ''.
 */
export type ListFilters = Partial<Record<ListFilterField, Glob>>;

export function matchesListFilters(r: RegistrationRow, f: ListFilters): boolean {
  return (f.client?.matches(r.clientName) ?? true) && (f.share?.matches(r.shareName ?? '') ?? true) && (f.ip?.matches(r.ipAddress) ?? true) && (f.net?.matches(r.netName) ?? true) && (f.user?.matches(r.identity ?? '') ?? true);
}
