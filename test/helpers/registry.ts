// The registry's asynchronous calls as tests like to write them: a promise per AsyncNotify, a
// change or a move queued in one line. witnessd itself uses waitNotify, queueChangeEntry and
// queueNotification, which cost no promise and share one entry between registrations.

import type { MessageTypeValue } from '../../service/swn/constants.ts';
import type { IpAddrInfo, ResourceChange } from '../../service/swn/messages.ts';
import { moveNotification } from '../../service/swn/notification.ts';
import type { NotifyResult, Registration, WitnessRegistry } from '../../service/swn/registry.ts';
import { WinError } from '../../service/swn/constants.ts';

/** WitnessrAsyncNotify for `handle` within `association`: the result now, or a promise of it. */
export function asyncNotify(reg: WitnessRegistry, handle: Buffer, association: number | null): Promise<NotifyResult> | NotifyResult {
  const r = reg.find(handle, association);
  if (!r) return { status: WinError.NOT_FOUND, notification: null };
  let resolve: ((x: NotifyResult) => void) | null = null;
  const later = new Promise<NotifyResult>((res) => {
    resolve = res;
  });
  return reg.waitNotify(r, (x) => resolve?.(x)) ?? later;
}

export function queueChange(reg: WitnessRegistry, r: Registration, change: ResourceChange, eventSeq: number | null = null, eventAt: number | null = null): void {
  reg.queueChangeEntry(r, { ...change, eventSeq, eventAt });
}

export function queueMove(reg: WitnessRegistry, r: Registration, type: MessageTypeValue, list: readonly IpAddrInfo[], summary: string, eventSeq: number | null = null, eventAt: number | null = null): void {
  reg.queueNotification(r, moveNotification(type, list, summary, eventSeq, eventAt));
}
