// Copies registration changes and notification audit rows into the store, batched: the hot
// path (10,000 clients answered in one event) only records a reference per registration and per
// notification; rows are built when written, in transactions of at most CHUNK rows with the event
// loop free between them, so a big batch never holds up replies or new calls for long. Memory
// stays authoritative; a failed write is logged, not fatal.

import type { Logger } from 'pino';
import type { Store } from '../../store/index.ts';
import { writeRegistrationChanges, type NotificationOutcome, type NotificationRow, type RegistrationRow } from '../../store/registrations.ts';
import type { Notification, Registration, RegistryObserver, RemoveReason } from './registry.ts';

export interface JournalOptions {
  store: Store;
  node: string;
  logger: Logger;
  /** Milliseconds between flushes (default 20). */
  flushMs?: number;
  now?: () => number;
}

/** Rows per transaction: ~10 ms of SQLite work, then the event loop gets a turn. */
const CHUNK = 2000;

interface Attempt {
  r: Registration;
  n: Notification;
  outcome: NotificationOutcome;
  sentAt: number;
}

interface Batch {
  upserts: Registration[];
  removals: { key: string; at: number; reason: string }[];
  notes: Attempt[];
}

export class RegistrationJournal implements RegistryObserver {
  /** Registrations whose row must be (re)written; the row is built from the live object at write time. */
  private readonly upserts = new Map<string, Registration>();
  private removals: Batch['removals'] = [];
  private notes: Attempt[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Batches cut but not yet fully written, oldest first. */
  private readonly queue: Batch[] = [];
  private draining: NodeJS.Immediate | null = null;
  private readonly opts: JournalOptions;
  private readonly now: () => number;

  constructor(opts: JournalOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  private row(r: Registration): RegistrationRow {
    return {
      key: r.key,
      node: this.opts.node,
      pid: process.pid,
      version: r.version,
      netName: r.netName,
      shareName: r.shareName,
      ipAddress: r.ipAddress,
      clientName: r.clientName,
      flags: r.flags,
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
    this.removals.push({ key: r.key, at: this.now(), reason });
    this.schedule();
  }

  delivered(r: Registration, n: Notification, outcome: NotificationOutcome): void {
    this.audit(r, n, outcome);
  }

  /** One audit row per notification attempt. */
  audit(r: Registration, n: Notification, outcome: NotificationOutcome): void {
    this.notes.push({ r, n, outcome, sentAt: this.now() });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.cut();
      this.drain();
    }, this.opts.flushMs ?? 20);
  }

  /** Moves what was recorded so far into the write queue. */
  private cut(): void {
    if (this.upserts.size === 0 && this.removals.length === 0 && this.notes.length === 0) return;
    this.queue.push({ upserts: [...this.upserts.values()], removals: this.removals, notes: this.notes });
    this.upserts.clear();
    this.removals = [];
    this.notes = [];
  }

  /** Writes one chunk, then yields to the event loop before the next. */
  private drain(): void {
    if (this.draining) return;
    this.writeChunk(CHUNK);
    if (this.queue.length > 0) {
      this.draining = setImmediate(() => {
        this.draining = null;
        this.drain();
      });
    }
  }

  /** Writes up to `limit` rows of the oldest batch, in its order: upserts, removals, audit rows. */
  private writeChunk(limit: number): void {
    const b = this.queue[0];
    if (!b) return;
    let room = limit;
    const upserts = b.upserts.splice(0, room);
    room -= upserts.length;
    const removals = b.removals.splice(0, room);
    room -= removals.length;
    const notes = b.notes.splice(0, room);
    if (b.upserts.length === 0 && b.removals.length === 0 && b.notes.length === 0) this.queue.shift();
    try {
      writeRegistrationChanges(this.opts.store, { upserts: upserts.map((r) => this.row(r)), removals, notifications: notes.map((a) => this.noteRow(a)) });
    } catch (err) {
      this.opts.logger.error({ err, upserts: upserts.length, removals: removals.length, notifications: notes.length }, 'could not record registrations in the store; memory stays authoritative');
    }
  }

  /** Writes everything recorded so far, now (shutdown, tests). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.draining) {
      clearImmediate(this.draining);
      this.draining = null;
    }
    this.cut();
    while (this.queue.length > 0) this.writeChunk(Number.MAX_SAFE_INTEGER);
  }
}
