// What an RPC interface (the witness, the endpoint mapper) registers with the server. The RPC
// core knows nothing of either: it hands each call's stub to the handler for its opnum and sends
// back the stub the handler returns, or a fault.

import type { CallAuth, Refusal } from '../auth/context.ts';

export interface CallContext {
  /** Association group id: context handles are valid within it. */
  association: number;
  connection: number;
  callId: number;
  opnum: number;
  /** "address:port" of the client and of our end of the connection. */
  remote: string;
  local: string;
  localAddress: string;
  localPort: number;
  /** Object UUID of the request, when the client sent one (PFC_OBJECT_UUID). */
  object: string | null;
  /** The call's security context; null for an unauthenticated call. */
  auth: CallAuth | null;
  /** True once the call was cancelled (co_cancel), orphaned, or its connection closed. */
  readonly cancelled: boolean;
  /**
   * Runs `fn` once when the call is cancelled, orphaned or its connection closes (at once if that
   * already happened). One hook per call, the latest wins: a plain callback rather than an
   * AbortSignal, because tens of thousands of calls wait at a time and EventTarget costs memory
   * and time per call.
   */
  onCancel(fn: (() => void) | null): void;
  /** Answers a call whose handler returned DEFERRED (ignored once the call is over). */
  reply(stub: Buffer): void;
  /** Ends a DEFERRED call with the fault for `err` (RpcFault carries its status). */
  fail(err: unknown): void;
}

/**
 * What a handler returns when it will answer later with ctx.reply / ctx.fail. A long-poll
 * (AsyncNotify) held by tens of thousands of clients then costs no promise chain per call.
 */
export const DEFERRED: unique symbol = Symbol('rpc.deferred');

export type OpHandler = (stub: Buffer, ctx: CallContext) => Buffer | Promise<Buffer> | typeof DEFERRED;

export interface RpcInterfaceDef {
  name: string;
  uuid: string;
  versionMajor: number;
  versionMinor: number;
  ops: ReadonlyMap<number, OpHandler>;
  /** The association's last connection closed: free its context handles. */
  rundown?(association: number): void;
  /**
   * Decides whether a call may run, before its handler: null lets it run, a Refusal refuses it
   * with fault ACCESS_DENIED (and a log line, rate-limited per refusal code). Absent: every call runs.
   */
  authorize?(auth: CallAuth | null): Refusal | null;
}

/** Thrown by a handler to answer with a fault PDU carrying `status`. */
export class RpcFault extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'RpcFault';
    this.status = status;
  }
}
