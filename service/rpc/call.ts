// A call in progress (it is also the handler's CallContext: one object per call), and the outbox
// that writes deferred replies together.

import type { CallAuth } from '../auth/context.ts';
import type { CallContext } from './interface.ts';
import type { AuthSession } from './negotiation.ts';
import type { RequestPdu } from './pdu.ts';

/** What a Call needs of its connection. */
export interface CallOwner {
  finish(call: Call, stub: Buffer | null, err: unknown): void;
}

/** Where the call's connection runs: the same for every call on it. */
export interface CallSite {
  association: number;
  connection: number;
  remote: string;
  local: string;
  localAddress: string;
  localPort: number;
}

/**
 * Deferred replies made while other code runs (one cluster event completing 10,000 long-polls)
 * are written together right after it, in one tight loop of socket writes.
 */
class Outbox {
  private calls: Call[] = [];
  private stubs: Buffer[] = [];
  private scheduled = false;

  push(call: Call, stub: Buffer): void {
    this.calls.push(call);
    this.stubs.push(stub);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.flush();
      });
    }
  }

  private flush(): void {
    const calls = this.calls;
    const stubs = this.stubs;
    this.calls = [];
    this.stubs = [];
    this.scheduled = false;
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i];
      const s = stubs[i];
      if (c && s) c.finishWith(s);
    }
  }
}
const outbox = new Outbox();

export class Call implements CallContext {
  readonly association: number;
  readonly connection: number;
  readonly callId: number;
  readonly opnum: number;
  readonly remote: string;
  readonly local: string;
  readonly localAddress: string;
  readonly localPort: number;
  readonly object: string | null;
  readonly contextId: number;
  readonly versionMinor: number;
  /** The security context the request came in on, which also protects the response. */
  readonly session: AuthSession | null;
  /** The response (or fault) was sent, or the call was dropped. */
  done = false;
  cancelled = false;
  private hook: (() => void) | null = null;
  private readonly owner: CallOwner;

  constructor(owner: CallOwner, site: CallSite, p: RequestPdu, session: AuthSession | null) {
    this.owner = owner;
    this.association = site.association;
    this.connection = site.connection;
    this.remote = site.remote;
    this.local = site.local;
    this.localAddress = site.localAddress;
    this.localPort = site.localPort;
    this.callId = p.callId;
    this.opnum = p.opnum;
    this.object = p.object;
    this.contextId = p.contextId;
    this.versionMinor = p.versionMinor;
    this.session = session;
  }

  get auth(): CallAuth | null {
    const s = this.session;
    return s ? { type: s.type, level: s.level, identity: s.ctx.identity } : null;
  }

  onCancel(fn: (() => void) | null): void {
    this.hook = fn;
    if (fn && this.cancelled) this.cancel();
  }

  reply(stub: Buffer): void {
    outbox.push(this, stub);
  }

  fail(err: unknown): void {
    this.owner.finish(this, null, err);
  }

  finishWith(stub: Buffer): void {
    this.owner.finish(this, stub, null);
  }

  /** Cancel, orphan or connection loss: run the handler's hook once. */
  cancel(): void {
    this.cancelled = true;
    const f = this.hook;
    this.hook = null;
    f?.();
  }
}
