// Admin requests from witnessctl to witnessd (table admin_requests).

import type { Store } from './index.ts';
import { toStoreError } from './errors.ts';
import { LIST_FILTER_FIELDS, type ListFilterField } from './registrations.ts';

export type AdminKind = 'client-move' | 'share-move' | 'force-unregister';
const KINDS: readonly string[] = ['client-move', 'share-move', 'force-unregister'];

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

// ---- The wire format between nodes: transient node attributes (docs/cross-node-admin.md) ----

/** A request for node N is the attribute `witness-admin-<id>` of node N. */
export const REQUEST_ATTR_PREFIX = 'witness-admin-';
/** Node N answers with its attribute `witness-admin-result-<id>`. */
export const RESULT_ATTR_PREFIX = 'witness-admin-result-';

export interface WireRequest {
  /** 16 lowercase hex digits, also the attribute name's suffix. */
  id: string;
  /** The asking node. */
  from: string;
  at: number;
  kind: AdminKind | 'list';
  selector: AdminSelector;
  target: AdminTarget;
  /**
   * For 'list': glob patterns (store/patterns.ts) on the listed fields, as `witnessctl list` takes
   * them; the pattern text travels, each node compiles it (at most GLOB_MAX_LENGTH characters).
   * Field `globs` on the wire: older witnessctl sent regular expressions as `filters`, which a node
   * now refuses (see `regexFilters`), and an older relay ignores `globs` (its answer then lacks
   * `patterns: 'glob'`, and the asker filters its rows itself).
   */
  globs?: Partial<Record<ListFilterField, string>>;
  /** Set when the request carried the old `filters` field (regular expressions): never run, refused. */
  regexFilters?: true;
}

/** A relay that applied `globs` says so in its `list` answer: `result.patterns === LIST_PATTERNS`. */
export const LIST_PATTERNS = 'glob';

export interface WireResult {
  id: string;
  node: string;
  ok: boolean;
  result: Record<string, unknown>;
}

const ID = /^[0-9a-f]{16}$/;

function isStringRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses and checks a request attribute's value; throws Error with the reason. */
export function decodeWireRequest(value: string): WireRequest {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    throw new Error('not JSON');
  }
  if (!isStringRecord(v)) throw new Error('not an object');
  const { id, from, at, kind, selector, target, filters, globs } = v;
  if (typeof id !== 'string' || !ID.test(id)) throw new Error('bad id');
  if (typeof from !== 'string' || from === '') throw new Error('bad from');
  if (typeof at !== 'number') throw new Error('bad at');
  if (typeof kind !== 'string' || (kind !== 'list' && !KINDS.includes(kind))) throw new Error(`unknown kind ${String(kind)}`);
  if (!isStringRecord(selector) || !isStringRecord(target)) throw new Error('bad selector or target');
  const sel: AdminSelector = {};
  for (const k of ['key', 'client', 'share', 'netName', 'ip'] as const) {
    const x = selector[k];
    if (x !== undefined) {
      if (typeof x !== 'string') throw new Error(`bad selector.${k}`);
      sel[k] = x;
    }
  }
  if (selector['all'] === true) sel.all = true;
  const tgt: AdminTarget = {};
  if (typeof target['node'] === 'string') tgt.node = target['node'];
  if (typeof target['ip'] === 'string') tgt.ip = target['ip'];
  const out: WireRequest = { id, from, at, kind: kind as WireRequest['kind'], selector: sel, target: tgt };
  // Regular expressions from an older witnessctl: only their presence is kept, so the relay can
  // refuse them with an answer; their text is never compiled here.
  if (filters !== undefined) out.regexFilters = true;
  if (globs !== undefined) {
    if (!isStringRecord(globs)) throw new Error('bad globs');
    out.globs = {};
    for (const k of LIST_FILTER_FIELDS) {
      const x = globs[k];
      if (x === undefined) continue;
      if (typeof x !== 'string') throw new Error(`bad globs.${k}`);
      out.globs[k] = x;
    }
  }
  return out;
}

export function decodeWireResult(value: string): WireResult {
  const v = JSON.parse(value) as unknown;
  if (!isStringRecord(v) || typeof v['id'] !== 'string' || typeof v['node'] !== 'string' || typeof v['ok'] !== 'boolean' || !isStringRecord(v['result'])) {
    throw new Error('malformed result');
  }
  return { id: v['id'], node: v['node'], ok: v['ok'], result: v['result'] };
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
