// Witness registrations and the MS-SWN method semantics (§3.1.4): their lifecycle, caps and
// timers (keep-alive, the unused-registration reaper, the re-registration workaround), the queue of
// what each client is still to be told, and GetInterfaceList's wait for an available interface.
// Independent of the wire: handles are made in handles.ts, messages encoded in notification.ts,
// stubs decoded and encoded by methods.ts and codec.ts.
//
// The in-memory state here is authoritative; the store only gets a copy for listing and audit
// (through the RegistryObserver). A registration belongs to the DCE/RPC association that created
// it: its context handle is only valid there, and it is run down when the association ends.

import { canonicalAddress } from '../../store/address.ts';
import type { RegisteredFor } from '../../store/registrations.ts';
import type { ClusterView } from '../../store/types.ts';
import {
  ChangeType,
  DEFAULT_REGISTRATION_LIMITS,
  InterfaceState,
  MAX_NAME_CHARS,
  MessageType,
  RegisterFlags,
  WinError,
  WitnessVersion,
  type RegistrationLimits,
  type WinErrorValue,
} from './constants.ts';
import { DeadlineQueue, type DeadlineEntry } from './deadlines.ts';
import { buildInterfaceList, type WitnessInterface } from './interface-list.ts';
import { handleKey, newHandle, NULL_HANDLE } from './handles.ts';
import { SharedChanges, undelivered, type Notification, type QueuedChange } from './notification.ts';

export interface NotifyResult {
  status: WinErrorValue;
  notification: Notification | null;
}

export interface ClientInfo {
  /** Association group id. */
  association: number;
  /** The connection the registration was made on (counted for maxRegistrationsPerConnection). */
  connection?: number;
  remote: string;
  local: string;
  identity: string | null;
}

export interface Registration extends RegisteredFor {
  handle: Buffer;
  /** Seconds; 0 for V1 registrations, which never time out. */
  keepAliveSec: number;
  client: ClientInfo;
  createdAt: number;
  lastUse: number;
  notificationsSent: number;
  pending: PendingNotify | null;
  /** PendingChangeNotifications (§3.1.1.3): resource changes not yet delivered, in order. */
  changes: QueuedChange[];
  /** The most recent move-type notification not yet delivered (a move keeps only the latest). */
  move: Notification | null;
  reaper: DeadlineEntry | null;
  /** The keep-alive deadline of the pending call (V2), if armed. */
  keepAlive: DeadlineEntry | null;
  /** The workaround's scheduled removal, if any. */
  retire: DeadlineEntry | null;
}

interface PendingNotify {
  resolve: (r: NotifyResult) => void;
  since: number;
}

export type RemoveReason = 'unregister' | 'rundown' | 'unused' | 'admin' | 'shutdown' | 'workaround';

/** Hooks for persistence and audit; the registry never waits on them. */
export interface RegistryObserver {
  added?(r: Registration): void;
  removed?(r: Registration, reason: RemoveReason): void;
  updated?(r: Registration): void;
  /**
   * A notification attempt: handed to a waiting call; dropped because the client went away first
   * (its association ended, it unregistered, an admin or the workaround removed it); or dropped
   * because the client stopped asking (no AsyncNotify for the unused-registration timeout).
   */
  delivered?(r: Registration, n: Notification, outcome: 'delivered' | 'client_gone' | 'timed_out'): void;
}

export interface RegistryOptions {
  /** Cluster names clients may register for (ServerGlobalName); compared case-insensitively. */
  netNames: readonly string[];
  /** Name of the node this witnessd runs on. */
  localNode: string;
  getView: () => ClusterView | null;
  /** Unused-registration timeout (MS-SWN <7>: 30 s on Windows Server 2012 R2 and later). */
  unusedTimeoutMs?: number;
  /**
   * Windows client workaround (as Samba does): some seconds after a registration was told its
   * resource is not available, or to move, remove it, so the client's next AsyncNotify gets
   * ERROR_NOT_FOUND and it re-registers from GetInterfaceList. 0 turns it off.
   */
  forceUnregisterAfterMs?: number;
  now?: () => number;
  observer?: RegistryObserver;
  /** Caps on live registrations (DEFAULT_REGISTRATION_LIMITS for what is not given; 0 = no cap). */
  limits?: Partial<RegistrationLimits>;
}

export interface RegisterRequest {
  version: number;
  netName: string | null;
  shareName?: string | null;
  ipAddress: string | null;
  clientName: string | null;
  flags?: number;
  keepAliveSec?: number;
}

/** A registration cap that was reached, and its value. */
export interface LimitHit {
  cap: keyof RegistrationLimits;
  max: number;
}

export interface RegisterResult {
  status: WinErrorValue;
  handle: Buffer;
  registration: Registration | null;
  /** Refused with ERROR_NO_SYSTEM_RESOURCES: the cap that was reached. */
  limit?: LimitHit;
  /** Refused with ERROR_INVALID_PARAMETER: the string that was longer than MAX_NAME_CHARS allows. */
  tooLong?: keyof typeof MAX_NAME_CHARS;
  /** Refused with ERROR_INVALID_STATE: ShareName is not in the share catalogue. */
  unknownShare?: true;
}

/** What a waiting GetInterfaceList needs of its RPC call: whether it was cancelled, and a hook for when it is. */
export interface CancelHook {
  readonly cancelled: boolean;
  onCancel(fn: (() => void) | null): void;
}

export class WitnessRegistry {
  private readonly byKey = new Map<string, Registration>();
  private readonly opts: RegistryOptions;
  private readonly now: () => number;
  private readonly deadlines: DeadlineQueue;
  private readonly unusedMs: number;
  private ifWaiters: (() => void)[] = [];
  private readonly shared = new SharedChanges();
  private readonly limits: RegistrationLimits;
  /** Live registrations per connection, association and (lower-cased) client name, for the caps. */
  private readonly perConnection = new Map<number, number>();
  private readonly perAssociation = new Map<number, number>();
  private readonly perClientName = new Map<string, number>();

  constructor(opts: RegistryOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.deadlines = new DeadlineQueue(this.now);
    this.unusedMs = opts.unusedTimeoutMs ?? 30_000;
    this.limits = Object.assign({}, DEFAULT_REGISTRATION_LIMITS, opts.limits);
  }

  get size(): number {
    return this.byKey.size;
  }

  registrations(): IterableIterator<Registration> {
    return this.byKey.values();
  }

  get localNode(): string {
    return this.opts.localNode;
  }

  /** The interface list as this node answers it. */
  interfaces(): WitnessInterface[] {
    return buildInterfaceList(this.opts.getView(), this.opts.localNode);
  }

  /**
   * GetInterfaceList (§3.1.4.1): ERROR_NO_MORE_ITEMS when empty; while no entry is AVAILABLE the
   * call waits (Samba returns at once; we follow the spec). `call` ends the wait when cancelled (cancel,
   * connection loss); the caller then answers nothing or a fault.
   */
  async getInterfaceList(call?: CancelHook): Promise<{ status: WinErrorValue; list: WitnessInterface[] }> {
    for (;;) {
      const list = this.interfaces();
      if (list.length === 0) return { status: WinError.NO_MORE_ITEMS, list };
      if (list.some((i) => i.state === InterfaceState.AVAILABLE)) return { status: WinError.SUCCESS, list };
      if (call?.cancelled === true) return { status: WinError.NOT_FOUND, list: [] };
      await new Promise<void>((resolve) => {
        const done = (): void => {
          call?.onCancel(null);
          resolve();
        };
        this.ifWaiters.push(done);
        call?.onCancel(done);
      });
    }
  }

  /** Call after the store's view changed: wakes GetInterfaceList waiters (§3.1.6.1). */
  viewChanged(): void {
    const w = this.ifWaiters;
    this.ifWaiters = [];
    for (const f of w) f();
  }

  private netNameOk(name: string): boolean {
    const n = name.toLowerCase();
    return this.opts.netNames.some((m) => {
      const c = m.toLowerCase();
      // Windows sends the short cluster name; FQDN clients send name.domain: accept both forms.
      return n === c || n.split('.')[0] === c || c.split('.')[0] === n;
    });
  }

  /** WitnessrRegister (§3.1.4.2) and WitnessrRegisterEx (§3.1.4.5), checks in the spec's order. */
  register(req: RegisterRequest, client: ClientInfo, ex: boolean): RegisterResult {
    const fail = (status: WinErrorValue): RegisterResult => ({ status, handle: NULL_HANDLE, registration: null });
    // 1. Version first: V1 for Register, V2 for RegisterEx.
    if (req.version !== (ex ? WitnessVersion.V2 : WitnessVersion.V1)) return fail(WinError.REVISION_MISMATCH);
    // 2. NULL or empty strings; ShareName may be NULL in RegisterEx.
    const { netName, ipAddress, clientName } = req;
    if (netName === null || ipAddress === null || clientName === null) return fail(WinError.INVALID_PARAMETER);
    if (netName === '' || ipAddress === '' || clientName === '') return fail(WinError.INVALID_PARAMETER);
    // 2b. Longer than any name a client sends (MAX_NAME_CHARS says why): refused before anything
    //     is kept or logged in full.
    const tooLong = overlong({ netName, ipAddress, clientName, shareName: ex ? (req.shareName ?? null) : null });
    if (tooLong !== null) return Object.assign(fail(WinError.INVALID_PARAMETER), { tooLong });
    // 3. NetName must be one of ours.
    if (!this.netNameOk(netName)) return fail(WinError.INVALID_PARAMETER);
    // 4. The IP must be one of the interfaces (we are a scale-out style cluster: every share is
    //    reached through the floating IPs), else ERROR_INVALID_STATE.
    const ip = canonicalAddress(ipAddress); // the text the agent stored (store/address.ts), or null
    if (ip === null || !this.interfaces().some((i) => i.address === ip)) return fail(WinError.INVALID_STATE);
    // 5. Share: must be a share we know when a share catalogue is known (the share map, or the
    //    SMB server's shares learnt by the agent, agent/samba-shares.ts): ERROR_INVALID_STATE
    //    (MS-SWN §3.1.4.5: "ShareName ... not found"). With none at all there is no clustered share
    //    to check against, and §3.1.4.5 says to ignore ShareName. A catalogue with [homes] cannot
    //    list every share: Samba serves one named after each user from it.
    let shareName = ex ? (req.shareName ?? null) : null;
    if (shareName === '') shareName = null;
    if (shareName !== null) {
      const shares = this.opts.getView()?.shares ?? [];
      const known = (n: string): boolean => shares.some((s) => s.name.toLowerCase() === n);
      if (shares.length > 0 && !known(shareName.toLowerCase()) && !known('homes')) return Object.assign(fail(WinError.INVALID_STATE), { unknownShare: true });
    }
    // 6. Room for it: beyond a cap the client hears "insufficient system resources" and retries
    //    elsewhere or later (MS-SWN §3.2.4.1).
    const limit = this.capReached(client, clientName);
    if (limit !== null) return Object.assign(fail(WinError.NO_SYSTEM_RESOURCES), { limit });
    const now = this.now();
    const handle = newHandle();
    const reg: Registration = {
      key: handleKey(handle),
      handle,
      version: req.version,
      netName,
      shareName,
      ipAddress: ip,
      clientName,
      flags: ex ? (req.flags ?? 0) & RegisterFlags.IP_NOTIFICATION : 0,
      keepAliveSec: ex ? (req.keepAliveSec ?? 0) : 0,
      client,
      createdAt: now,
      lastUse: now,
      notificationsSent: 0,
      pending: null,
      changes: [],
      move: null,
      reaper: null,
      keepAlive: null,
      retire: null,
    };
    this.byKey.set(reg.key, reg);
    this.count(reg, 1);
    this.armReaper(reg);
    this.opts.observer?.added?.(reg);
    return { status: WinError.SUCCESS, handle, registration: reg };
  }

  /** The first cap a new registration of this client would exceed, or null. */
  private capReached(client: ClientInfo, clientName: string): LimitHit | null {
    const l = this.limits;
    const over = (max: number, n: number | undefined): boolean => max > 0 && (n ?? 0) >= max;
    if (over(l.maxRegistrationsPerConnection, client.connection === undefined ? 0 : this.perConnection.get(client.connection))) {
      return { cap: 'maxRegistrationsPerConnection', max: l.maxRegistrationsPerConnection };
    }
    if (over(l.maxRegistrationsPerAssociation, this.perAssociation.get(client.association))) return { cap: 'maxRegistrationsPerAssociation', max: l.maxRegistrationsPerAssociation };
    if (over(l.maxRegistrationsPerClientName, this.perClientName.get(clientName.toLowerCase()))) return { cap: 'maxRegistrationsPerClientName', max: l.maxRegistrationsPerClientName };
    if (over(l.maxRegistrations, this.byKey.size)) return { cap: 'maxRegistrations', max: l.maxRegistrations };
    return null;
  }

  /** Keeps the per-connection, per-association and per-client-name counts (+1 added, -1 removed). */
  private count(r: Registration, d: 1 | -1): void {
    const bump = <K>(m: Map<K, number>, k: K): void => {
      const n = (m.get(k) ?? 0) + d;
      if (n > 0) m.set(k, n);
      else m.delete(k);
    };
    if (r.client.connection !== undefined) bump(this.perConnection, r.client.connection);
    bump(this.perAssociation, r.client.association);
    bump(this.perClientName, r.clientName.toLowerCase());
  }

  /**
   * Live registrations made on `connection`, held by `association`, or named `clientName` (tests, status).
   * @testOnly the caps' counters, checked by the tests of the registration limits.
   */
  countOf(k: { connection?: number; association?: number; clientName?: string }): number {
    if (k.connection !== undefined) return this.perConnection.get(k.connection) ?? 0;
    if (k.association !== undefined) return this.perAssociation.get(k.association) ?? 0;
    if (k.clientName !== undefined) return this.perClientName.get(k.clientName.toLowerCase()) ?? 0;
    return this.byKey.size;
  }

  /** Looks a handle up within the caller's association (context handles are association-scoped). */
  find(handle: Buffer, association: number | null): Registration | null {
    const r = this.byKey.get(handleKey(handle)) ?? null;
    if (r && association !== null && r.client.association !== association) return null;
    return r;
  }

  /** WitnessrUnRegister / UnRegisterEx: unknown handle → ERROR_INVALID_PARAMETER (WS2012 R2+, §3.1.4.3). */
  unregister(handle: Buffer, association: number | null): WinErrorValue {
    const r = this.find(handle, association);
    if (!r) return WinError.INVALID_PARAMETER;
    this.remove(r, 'unregister');
    return WinError.SUCCESS;
  }

  /**
   * Removes a registration; a pending AsyncNotify completes with ERROR_NOT_FOUND (what Windows
   * clients need to re-register cleanly, and what Samba does).
   */
  remove(r: Registration, reason: RemoveReason): void {
    if (this.byKey.get(r.key) !== r) return;
    this.byKey.delete(r.key);
    this.count(r, -1);
    this.deadlines.cancel(r.reaper);
    this.deadlines.cancel(r.retire);
    this.deadlines.cancel(r.keepAlive);
    r.reaper = null;
    r.retire = null;
    r.keepAlive = null;
    // Notifications still queued will never reach this client: audit them as such.
    const lost = reason === 'unused' ? 'timed_out' : 'client_gone';
    for (const c of r.changes) {
      this.opts.observer?.delivered?.(r, undelivered(c), lost);
    }
    if (r.move) this.opts.observer?.delivered?.(r, r.move, lost);
    r.changes = [];
    r.move = null;
    const p = r.pending;
    if (p) {
      r.pending = null;
      p.resolve({ status: WinError.NOT_FOUND, notification: null });
    }
    this.opts.observer?.removed?.(r, reason);
  }

  /** Association ended (its last connection closed): run down its context handles (§3.1.6.5). */
  rundown(association: number): number {
    let n = 0;
    for (const r of [...this.byKey.values()]) {
      if (r.client.association === association) {
        this.remove(r, 'rundown');
        n++;
      }
    }
    return n;
  }

  /**
   * WitnessrAsyncNotify (§3.1.4.4), for the RPC layer: returns the result when it is ready now,
   * else null, and `deliver` gets it later (no promise per waiting call): a notification, or
   * ERROR_TIMEOUT when KeepAliveTimeout passes first (V2 only), or ERROR_NOT_FOUND when the
   * registration goes away. Clients keep at most one call outstanding (§3.2.4.2); should a second
   * arrive, it supersedes the first, which completes with ERROR_TIMEOUT so a client simply re-issues it.
   */
  waitNotify(r: Registration, deliver: (res: NotifyResult) => void): NotifyResult | null {
    if (this.byKey.get(r.key) !== r) return { status: WinError.NOT_FOUND, notification: null };
    const now = this.now();
    r.lastUse = now;
    if (r.pending) this.finishPending(r, { status: WinError.TIMEOUT, notification: null });
    const ready = this.take(r);
    if (ready) {
      this.afterUse(r);
      return { status: WinError.SUCCESS, notification: ready };
    }
    r.pending = { resolve: deliver, since: now };
    // KeepAliveTimeout is in seconds (MS-SWN v14 §3.1.4.5). Windows times out even with 0.
    if (r.version === WitnessVersion.V2) this.armKeepAlive(r);
    this.opts.observer?.updated?.(r);
    return null;
  }

  /**
   * The pending call's keep-alive deadline. Like the reaper, one heap entry per registration at
   * most: an entry armed for an earlier call fires early, finds the newer call and re-arms for it,
   * so re-issued calls never pile cancelled entries into the heap.
   */
  private armKeepAlive(r: Registration): void {
    if (r.keepAlive !== null || !r.pending) return;
    r.keepAlive = this.deadlines.add(r.pending.since + r.keepAliveSec * 1000, () => {
      r.keepAlive = null;
      const p = r.pending;
      if (!p || this.byKey.get(r.key) !== r) return;
      if (p.since + r.keepAliveSec * 1000 <= this.now()) this.finishPending(r, { status: WinError.TIMEOUT, notification: null });
      else this.armKeepAlive(r);
    });
  }

  /** Cancels a pending AsyncNotify (co_cancel / orphaned); the registration stays. */
  cancelPendingOf(r: Registration): boolean {
    if (!r.pending) return false;
    r.pending = null;
    if (this.byKey.get(r.key) === r) this.afterUse(r);
    return true;
  }

  private finishPending(r: Registration, result: NotifyResult): void {
    const p = r.pending;
    if (!p) return;
    r.pending = null;
    p.resolve(result);
    this.afterUse(r);
  }

  private afterUse(r: Registration): void {
    r.lastUse = this.now();
    this.opts.observer?.updated?.(r);
  }

  /**
   * Unused Registration Timer (§3.1.5.1): no AsyncNotify pending and unused for 30 s → removed.
   * One heap entry per registration, set when it is created and re-set only when it fires: using
   * a registration just moves r.lastUse, so telling 10,000 clients costs no timer work at all.
   */
  private armReaper(r: Registration, at: number = r.lastUse + this.unusedMs): void {
    r.reaper = this.deadlines.add(at, () => {
      r.reaper = null;
      if (this.byKey.get(r.key) !== r) return;
      const now = this.now();
      if (r.pending) {
        this.armReaper(r, now + this.unusedMs); // look again; the call's end moves lastUse
        return;
      }
      const due = r.lastUse + this.unusedMs;
      if (due <= now) this.remove(r, 'unused');
      else this.armReaper(r, due);
    });
  }

  /**
   * Queues a resource change for a registration (§3.1.6.1) and delivers it if a call waits; the
   * entry may be shared by many registrations (it is never modified).
   */
  queueChangeEntry(r: Registration, entry: QueuedChange): void {
    // An opposite change for the same resource still queued is superseded, but order matters to
    // clients: UNAVAILABLE then AVAILABLE must both be seen, so we only collapse identical repeats.
    const last = r.changes.at(-1);
    if (!last || last.resourceName !== entry.resourceName || last.changeType !== entry.changeType) r.changes.push(entry);
    this.deliverIfPending(r);
  }

  /**
   * Sets the pending move-type notification (CLIENT_MOVE, SHARE_MOVE, IP_CHANGE; only the latest
   * is kept), built once (moveNotification) and shared by every registration it goes to.
   */
  queueNotification(r: Registration, n: Notification): void {
    r.move = n;
    this.deliverIfPending(r);
  }

  private deliverIfPending(r: Registration): void {
    if (!r.pending) return;
    const n = this.take(r);
    if (n) this.finishPending(r, { status: WinError.SUCCESS, notification: n });
  }

  /** Builds ONE response of one type (§3.1.4.4): resource changes first, then a move. */
  private take(r: Registration): Notification | null {
    if (r.changes.length > 0) {
      // Deliver up to the first repeat of a resource, so UNAVAILABLE and AVAILABLE of one IP go
      // out as two notifications in order, as Windows clients expect (Samba does the same).
      const head = r.changes[0];
      const next = r.changes[1];
      if (head && (next === undefined || next.resourceName === head.resourceName)) {
        // The common case (one change, or UNAVAILABLE then AVAILABLE of one resource): one entry,
        // shared with every registration told of the same event.
        r.changes.shift();
        const n = this.shared.one(head);
        this.sent(r, n, head.changeType !== ChangeType.AVAILABLE);
        return n;
      }
      const batch: typeof r.changes = [];
      const seen = new Set<string>();
      for (const c of r.changes) {
        if (seen.has(c.resourceName)) break;
        seen.add(c.resourceName);
        batch.push(c);
      }
      r.changes.splice(0, batch.length);
      const n = this.shared.of(batch);
      // The workaround applies once a client hears its resource is not available; an AVAILABLE
      // that follows in the same move (UNAVAILABLE then AVAILABLE) leaves the removal scheduled.
      this.sent(r, n, batch.some((c) => c.changeType !== ChangeType.AVAILABLE));
      return n;
    }
    if (r.move) {
      const n = r.move;
      r.move = null;
      // A move elsewhere (CLIENT_MOVE, SHARE_MOVE) retires the registration; IP_CHANGE does not.
      this.sent(r, n, n.type === MessageType.CLIENT_MOVE || n.type === MessageType.SHARE_MOVE);
      return n;
    }
    return null;
  }

  private sent(r: Registration, n: Notification, retire: boolean): void {
    r.notificationsSent++;
    this.opts.observer?.delivered?.(r, n, 'delivered');
    const after = this.opts.forceUnregisterAfterMs ?? 0;
    if (retire && after > 0 && r.retire === null) {
      r.retire = this.deadlines.add(this.now() + after, () => {
        r.retire = null;
        this.remove(r, 'workaround');
      });
    }
  }

  /** Ends every registration (daemon shutdown). */
  close(): void {
    for (const r of [...this.byKey.values()]) this.remove(r, 'shutdown');
    this.viewChanged();
    this.deadlines.close();
  }
}

/** The first of a request's strings that is longer than MAX_NAME_CHARS allows, or null. */
function overlong(s: Record<keyof typeof MAX_NAME_CHARS, string | null>): keyof typeof MAX_NAME_CHARS | null {
  for (const k of ['netName', 'shareName', 'ipAddress', 'clientName'] as const) {
    if ((s[k]?.length ?? 0) > MAX_NAME_CHARS[k]) return k;
  }
  return null;
}
