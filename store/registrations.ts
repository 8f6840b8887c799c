// witnessd's copy of its registrations and the notification audit trail.

import type { Store } from './index.ts';
import { toStoreError } from './errors.ts';

export interface RegistrationRow {
  key: string;
  node: string;
  pid: number;
  version: number;
  netName: string;
  shareName: string | null;
  ipAddress: string;
  clientName: string;
  flags: number;
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
}

/** Writes a batch of registration changes and audit rows in one transaction. */
export function writeRegistrationChanges(store: Store, c: RegistrationChanges): void {
  const db = store.db;
  const up = db.prepare(
    `INSERT INTO registrations (key, node, pid, version, net_name, share_name, ip_address, client_name, flags, keep_alive,
       association, remote, local, identity, created_at, last_use, pending, notifications_sent, removed_at, removed_reason)
     VALUES (@key, @node, @pid, @version, @netName, @shareName, @ipAddress, @clientName, @flags, @keepAlive,
       @association, @remote, @local, @identity, @createdAt, @lastUse, @pending, @notificationsSent, NULL, NULL)
     ON CONFLICT(key) DO UPDATE SET last_use = excluded.last_use, pending = excluded.pending,
       notifications_sent = excluded.notifications_sent`,
  );
  const rm = db.prepare('UPDATE registrations SET removed_at = ?, removed_reason = ?, pending = 0 WHERE key = ? AND removed_at IS NULL');
  const note = db.prepare(
    `INSERT INTO notifications (registration, client_name, node, type, summary, event_seq, event_at, sent_at, latency_ms, outcome)
     VALUES (@registration, @clientName, @node, @type, @summary, @eventSeq, @eventAt, @sentAt, @latencyMs, @outcome)`,
  );
  try {
    db.transaction(() => {
      for (const r of c.upserts) up.run({ ...r, pending: r.pending ? 1 : 0 });
      for (const r of c.removals) rm.run(r.at, r.reason, r.key);
      for (const n of c.notifications) note.run(n);
    }).immediate();
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

/** `witnessctl list` filters: case-insensitive regular expressions on these fields. */
export type ListFilters = Partial<Record<ListFilterField, RegExp>>;

export function matchesListFilters(r: RegistrationRow, f: ListFilters): boolean {
  return (f.client?.test(r.clientName) ?? true) && (f.share?.test(r.shareName ?? '') ?? true) && (f.ip?.test(r.ipAddress) ?? true) && (f.net?.test(r.netName) ?? true) && (f.user?.test(r.identity ?? '') ?? true);
}
