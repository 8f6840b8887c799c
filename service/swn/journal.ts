// Copies registration changes and notification audit rows into the store, batched: the hot
// path (10,000 clients answered in one event) only records a reference per registration and per
// notification; rows are built when written, in transactions of at most CHUNK rows with the event
// loop free between them, so a big batch never holds up replies or new calls for long. Memory
// stays authoritative.
//
// What clients cause to be written is bounded, so they can never take the disk the agent needs
// for cluster events:
// - in size: names are capped (MAX_NAME_CHARS); the tables are ring buffers (maxStoredRegistrations
//   rows of registrations, the oldest removed ones deleted first; maxAuditRows audit rows, the
//   oldest deleted first), checked before each write; and witnessd's connection cannot grow the
//   file past storeBudgetBytes of client tables (PRAGMA max_page_count, Store.limitClientGrowth):
//   a write that hits it deletes the oldest rows and is tried again at once;
// - near a full disk (less than minFreeDiskBytes free on the store's file system), witnessd does
//   not grow the file at all: its rows go into pages it already has (the ring makes them), so
//   checkpoints never need new space and the WAL keeps cycling in its own; the agent still has its
//   reserve (store/index.ts);
// - in rate: a registration's changes are coalesced until the next write (one row write per
//   registration per flush, however often it is used); audit rows come from cluster events;
// - in memory: a write that fails (disk full, store locked) keeps its rows pending and is retried
//   with back-off (100 ms doubling to 30 s), in smaller transactions; while it fails, at most
//   maxQueuedRows audit rows and removals wait, and what comes beyond is dropped, counted, logged,
//   and the counts kept in the store (service_state, shown by `witnessctl audit`) once it takes
//   writes again.

import type { Logger } from 'pino';
import { StoreError, type Store, type WriteBudget } from '../../store/index.ts';
import {
  countRows,
  pruneAudit,
  pruneOldest,
  writeRegistrationChanges,
  type JournalCounter,
  type NotificationOutcome,
  type NotificationRow,
  type RegistrationChanges,
  type RegistrationRow,
} from '../../store/registrations.ts';
import type { Registration, RegistryObserver, RemoveReason } from './registry.ts';
import type { Notification } from './notification.ts';

export interface JournalLimits {
  /** Bytes the client tables may take in the store (0: no byte budget). */
  storeBudgetBytes: number;
  /** Below this much free space on the store's file system, witnessd stops growing the file. */
  minFreeDiskBytes: number;
  /** Rows of `registrations` kept, live and removed (the oldest removed go first). */
  maxStoredRegistrations: number;
  /** Rows of `notifications` kept (the oldest go first). */
  maxAuditRows: number;
  /** Audit rows and removals waiting in memory while the store cannot take them. */
  maxQueuedRows: number;
}

export const DEFAULT_JOURNAL_LIMITS: JournalLimits = {
  storeBudgetBytes: 256 * 1024 * 1024,
  minFreeDiskBytes: 16 * 1024 * 1024,
  maxStoredRegistrations: 200_000,
  maxAuditRows: 500_000,
  maxQueuedRows: 100_000,
};

export interface JournalOptions {
  store: Store;
  node: string;
  logger: Logger;
  /** Milliseconds between flushes (default 20). */
  flushMs?: number;
  now?: () => number;
  limits?: Partial<JournalLimits>;
  /** Back-off after a failed write: first and longest wait in ms (default 100 and 30,000). */
  retryMs?: { min: number; max: number };
}

/** Rows per transaction: ~10 ms of SQLite work, then the event loop gets a turn. */
const CHUNK = 2000;

interface Attempt {
  r: Registration;
  n: Notification;
  outcome: NotificationOutcome;
  sentAt: number;
}

interface Removal {
  key: string;
  at: number;
  reason: string;
}

type Counts = Record<JournalCounter, number>;

const zero = (): Counts => ({ dropped_audit_rows: 0, dropped_registration_rows: 0, pruned_audit_rows: 0, pruned_registration_rows: 0, write_failures: 0 });

/** What the journal did since it started (status, tests). */
export interface JournalStats extends Counts {
  /** Rows waiting to be written. */
  pending: { upserts: number; removals: number; audit: number };
  /** Rows it believes the tables hold. */
  stored: { registrations: number; notifications: number };
  /** Since when writes fail (ms since the epoch), null while they succeed. */
  failingSince: number | null;
  budget: WriteBudget | null;
  diskLow: boolean;
}

export class RegistrationJournal implements RegistryObserver {
  /** Registrations whose row must be (re)written; the row is built from the live object at write time. */
  private readonly upserts = new Map<string, Registration>();
  private readonly removals = new Map<string, Removal>();
  private notes: Attempt[] = [];
  /** Registrations whose row is in the store (so a new upsert of them adds no row). */
  private readonly stored = new WeakSet<Registration>();
  private storedRows: { registrations: number; notifications: number };
  private timer: NodeJS.Timeout | null = null;
  private draining: NodeJS.Immediate | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay = 0;
  private failingSince: number | null = null;
  private lastFailure: string | null = null;
  /** Log rate limiting: when each kind of failure was last logged. */
  private readonly lastLog = new Map<string, number>();
  private lastDropLog = 0;
  /** Rounds of pruning for the budget since the last successful write. */
  private roomRounds = 0;
  /** Rows per transaction: CHUNK, halved after each write that failed for lack of space. */
  private chunk = CHUNK;
  /** The store's file system has less than minFreeDiskBytes free: the file does not grow. */
  private diskLow = false;
  /** Since start, and what is not in the store's counters yet. */
  private readonly totals = zero();
  private unsaved = zero();
  private budget: WriteBudget | null = null;
  private readonly opts: JournalOptions;
  private readonly limits: JournalLimits;
  private readonly now: () => number;
  private closed = false;

  constructor(opts: JournalOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.limits = Object.assign({}, DEFAULT_JOURNAL_LIMITS, opts.limits);
    this.storedRows = countRows(opts.store);
    this.checkDisk();
    if (this.budget) opts.logger.debug(Object.assign({}, this.budget, { diskLow: this.diskLow }), 'store budget for client tables set');
  }

  /**
   * Sets this connection's page cap: the budget, or no growth at all while the file system is
   * almost full (logged when that changes). Cheap (a statfs) unless the cap must be set again.
   */
  private checkDisk(force = false): void {
    if (this.limits.storeBudgetBytes <= 0) return;
    const free = this.opts.store.freeDiskBytes();
    const low = free < this.limits.minFreeDiskBytes;
    if (low === this.diskLow && this.budget && !force) return;
    if (low !== this.diskLow) {
      const obj = { freeDiskBytes: free, minFreeDiskBytes: this.limits.minFreeDiskBytes, store: this.opts.store.path };
      if (low) this.opts.logger.warn(obj, 'the file system holding the store is almost full: witnessd stops growing the store (its rows go into space it frees by pruning its oldest ones)');
      else this.opts.logger.info(obj, 'the file system holding the store has room again: witnessd\'s store budget applies');
    }
    this.diskLow = low;
    this.budget = this.opts.store.limitClientGrowth(this.limits.storeBudgetBytes, low);
  }

  private row(r: Registration): RegistrationRow {
    // Field by field, not `...registeredFor(r)`: a spread here made every row a slow, larger object
    // (10,000 rows per event at fan-out: witnessd's CPU per sealed event 310 → 430–480 ms).
    return {
      key: r.key,
      version: r.version,
      netName: r.netName,
      shareName: r.shareName,
      ipAddress: r.ipAddress,
      clientName: r.clientName,
      flags: r.flags,
      node: this.opts.node,
      pid: process.pid,
      keepAlive: r.keepAliveSec,
      association: r.client.association,
      remote: r.client.remote,
      local: r.client.local,
      identity: r.client.identity,
      createdAt: r.createdAt,
      lastUse: r.lastUse,
      pending: r.pending !== null,
      notificationsSent: r.notificationsSent,
      removedAt: null,
      removedReason: null,
    };
  }

  private noteRow(a: Attempt): NotificationRow {
    const { r, n } = a;
    return {
      registration: r.key,
      clientName: r.clientName,
      node: this.opts.node,
      type: n.type,
      summary: n.summary,
      eventSeq: n.eventSeq,
      eventAt: n.eventAt,
      sentAt: a.sentAt,
      latencyMs: n.eventAt !== null ? a.sentAt - n.eventAt : null,
      outcome: a.outcome,
    };
  }

  /** Audit rows and removals waiting (live registrations' upserts are bounded by the registration caps). */
  private get queued(): number {
    return this.notes.length + this.removals.size;
  }

  /**
   * The queue is full: the store has refused writes (rows wait) and maxQueuedRows wait already.
   * While writes succeed nothing is dropped: what a burst leaves is written within milliseconds.
   */
  private get full(): boolean {
    return this.failingSince !== null && this.queued >= this.limits.maxQueuedRows;
  }

  added(r: Registration): void {
    this.upserts.set(r.key, r);
    this.schedule();
  }

  updated(r: Registration): void {
    this.upserts.set(r.key, r);
    this.schedule();
  }

  removed(r: Registration, reason: RemoveReason): void {
    // A registration added and removed within one batch still gets its row (upsert, then removal).
    // With the queue full (the store has refused writes for long), one whose row was never written
    // is dropped whole; the removal of one in the store is always kept (as many as stored rows).
    if (this.full && !this.stored.has(r)) {
      this.upserts.delete(r.key);
      this.drop('dropped_registration_rows');
      return;
    }
    this.removals.set(r.key, { key: r.key, at: this.now(), reason });
    this.schedule();
  }

  delivered(r: Registration, n: Notification, outcome: NotificationOutcome): void {
    this.audit(r, n, outcome);
  }

  /** One audit row per notification attempt. */
  audit(r: Registration, n: Notification, outcome: NotificationOutcome): void {
    if (this.full) {
      this.drop('dropped_audit_rows');
      return;
    }
    this.notes.push({ r, n, outcome, sentAt: this.now() });
    this.schedule();
  }

  private drop(what: 'dropped_audit_rows' | 'dropped_registration_rows'): void {
    this.totals[what]++;
    this.unsaved[what]++;
    const now = this.now();
    if (now - this.lastDropLog >= 10_000) {
      this.lastDropLog = now;
      this.opts.logger.warn(
        { droppedAuditRows: this.totals.dropped_audit_rows, droppedRegistrationRows: this.totals.dropped_registration_rows, queued: this.queued, maxQueuedRows: this.limits.maxQueuedRows, failingSince: this.failingSince, error: this.lastFailure },
        'the store has not taken writes for a while and the queue is full: new audit rows (and registrations never written) are dropped and counted',
      );
    }
  }

  private schedule(): void {
    if (this.timer || this.retryTimer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.drain();
    }, this.opts.flushMs ?? 20);
  }

  private get empty(): boolean {
    return this.upserts.size === 0 && this.removals.size === 0 && this.notes.length === 0;
  }

  /** Writes one chunk, then yields to the event loop before the next; after a failure, the retry timer takes over. */
  private drain(): void {
    if (this.draining || this.retryTimer) return;
    if (!this.writeChunk(CHUNK)) return;
    if (!this.empty) {
      this.draining = setImmediate(() => {
        this.draining = null;
        this.drain();
      });
    }
  }

  /**
   * Writes up to `limit` pending rows in one transaction, in order: upserts, then removals (only
   * once no upsert is left, so a registration's row is always there before its removal), then
   * audit rows. True when it was written (or nothing was pending); on failure the rows stay
   * pending and a retry is scheduled.
   */
  private writeChunk(limit: number): boolean {
    if (this.empty && !this.hasUnsaved()) return true;
    if (!this.opts.store.isOpen) {
      // The store was closed under us (shutdown): nothing more can be written.
      this.closed = true;
      return false;
    }
    try {
      this.checkDisk();
    } catch {
      // dbstat failed (the store is in trouble): the write below says how
    }
    let room = Math.min(limit, this.chunk);
    const ups: Registration[] = [];
    for (const r of this.upserts.values()) {
      if (room === 0) break;
      ups.push(r);
      room--;
    }
    const rms: Removal[] = [];
    if (ups.length === this.upserts.size) {
      for (const x of this.removals.values()) {
        if (room === 0) break;
        rms.push(x);
        room--;
      }
    }
    const notes = this.notes.slice(0, room);
    // Row budgets, checked before writing: the oldest removed registrations and audit rows make
    // room, with some slack so that pruning happens once in a while, not at every write.
    const newRegs = ups.reduce((n, r) => n + (this.stored.has(r) ? 0 : 1), 0);
    const prune = {
      registrations: this.over(this.storedRows.registrations + newRegs, this.limits.maxStoredRegistrations),
      notifications: this.over(this.storedRows.notifications + notes.length, this.limits.maxAuditRows),
    };
    try {
      const changes: RegistrationChanges = { upserts: ups.map((r) => this.row(r)), removals: rms, notifications: notes.map((a) => this.noteRow(a)), counters: this.unsaved };
      if (prune.registrations + prune.notifications > 0) changes.prune = prune;
      if (this.lastFailure !== null && this.failingSince !== null) changes.lastFailure = this.lastFailure;
      const pruned = writeRegistrationChanges(this.opts.store, changes);
      this.unsaved = zero();
      // The prune ran in the same transaction, which counted it in the store too.
      this.totals.pruned_registration_rows += pruned.registrations;
      this.totals.pruned_audit_rows += pruned.notifications;
      for (const r of ups) {
        if (this.upserts.get(r.key) === r) this.upserts.delete(r.key);
        this.stored.add(r);
      }
      for (const x of rms) this.removals.delete(x.key);
      this.notes.splice(0, notes.length);
      this.storedRows.registrations += newRegs - pruned.registrations;
      this.storedRows.notifications += notes.length - pruned.notifications;
      if (this.failingSince !== null && this.now() - (this.lastLog.get('recovered') ?? 0) >= 30_000) {
        this.lastLog.set('recovered', this.now());
        this.opts.logger.info({ failedForMs: this.now() - this.failingSince, failures: this.totals.write_failures, droppedAuditRows: this.totals.dropped_audit_rows, droppedRegistrationRows: this.totals.dropped_registration_rows, pending: this.queued },
          'the store takes writes again: queued registrations and audit rows are being written');
      }
      this.failingSince = null;
      this.retryDelay = 0;
      this.roomRounds = 0;
      this.chunk = Math.min(CHUNK, this.chunk * 2);
      return true;
    } catch (err) {
      // Pages the chunk needs, generously (row, index entries, a page split now and then): how
      // much room to make.
      let bytes = 0;
      for (const r of ups) bytes += 200 + 3 * (r.key.length + r.netName.length + (r.shareName?.length ?? 0) + r.ipAddress.length + r.clientName.length + (r.client.identity?.length ?? 0) + r.client.remote.length + r.client.local.length);
      for (const a of notes) bytes += 150 + 3 * (a.r.key.length + a.r.clientName.length + a.n.summary.length);
      bytes += rms.length * 60;
      this.failed(err, Math.ceil(bytes / (this.budget?.pageSize ?? 4096)) + 2, ups.length + rms.length + notes.length);
      return false;
    }
  }

  /** Rows to prune so that `rows` fit in `max`: none below it, else the excess plus 1/20 of the budget. */
  private over(rows: number, max: number): number {
    return rows > max ? rows - max + Math.ceil(max / 20) : 0;
  }

  private count(k: JournalCounter, n: number): void {
    if (n === 0) return;
    this.totals[k] += n;
    this.unsaved[k] += n;
  }

  private hasUnsaved(): boolean {
    return Object.values(this.unsaved).some((n) => n !== 0);
  }

  /**
   * A write failed; its rows stay pending. Out of space (SQLITE_FULL) for want of pages, whether
   * for the budget or because the disk is almost full and the file may not grow, the oldest removed
   * registrations and audit rows go and the write is tried again at once. Out of space with pages
   * to spare, it is the file system itself (the WAL could not grow): nothing is deleted (that would
   * not give the disk back), a checkpoint lets the WAL start over in the space it already takes,
   * the next attempts are smaller, and it waits. Anything else (the store locked, an I/O error):
   * it waits. Waits double from retryMs.min to retryMs.max.
   */
  private failed(err: unknown, needPages: number, rows: number): void {
    const now = this.now();
    let cause = err instanceof StoreError ? err.code : 'error';
    let again = false;
    if (cause === 'full') {
      cause = 'disk';
      try {
        if (this.roomRounds < 5 && this.makeRoom(needPages)) {
          again = true;
          cause = 'budget';
          this.roomRounds++;
        } else {
          this.chunk = Math.max(1, Math.min(this.chunk, Math.floor(rows / 2)));
          this.opts.store.checkpoint();
        }
      } catch {
        // no room for that either
      }
    }
    if (!again) {
      this.count('write_failures', 1);
      this.lastFailure = `${new Date(now).toISOString()}: ${err instanceof Error ? err.message : String(err)}`;
      this.failingSince ??= now;
    }
    const last = this.lastLog.get(cause) ?? 0;
    if (now - last >= 30_000) {
      this.lastLog.set(cause, now);
      const pending = { upserts: this.upserts.size, removals: this.removals.size, audit: this.notes.length };
      if (again) {
        this.opts.logger.warn({ budget: this.budget, diskLow: this.diskLow, pruned: { registrations: this.totals.pruned_registration_rows, audit: this.totals.pruned_audit_rows }, pending },
          this.diskLow ? 'the disk is almost full: the oldest audit rows and removed registrations make room for new ones' : 'client tables reached their store budget (limits.storeBudgetMB): the oldest audit rows and removed registrations make room');
      } else {
        this.opts.logger.error({ err, cause, pending, maxQueuedRows: this.limits.maxQueuedRows, failures: this.totals.write_failures, freeDiskBytes: this.opts.store.freeDiskBytes() },
          'could not record registrations in the store; the rows are kept in memory and written when it takes writes again');
      }
    }
    const { min, max } = this.opts.retryMs ?? { min: 100, max: 30_000 };
    this.retryDelay = again ? 0 : Math.min(max, this.retryDelay === 0 ? min : this.retryDelay * 2);
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!again) this.roomRounds = 0;
      this.drain();
    }, this.retryDelay);
    // Retrying never keeps a process alive by itself (witnessd's servers do).
    this.retryTimer.unref();
  }

  /**
   * SQLITE_FULL: sets the cap again (the agent may have grown the file since, and the cap follows
   * it; the disk may be almost full, and the file must not grow), and when the pages the write
   * needs are not there, deletes the client tables' oldest rows (removed registrations and audit
   * rows; live registrations never): a twentieth, or what the pages needed hold if more. True when
   * the write may now succeed.
   */
  private makeRoom(needPages: number): boolean {
    if (this.limits.storeBudgetBytes <= 0) return false;
    const before = this.budget?.maxPages ?? 0;
    this.checkDisk(true);
    const b = this.budget;
    if (!b) return false;
    if (!this.diskLow && b.maxPages > before) return true;
    // Free pages enough: what failed was the file system (the WAL), not the page cap.
    if (b.freePages >= needPages) return false;
    if (!this.diskLow && b.clientPages + needPages < b.budgetPages) return false;
    const share = Math.min(1, Math.max(0.05, (1.5 * needPages) / Math.max(1, b.clientPages)));
    const pruned = pruneOldest(this.opts.store, {
      registrations: Math.ceil(this.storedRows.registrations * share),
      notifications: Math.ceil(this.storedRows.notifications * share),
    });
    this.totals.pruned_registration_rows += pruned.registrations;
    this.totals.pruned_audit_rows += pruned.notifications;
    this.storedRows.registrations -= pruned.registrations;
    this.storedRows.notifications -= pruned.notifications;
    return pruned.registrations + pruned.notifications > 0;
  }

  /** Retention (hourly): audit rows and removed registrations older than `beforeMs` go. */
  pruneRetention(beforeMs: number): { notifications: number; registrations: number } {
    this.flush();
    const n = pruneAudit(this.opts.store, beforeMs);
    this.storedRows = countRows(this.opts.store);
    return n;
  }

  stats(): JournalStats {
    return Object.assign({}, this.totals, {
      pending: { upserts: this.upserts.size, removals: this.removals.size, audit: this.notes.length },
      stored: { ...this.storedRows },
      failingSince: this.failingSince,
      budget: this.budget,
      diskLow: this.diskLow,
    });
  }

  /**
   * Writes everything pending, now (shutdown, tests); true when nothing is left. When the store
   * refuses, what is left stays pending (and is retried, unless the journal is closed).
   */
  flush(): boolean {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.draining) {
      clearImmediate(this.draining);
      this.draining = null;
    }
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    while (!this.empty || this.hasUnsaved()) {
      if (this.writeChunk(Number.MAX_SAFE_INTEGER)) continue;
      // Room was made for the budget: try again now; otherwise the retry timer stays set.
      if (this.retryDelay !== 0 || !this.retryTimer) break;
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    return this.empty;
  }

  /** Last flush, then no more timers (daemon shutdown). Rows the store still refuses are logged as lost. */
  close(): void {
    const done = this.flush();
    this.closed = true;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (!done) {
      this.opts.logger.error({ pending: { upserts: this.upserts.size, removals: this.removals.size, audit: this.notes.length }, error: this.lastFailure }, 'shutting down with rows the store would not take: they are lost');
    }
  }
}
