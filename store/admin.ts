// Admin requests from witnessctl to witnessd (table admin_requests).

import type { Store } from './index.ts';
import { toStoreError } from './errors.ts';

export type AdminKind = 'client-move' | 'share-move' | 'force-unregister';

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
export interface Selectable {
  key: string;
  clientName: string;
  shareName: string | null;
  netName: string;
  ipAddress: string;
}

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
