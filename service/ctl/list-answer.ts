// `witnessctl list --all-nodes`: taking one other node's answer to a `list` request.
//
// Patterns travel as `globs` (docs/cross-node-admin.md). A node that applied them says so with
// `patterns: 'glob'`. An older node ignores the field it does not know and answers with all its
// registrations (capped): its rows are filtered here, and a note says the node is older and that
// what it sent may not be all that matches.

import { LIST_PATTERNS } from '../../agent/admin/wire.ts';
import { matchesListFilters, type ListFilters, type RegistrationRow } from '../../store/registrations.ts';

export interface ListAnswer {
  node: string;
  state: 'done' | 'failed' | 'unreachable';
  result: Record<string, unknown>;
}

export interface TakenAnswer {
  rows: RegistrationRow[];
  /** For stderr (raw: the caller escapes them). */
  notes: string[];
  /** The node failed, refused or did not answer. */
  failed: boolean;
}

function isRow(v: unknown): v is RegistrationRow {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return ['key', 'node', 'clientName', 'netName', 'ipAddress'].every((k) => typeof r[k] === 'string') && (r['shareName'] === null || typeof r['shareName'] === 'string') && (r['identity'] === null || r['identity'] === undefined || typeof r['identity'] === 'string');
}

/** `filters` are the ones sent (none: `filtered` false, and any node's answer is taken as is). */
export function takeListAnswer(a: ListAnswer, filters: ListFilters, filtered: boolean): TakenAnswer {
  if (a.state !== 'done' || typeof a.result['error'] === 'string') {
    return { rows: [], notes: [`${a.node}: ${a.state === 'done' ? String(a.result['error']) : `${a.state}: ${JSON.stringify(a.result)}`}`], failed: true };
  }
  const sent = Array.isArray(a.result['rows']) ? (a.result['rows'] as unknown[]).filter(isRow) : [];
  const total = String(a.result['registrations']);
  const truncated = a.result['truncated'] === true;
  if (filtered && a.result['patterns'] !== LIST_PATTERNS) {
    const rows = sent.filter((r) => matchesListFilters(r, filters));
    const more = truncated ? ` (run witnessctl list on ${a.node} for all)` : '';
    return { rows, notes: [`${a.node} runs an older witness that does not take glob patterns: it sent ${sent.length} of its ${total} registrations unfiltered, ${rows.length} of them match here${more}`], failed: false };
  }
  const notes = truncated ? [`${a.node} holds ${total} matching registrations; ${sent.length} shown (run witnessctl list on ${a.node} for all)`] : [];
  return { rows: sent, notes, failed: false };
}
