// The cross-node admin protocol's wire format (docs/cross-node-admin.md): witnessctl on one node
// asks another node's relay through transient node attributes, which Pacemaker replicates. Both
// ends read this module: witnessctl (service/ctl/, through remote.ts) and the relay (relay.ts).

import { isAdminKind, type AdminKind, type AdminSelector, type AdminTarget } from '../../store/admin-requests.ts';
import { LIST_FILTER_FIELDS, type ListFilterField } from '../../store/registrations.ts';

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
  if (typeof kind !== 'string' || (kind !== 'list' && !isAdminKind(kind))) throw new Error(`unknown kind ${String(kind)}`);
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
  const out: WireRequest = { id, from, at, kind, selector: sel, target: tgt };
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
