// This node's end of cross-node admin requests (docs/cross-node-admin.md). witnessctl on another
// node writes a request as this node's transient attribute `witness-admin-<id>`; the CIB brings
// it here with every other change. The relay
// - puts client-move / share-move / force-unregister into the local store's admin_requests, for
//   the local witnessd, and deletes the attribute;
// - answers `list` itself from the local store (no witnessd needed);
// - publishes each outcome as `witness-admin-result-<id>` on this node, for the asker to read
//   and delete (results nobody collected are deleted after RESULT_TTL_MS).

import type { Logger } from 'pino';
import type { Store } from '../../store/index.ts';
import { importAdminRequest, markPublished, unpublishedResults } from '../../store/admin-requests.ts';
import { decodeWireRequest, LIST_PATTERNS, REQUEST_ATTR_PREFIX, RESULT_ATTR_PREFIX, type WireRequest, type WireResult } from './wire.ts';
import { LIST_FILTER_FIELDS, listRegistrations, matchesListFilters, type ListFilters, type RegistrationRow } from '../../store/registrations.ts';
import { compileGlob } from '../../store/patterns.ts';
import type { Attrd } from './attrd.ts';

/** Requests older than this are dropped unread (an asker gave up long ago). */
export const REQUEST_TTL_MS = 10 * 60_000;
/** Results nobody collected are removed after this. */
export const RESULT_TTL_MS = 10 * 60_000;
/** A `list` answer travels in one attribute value: keep it small (the CIB is replicated). */
export const LIST_MAX_ROWS = 100;
export const LIST_MAX_BYTES = 24_000;

export interface RelayOptions {
  store: Store;
  /** This node's name in the cluster. */
  node: string;
  attrd: Attrd;
  logger: Logger;
  now?: () => number;
}

export class AdminRelay {
  private readonly opts: RelayOptions;
  private readonly now: () => number;
  /** Attributes already handled (or being deleted): kept while the CIB still shows them. */
  private handled = new Set<string>();
  private readonly publishing = new Set<number>();
  /** Background attrd work, so tests and shutdown can wait for it. */
  private inflight = new Set<Promise<unknown>>();

  constructor(opts: RelayOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch(() => undefined).finally(() => this.inflight.delete(q));
    this.inflight.add(q);
  }

  /** Waits for the attrd calls started so far. */
  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  /** Every CIB update: this node's transient attributes. */
  onAttributes(attrs: Readonly<Record<string, string>> | undefined): void {
    const present = new Set<string>();
    for (const [name, value] of Object.entries(attrs ?? {})) {
      if (!name.startsWith(REQUEST_ATTR_PREFIX)) continue;
      present.add(name);
      if (this.handled.has(name)) continue;
      this.handled.add(name);
      if (name.startsWith(RESULT_ATTR_PREFIX)) this.expireResult(name, value);
      else this.handleRequest(name, value);
    }
    // Forget what the CIB no longer shows, so the set stays as small as the attributes.
    for (const n of this.handled) if (!present.has(n)) this.handled.delete(n);
  }

  private expireResult(name: string, value: string): void {
    let at = 0;
    try {
      at = (JSON.parse(value) as { at?: number }).at ?? 0;
    } catch {
      // not ours to read: leave it alone
      return;
    }
    if (this.now() - at < RESULT_TTL_MS) {
      this.handled.delete(name); // look again on a later update
      return;
    }
    this.opts.logger.info({ attribute: name }, 'removing an admin result nobody collected');
    this.remove(name);
  }

  private remove(name: string): void {
    this.track(
      this.opts.attrd.remove(this.opts.node, name).catch((err: unknown) => {
        this.opts.logger.warn({ err, attribute: name }, 'could not delete a node attribute');
        this.handled.delete(name); // try again on the next update
      }),
    );
  }

  private handleRequest(name: string, value: string): void {
    const { logger, node, store } = this.opts;
    let req: WireRequest;
    try {
      req = decodeWireRequest(value);
      if (name !== `${REQUEST_ATTR_PREFIX}${req.id}`) throw new Error(`id ${req.id} does not match the attribute name`);
    } catch (err) {
      logger.warn({ attribute: name, error: (err as Error).message }, 'malformed admin request attribute; deleting it');
      this.remove(name);
      return;
    }
    if (this.now() - req.at > REQUEST_TTL_MS) {
      logger.warn({ request: req.id, from: req.from, ageMs: this.now() - req.at }, 'stale admin request dropped');
      this.remove(name);
      return;
    }
    if (req.kind === 'list') {
      this.publish({ id: req.id, node, ok: true, result: this.list(req) }, null);
    } else {
      const seq = importAdminRequest(store, node, req.id, req.from, req.kind, req.selector, req.target);
      logger.info({ request: req.id, from: req.from, kind: req.kind, selector: req.selector, target: req.target, seq }, seq !== null ? 'admin request from another node queued for witnessd' : 'admin request already queued');
      // A request already carried out but not yet published (a restart in between) goes out now.
      this.onStoreChange();
    }
    this.remove(name);
  }

  private list(req: WireRequest): Record<string, unknown> {
    // An older witnessctl sends regular expressions; one such as (a+)+$ against a client-chosen name
    // would hang this agent, so they are refused, never compiled.
    if (req.regexFilters === true) {
      this.opts.logger.warn({ request: req.id, from: req.from }, 'list request with regular-expression filters refused');
      return { error: `${this.opts.node} takes glob patterns, not regular expressions (the asking witnessctl on ${req.from} is older): upgrade it, or run witnessctl list on ${this.opts.node}`, patterns: LIST_PATTERNS };
    }
    const f: ListFilters = {};
    for (const k of LIST_FILTER_FIELDS) {
      const src = req.globs?.[k];
      if (src === undefined) continue;
      try {
        f[k] = compileGlob(src); // linear-time matcher, at most GLOB_MAX_LENGTH characters
      } catch (err) {
        return { error: `--${k}: ${(err as Error).message}`, patterns: LIST_PATTERNS };
      }
    }
    const rows = listRegistrations(this.opts.store, { node: this.opts.node }).filter((r) => matchesListFilters(r, f));
    const shown: RegistrationRow[] = [];
    let bytes = 0;
    for (const r of rows) {
      const size = JSON.stringify(r).length + 1;
      if (shown.length >= LIST_MAX_ROWS || bytes + size > LIST_MAX_BYTES) break;
      shown.push(r);
      bytes += size;
    }
    return { registrations: rows.length, rows: shown, truncated: shown.length < rows.length, patterns: LIST_PATTERNS };
  }

  /** The store changed: publish outcomes of relayed requests that witnessd finished. */
  onStoreChange(): void {
    for (const r of unpublishedResults(this.opts.store)) {
      if (r.ref === null || this.publishing.has(r.seq)) continue;
      this.publishing.add(r.seq);
      this.publish({ id: r.ref, node: this.opts.node, ok: r.state === 'done', result: r.result ?? {} }, r.seq);
    }
  }

  private publish(res: WireResult, seq: number | null): void {
    const { attrd, logger, node, store } = this.opts;
    const value = JSON.stringify({ ...res, at: this.now() });
    this.track(
      attrd.set(node, `${RESULT_ATTR_PREFIX}${res.id}`, value).then(
        () => {
          if (seq !== null) {
            markPublished(store, seq);
            this.publishing.delete(seq);
          }
          logger.info({ request: res.id, ok: res.ok }, 'admin request outcome published');
        },
        (err: unknown) => {
          if (seq !== null) this.publishing.delete(seq);
          logger.warn({ err, request: res.id }, 'could not publish an admin request outcome');
        },
      ),
    );
  }
}
