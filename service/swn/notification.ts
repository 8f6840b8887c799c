// What one AsyncNotify answer carries (MS-SWN §2.2.2.4 RESP_ASYNC_NOTIFY), built and encoded once
// per event and shared by every registration it goes to: telling 10,000 clients of one failover
// encodes one message. The registry decides what to send when; this module is what it sends.

import { ChangeType, MessageType, type ChangeTypeValue, type MessageTypeValue } from './constants.ts';
import { encodeIpAddrInfoList, encodeResourceChanges, type IpAddrInfo, type ResourceChange } from './messages.ts';

export interface Notification {
  type: MessageTypeValue;
  /** RESP_ASYNC_NOTIFY.NumberOfMessages. */
  count: number;
  /** RESP_ASYNC_NOTIFY.MessageBuffer. */
  buffer: Buffer;
  /** What it says, for the audit trail and logs. */
  summary: string;
  /** Store event it came from, if any. */
  eventSeq: number | null;
  eventAt: number | null;
}

/** A resource change waiting for a registration's next AsyncNotify, with the event it came from. */
export interface QueuedChange extends ResourceChange {
  readonly eventSeq: number | null;
  readonly eventAt: number | null;
}

/** A move-type notification (CLIENT_MOVE, SHARE_MOVE, IP_CHANGE) with its IPADDR_INFO_LIST. */
export function moveNotification(type: MessageTypeValue, list: readonly IpAddrInfo[], summary: string, eventSeq: number | null = null, eventAt: number | null = null): Notification {
  return { type, count: 1, buffer: encodeIpAddrInfoList(list), summary, eventSeq, eventAt };
}

export function changeName(t: ChangeTypeValue): string {
  return t === ChangeType.AVAILABLE ? 'AVAILABLE' : t === ChangeType.UNAVAILABLE ? 'UNAVAILABLE' : 'UNKNOWN';
}

/** How a change that never reached its client is named in the audit trail (no message is encoded). */
export function undelivered(c: QueuedChange): Notification {
  return { type: MessageType.RESOURCE_CHANGE, count: 1, buffer: Buffer.alloc(0), summary: `${c.resourceName} ${changeName(c.changeType)}`, eventSeq: c.eventSeq, eventAt: c.eventAt };
}

/**
 * RESOURCE_CHANGE notifications, one object (one encoding) for every registration told of the
 * same changes of the same event; bounded to recent entries.
 */
export class SharedChanges {
  private readonly byKey = new Map<string, Notification>();
  private readonly byEntry = new WeakMap<QueuedChange, Notification>();

  /** The notification of one queued change (the common case: an entry shared by every registration). */
  one(c: QueuedChange): Notification {
    let n = this.byEntry.get(c);
    if (!n) {
      n = this.of([c]);
      this.byEntry.set(c, n);
    }
    return n;
  }

  /** The notification of several changes of different resources, in order. */
  of(batch: readonly QueuedChange[]): Notification {
    const first = batch[0];
    let key = `${first?.eventSeq ?? ''}|${first?.eventAt ?? ''}`;
    for (const c of batch) key += `|${c.changeType}:${c.resourceName}`;
    let n = this.byKey.get(key);
    if (!n) {
      n = {
        type: MessageType.RESOURCE_CHANGE,
        count: batch.length,
        buffer: encodeResourceChanges(batch),
        summary: batch.map((c) => `${c.resourceName} ${changeName(c.changeType)}`).join(', '),
        eventSeq: first?.eventSeq ?? null,
        eventAt: first?.eventAt ?? null,
      };
      if (this.byKey.size >= 1024) this.byKey.clear();
      this.byKey.set(key, n);
    }
    return n;
  }
}
