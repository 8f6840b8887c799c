// Copies registration changes and notification audit rows into the store, batched: the hot
// path (10,000 clients answered in one event) only touches memory, and one transaction per
// batch writes what changed. Memory stays authoritative; a failed write is logged, not fatal.

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

export class RegistrationJournal implements RegistryObserver {
  private readonly upserts = new Map<string, RegistrationRow>();
  private removals: { key: string; at: number; reason: string }[] = [];
  private notes: NotificationRow[] = [];
  private timer: NodeJS.Timeout | null = null;
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

  added(r: Registration): void {
    this.upserts.set(r.key, this.row(r));
    this.schedule();
  }

  updated(r: Registration): void {
    this.upserts.set(r.key, this.row(r));
    this.schedule();
  }

  removed(r: Registration, reason: RemoveReason): void {
    // Keep a pending upsert: a registration added and removed within one batch still leaves its row.
    if (this.upserts.has(r.key)) this.upserts.set(r.key, this.row(r));
    this.removals.push({ key: r.key, at: this.now(), reason });
    this.schedule();
  }

  delivered(r: Registration, n: Notification, outcome: NotificationOutcome): void {
    this.audit(r, n, outcome);
  }

  /** One audit row per notification attempt. */
  audit(r: Registration, n: Notification, outcome: NotificationOutcome): void {
    const sentAt = this.now();
    this.notes.push({
      registration: r.key,
      clientName: r.clientName,
      node: this.opts.node,
      type: n.type,
      summary: n.summary,
      eventSeq: n.eventSeq,
      eventAt: n.eventAt,
      sentAt,
      latencyMs: n.eventAt !== null ? sentAt - n.eventAt : null,
      outcome,
    });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.opts.flushMs ?? 20);
  }

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.upserts.size === 0 && this.removals.length === 0 && this.notes.length === 0) return;
    const batch = { upserts: [...this.upserts.values()], removals: this.removals, notifications: this.notes };
    this.upserts.clear();
    this.removals = [];
    this.notes = [];
    try {
      writeRegistrationChanges(this.opts.store, batch);
    } catch (err) {
      this.opts.logger.error({ err, upserts: batch.upserts.length, removals: batch.removals.length, notifications: batch.notifications.length }, 'could not record registrations in the store; memory stays authoritative');
    }
  }
}
