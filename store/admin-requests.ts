// Admin requests from witnessctl to witnessd (table admin_requests): written by witnessctl for this
// node's witnessd, or by the agent's relay for a request another node's witnessctl sent
// (agent/admin/), carried out by witnessd (service/swn/admin-executor.ts).

import type { Store } from './index.ts';
import { toStoreError } from './errors.ts';
import type { RegisteredFor } from './registrations.ts';

export const ADMIN_KINDS = ['client-move', 'share-move', 'force-unregister'] as const;
export type AdminKind = (typeof ADMIN_KINDS)[number];

export function isAdminKind(s: string): s is AdminKind {
  return (ADMIN_KINDS as readonly string[]).includes(s);
}

export interface AdminSelector {
  /** Registration key (context handle hex). */
  key?: string;
  client?: string;
  share?: string;
  netName?: string;
  ip?: string;
  /** Every registration (must be said explicitly). */
  all?: boolean;
}

/** The fields a selector looks at; both live registrations and their store rows have them. */
export type Selectable = Pick<RegisteredFor, 'key' | 'clientName' | 'shareName' | 'netName' | 'ipAddress'>;

/** Names compare case-insensitively, as Windows treats them; an empty selector selects nothing. */
export function selectorMatches(s: AdminSelector, r: Selectable): boolean {
  const eq = (a: string | null, b: string | undefined): boolean => b === undefined || (a !== null && a.toLowerCase() === b.toLowerCase());
  if (s.all !== true && s.key === undefined && s.client === undefined && s.share === undefined && s.netName === undefined && s.ip === undefined) return false;
  return (s.key === undefined || s.key === r.key) && eq(r.clientName, s.client) && eq(r.shareName, s.share) && eq(r.netName, s.netName) && (s.ip === undefined || s.ip === r.ipAddress);
}

export interface AdminTarget {
  node?: string;
  ip?: string;
}

export interface AdminRequest {
  seq: number;
  at: number;
  node: string;
  kind: AdminKind;
  selector: AdminSelector;
  target: AdminTarget;
  state: 'pending' | 'done' | 'failed';
  doneAt: number | null;
  result: Record<string, unknown> | null;
  /** Set for requests relayed from another node: the wire id and the asking node. */
  ref: string | null;
  origin: string | null;
}

interface Row {
  seq: number;
  at: number;
  node: string;
  kind: string;
  selector: string;
  target: string;
  state: string;
  done_at: number | null;
  result: string | null;
  ref: string | null;
  origin: string | null;
}

function fromRow(r: Row): AdminRequest {
  return {
    seq: r.seq,
    at: r.at,
    node: r.node,
    kind: r.kind as AdminKind,
    selector: JSON.parse(r.selector) as AdminSelector,
    target: JSON.parse(r.target) as AdminTarget,
    state: r.state as AdminRequest['state'],
    doneAt: r.done_at,
    result: r.result !== null ? (JSON.parse(r.result) as Record<string, unknown>) : null,
    ref: r.ref,
    origin: r.origin,
  };
}

export function addAdminRequest(store: Store, node: string, kind: AdminKind, selector: AdminSelector, target: AdminTarget): number {
  try {
    const info = store.stmt("INSERT INTO admin_requests (at, node, kind, selector, target, state) VALUES (?, ?, ?, ?, ?, 'pending')").run(Date.now(), node, kind, JSON.stringify(selector), JSON.stringify(target));
    return Number(info.lastInsertRowid);
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

export function pendingAdminRequests(store: Store, node: string): AdminRequest[] {
  try {
    return (store.stmt("SELECT * FROM admin_requests WHERE node = ? AND state = 'pending' ORDER BY seq").all(node) as Row[]).map(fromRow);
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

export function finishAdminRequest(store: Store, seq: number, ok: boolean, result: Record<string, unknown>): void {
  try {
    store.stmt('UPDATE admin_requests SET state = ?, done_at = ?, result = ? WHERE seq = ?').run(ok ? 'done' : 'failed', Date.now(), JSON.stringify(result), seq);
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

export function getAdminRequest(store: Store, seq: number): AdminRequest | null {
  const r = store.stmt('SELECT * FROM admin_requests WHERE seq = ?').get(seq) as Row | undefined;
  return r ? fromRow(r) : null;
}

/**
 * A request relayed from another node (the agent read it from a transient node attribute).
 * Idempotent on `ref`: the attribute may be seen in several CIB updates before it is deleted.
 * Returns the new row's seq, or null when the request was already there.
 */
export function importAdminRequest(store: Store, node: string, ref: string, origin: string, kind: AdminKind, selector: AdminSelector, target: AdminTarget): number | null {
  try {
    const info = store
      .stmt("INSERT OR IGNORE INTO admin_requests (at, node, kind, selector, target, state, ref, origin) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)")
      .run(Date.now(), node, kind, JSON.stringify(selector), JSON.stringify(target), ref, origin);
    return info.changes > 0 ? Number(info.lastInsertRowid) : null;
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

/** Relayed requests that are finished but whose outcome has not been sent back yet. */
export function unpublishedResults(store: Store): AdminRequest[] {
  try {
    return (store.stmt("SELECT * FROM admin_requests WHERE ref IS NOT NULL AND state != 'pending' AND published_at IS NULL ORDER BY seq").all() as Row[]).map(fromRow);
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

export function markPublished(store: Store, seq: number): void {
  try {
    store.stmt('UPDATE admin_requests SET published_at = ? WHERE seq = ?').run(Date.now(), seq);
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

/** The node name this store's witnessd runs as (it records it at start), for witnessctl. */
export function setWitnessNode(store: Store, node: string): void {
  try {
    store.stmt("INSERT INTO service_state (key, value) VALUES ('node', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(node);
  } catch (err) {
    throw toStoreError(err, store.path);
  }
}

export function witnessNode(store: Store): string | null {
  const r = store.stmt("SELECT value FROM service_state WHERE key = 'node'").get() as { value: string } | undefined;
  return r?.value ?? null;
}
