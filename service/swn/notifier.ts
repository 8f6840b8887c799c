// Cluster events (from the store, in order) → witness notifications for the registrations they
// concern. Woken by the store watch, never polling busily; the cursor (the last event applied)
// is kept in memory: a restarted witnessd has no registrations the older events could concern.
//
// What each event means for a client (MS-SWN §3.1.6, and what Windows and Samba clients do with it):
// - ip_offline / ip_online: RESOURCE_CHANGE UNAVAILABLE / AVAILABLE to registrations on that IP;
//   a node's own address (payload.nodeAddress, agent/diff.ts) goes the same way when its node
//   leaves (offline, standby, its witness stopped) and comes back; an IP that moved goes through
//   UNAVAILABLE first, then AVAILABLE (what Windows clients need to drop their connection and
//   reconnect). The resource name is the registered NetName upper-cased,
//   as Windows servers send it (Samba sends the IP address).
// - the same IP events become IP_CHANGE (ONLINE/OFFLINE) for RegisterEx clients that asked for
//   IP notifications (WITNESS_REGISTER_IP_NOTIFICATION).
// - share_moved: SHARE_MOVE with the share's new IPs to registrations for that share.
// - ip_move_planned (the agent asked the scheduler, agent/planned.ts): CLIENT_MOVE to the
//   registrations on that IP, listing the IPs already up on the destination node, then that node's
//   own addresses, before the IP goes down. With no floating IP up there yet there is nothing to
//   move to, node addresses or not: in docs/deploy-samba.md's recipe smbd starts on the destination
//   with the moving group, so its own addresses answer no SMB until the IP itself is there, and a
//   client moved to them would be tied to that node rather than following the share. Those clients
//   hear UNAVAILABLE / AVAILABLE when the IP itself moves.

import type { Logger } from 'pino';
import type { Store } from '../../store/index.ts';
import type { ClusterEvent, ClusterView } from '../../store/types.ts';
import { ChangeType, MessageType, RegisterFlags } from './constants.ts';
import { nodeDestination } from './destination.ts';
import { type Registration, type WitnessRegistry } from './registry.ts';
import { moveNotification, type Notification, type QueuedChange } from './notification.ts';
import { eventsAfter, lastSeq } from '../../store/events.ts';

export interface NotifierOptions {
  store: Store;
  registry: WitnessRegistry;
  logger: Logger;
  /** The current cluster view (a planned move's destination IPs). */
  getView: () => ClusterView | null;
}

export class Notifier {
  private cursor: number;
  private readonly opts: NotifierOptions;

  constructor(opts: NotifierOptions) {
    this.opts = opts;
    // Events recorded before we started concern registrations that no longer exist (clients
    // re-register after a restart): start at the newest event, never replay older ones.
    // The cursor lives in memory only: after a restart it starts at the newest event again.
    this.cursor = lastSeq(opts.store);
  }

  /** Applies every event after the cursor; call when the store changed. */
  pump(): number {
    let applied = 0;
    let told = 0;
    let first: ClusterEvent | null = null;
    const t0 = Date.now();
    for (;;) {
      const batch = eventsAfter(this.opts.store, this.cursor, 1000);
      if (batch.length === 0) break;
      for (const e of batch) {
        first ??= e;
        told += this.apply(e);
        this.cursor = e.seq;
        applied++;
      }
    }
    if (first && told > 0) {
      const firstAt = first.at;
      const queued = Date.now();
      // Replies to waiting calls are written in one go right after this (the RPC server's
      // outbox, a microtask queued before this one): time them too.
      queueMicrotask(() => {
        this.opts.logger.info({ events: applied, notifications: told, lagMs: t0 - firstAt, queueMs: queued - t0, writtenMs: Date.now() - firstAt }, 'events told');
      });
    }
    return applied;
  }

  private byIp(address: string): Registration[] {
    const out: Registration[] = [];
    for (const r of this.opts.registry.registrations()) if (r.ipAddress === address) out.push(r);
    return out;
  }

  /** Queues what the event means for each registration; returns how many were told. */
  private apply(e: ClusterEvent): number {
    const reg = this.opts.registry;
    switch (e.kind) {
      case 'ip_offline':
      case 'ip_online':
      case 'ip_moved': {
        const changes = e.kind === 'ip_offline' ? [ChangeType.UNAVAILABLE] : e.kind === 'ip_online' ? [ChangeType.AVAILABLE] : [ChangeType.UNAVAILABLE, ChangeType.AVAILABLE];
        const targets = this.byIp(e.subject);
        // One queued entry per NetName and change, shared by every registration it goes to.
        const entries = new Map<string, QueuedChange[]>();
        for (const r of targets) {
          let es = entries.get(r.netName);
          if (!es) {
            const resourceName = r.netName.toUpperCase();
            es = changes.map((changeType) => ({ resourceName, changeType, eventSeq: e.seq, eventAt: e.at }));
            entries.set(r.netName, es);
          }
          for (const c of es) reg.queueChangeEntry(r, c);
        }
        // IP_CHANGE for clients that asked to hear about the IPs of their NetName.
        const online = e.kind !== 'ip_offline';
        let ipChange: Notification | null = null;
        let ipTold = 0;
        for (const r of reg.registrations()) {
          if ((r.flags & RegisterFlags.IP_NOTIFICATION) === 0) continue;
          ipChange ??= moveNotification(MessageType.IP_CHANGE, [{ address: e.subject, online }], `${e.subject} ${online ? 'ONLINE' : 'OFFLINE'}`, e.seq, e.at);
          reg.queueNotification(r, ipChange);
          ipTold++;
        }
        if (targets.length > 0) this.opts.logger.info({ event: e.seq, kind: e.kind, ip: e.subject, from: e.from, to: e.to, registrations: targets.length }, 'resource change queued');
        return targets.length + ipTold;
      }
      case 'share_moved': {
        if (e.to === null) return 0; // a share going nowhere is told through its IPs going offline
        const ips = Array.isArray(e.payload['ips']) ? (e.payload['ips'] as unknown[]).filter((x): x is string => typeof x === 'string') : [];
        if (ips.length === 0) return 0;
        let n = 0;
        const move = moveNotification(MessageType.SHARE_MOVE, ips.map((address) => ({ address, online: true })), `share ${e.subject} to ${e.to}: ${ips.join(', ')}`, e.seq, e.at);
        for (const r of reg.registrations()) {
          if (r.shareName === null || r.shareName.toLowerCase() !== e.subject.toLowerCase()) continue;
          reg.queueNotification(r, move);
          n++;
        }
        if (n > 0) this.opts.logger.info({ event: e.seq, share: e.subject, to: e.to, ips, registrations: n }, 'share move queued');
        return n;
      }
      case 'ip_move_planned': {
        if (e.to === null) return 0;
        const to = e.to;
        const targets = this.byIp(e.subject);
        if (targets.length === 0) return 0;
        const d = nodeDestination(this.opts.getView(), to, e.subject);
        // The node's own addresses reach the same smbd as its floating IPs (it binds them all), so
        // they are offered after them; alone they would lead nowhere yet (see above).
        const ips = d.floating.length > 0 ? [...d.floating, ...d.nodeAddresses] : [];
        if (ips.length === 0) {
          this.opts.logger.info({ event: e.seq, ip: e.subject, to, registrations: targets.length, nodeAddresses: d.nodeAddresses }, 'planned move: no floating IP is up on the destination yet; clients will be told when the IP moves');
          return 0;
        }
        const move = moveNotification(MessageType.CLIENT_MOVE, ips.map((address) => ({ address, online: true })), `planned move of ${e.subject} to ${to}: ${ips.join(', ')}`, e.seq, e.at);
        for (const r of targets) reg.queueNotification(r, move);
        this.opts.logger.info({ event: e.seq, ip: e.subject, from: e.from, to, ips, registrations: targets.length }, 'planned move: CLIENT_MOVE queued');
        return targets.length;
      }
      default:
        return 0;
    }
  }
}
