// The witness interface as the RPC server sees it: opnum → handler, each decoding its stub,
// asking the registry and encoding the answer. WERROR results travel in the stub; faults are for
// RPC-level problems only (MS-SWN does not fault on unknown context handles, it answers
// ERROR_NOT_FOUND / ERROR_INVALID_PARAMETER — so do we).

import type { Logger } from 'pino';
import { principalName, type CallAuth, type Refusal } from '../auth/context.ts';
import { DEFERRED, type CallContext, type OpHandler, type RpcInterfaceDef } from '../rpc/interface.ts';
import {
  decodeHandle,
  decodeRegister,
  decodeRegisterEx,
  encodeAsyncNotify,
  encodeHandleAndStatus,
  encodeInterfaceList,
  encodeStatus,
} from './codec.ts';
import { LimitLog } from '../rpc/limit-log.ts';
import { MAX_NAME_CHARS, Opnum, WinError, WITNESS_INTERFACE } from './constants.ts';
import type { ClientInfo, NotifyResult, RegisterResult, WitnessRegistry } from './registry.ts';
import { handleKey, NULL_HANDLE } from './handles.ts';
import type { Notification } from './notification.ts';

// One event's notification is the same object for every registration it reaches (the registry
// shares them), so its response stub is encoded once, not once per client.
const encoded = new WeakMap<Notification, Buffer>();

function encodeResult(r: NotifyResult): Buffer {
  const n = r.notification;
  if (!n || r.status !== WinError.SUCCESS) return encodeAsyncNotify(r.status, n);
  let b = encoded.get(n);
  if (!b) {
    b = encodeAsyncNotify(r.status, n);
    encoded.set(n, b);
  }
  return b;
}

function client(ctx: CallContext): ClientInfo {
  const id = ctx.auth?.identity ?? null;
  return { association: ctx.association, connection: ctx.connection, remote: ctx.remote, local: ctx.local, identity: id ? principalName(id) : null };
}

/** A client's string as logged: never more than 300 characters of it (the registry refuses longer names anyway). */
function clip(s: string | null): string | null {
  return s !== null && s.length > 300 ? `${s.slice(0, 300)}… (${s.length} characters)` : s;
}

/** Log lines about a registration that was refused for a cap or an overlong name (one per kind per second). */
function refusalLog(limits: LimitLog, ctx: CallContext, r: RegisterResult, clientName: string | null): void {
  if (r.limit) {
    limits.warn(r.limit.cap, { remote: ctx.remote, connection: ctx.connection, association: ctx.association, client: clip(clientName), cap: r.limit.cap, max: r.limit.max },
      `registration refused with ERROR_NO_SYSTEM_RESOURCES: limits.${r.limit.cap} (${r.limit.max}) reached`);
  } else if (r.tooLong) {
    limits.warn(`${r.tooLong}-length`, { remote: ctx.remote, connection: ctx.connection, field: r.tooLong, max: MAX_NAME_CHARS[r.tooLong] },
      `registration refused with ERROR_INVALID_PARAMETER: ${r.tooLong} longer than ${MAX_NAME_CHARS[r.tooLong]} characters`);
  }
}

/**
 * `authorize` is the access check every witness call passes first (service/auth/policy.ts);
 * without one (--auth none) every call runs.
 */
export function witnessInterface(registry: WitnessRegistry, logger: Logger, authorize?: (auth: CallAuth | null) => Refusal | null): RpcInterfaceDef {
  // Per-call lines are debug: with tens of thousands of clients, info stays readable.
  const log = logger.child({ iface: 'witness' });
  const limits = new LimitLog(log);
  const ops = new Map<number, OpHandler>([
    [
      Opnum.GetInterfaceList,
      async (_stub, ctx) => {
        const r = await registry.getInterfaceList(ctx);
        log.debug({ remote: ctx.remote, status: r.status, interfaces: r.list.length }, 'GetInterfaceList');
        return encodeInterfaceList(r.status, r.list);
      },
    ],
    [
      Opnum.Register,
      (stub, ctx) => {
        const a = decodeRegister(stub);
        const r = registry.register(a, client(ctx), false);
        refusalLog(limits, ctx, r, a.clientName);
        log.debug({ remote: ctx.remote, client: clip(a.clientName), netName: clip(a.netName), ip: clip(a.ipAddress), status: r.status, key: r.registration?.key }, 'Register');
        return encodeHandleAndStatus(r.handle, r.status);
      },
    ],
    [
      Opnum.UnRegister,
      (stub, ctx) => {
        const h = decodeHandle(stub);
        const status = registry.unregister(h, ctx.association);
        log.debug({ remote: ctx.remote, key: handleKey(h), status }, 'UnRegister');
        return encodeStatus(status);
      },
    ],
    [
      Opnum.AsyncNotify,
      (stub, ctx) => {
        const h = decodeHandle(stub);
        const r = registry.find(h, ctx.association);
        if (!r) return encodeAsyncNotify(WinError.NOT_FOUND, null);
        const now = registry.waitNotify(r, (res) => {
          ctx.reply(encodeResult(res));
        });
        if (now) return encodeResult(now);
        // Cancel, orphan or a closed connection end the wait; the registration stays.
        ctx.onCancel(() => {
          registry.cancelPendingOf(r);
        });
        return DEFERRED;
      },
    ],
    [
      Opnum.RegisterEx,
      (stub, ctx) => {
        const a = decodeRegisterEx(stub);
        const r = registry.register(a, client(ctx), true);
        refusalLog(limits, ctx, r, a.clientName);
        if (r.unknownShare === true) {
          limits.warn('unknown-share', { remote: ctx.remote, connection: ctx.connection, client: clip(a.clientName), share: clip(a.shareName) }, 'RegisterEx refused with ERROR_INVALID_STATE: the share is not one of the SMB server\'s shares');
        }
        log.debug(
          { remote: ctx.remote, client: clip(a.clientName), netName: clip(a.netName), share: clip(a.shareName), ip: clip(a.ipAddress), flags: a.flags, keepAlive: a.keepAliveSec, status: r.status, key: r.registration?.key },
          'RegisterEx',
        );
        return encodeHandleAndStatus(r.handle, r.status);
      },
    ],
    [
      Opnum.UnRegisterEx,
      (stub, ctx) => {
        const h = decodeHandle(stub);
        const status = registry.unregister(h, ctx.association);
        log.debug({ remote: ctx.remote, key: handleKey(h), status }, 'UnRegisterEx');
        // [in, out] handle: NULL once the registration is gone (MS-SWN §3.1.4.6).
        return encodeHandleAndStatus(status === WinError.SUCCESS ? NULL_HANDLE : h, status);
      },
    ],
  ]);
  const iface: RpcInterfaceDef = {
    name: 'witness',
    uuid: WITNESS_INTERFACE.uuid,
    versionMajor: WITNESS_INTERFACE.versionMajor,
    versionMinor: WITNESS_INTERFACE.versionMinor,
    ops,
    rundown: (association) => {
      const n = registry.rundown(association);
      if (n > 0) log.info({ association, registrations: n }, 'association ended; its registrations are run down');
    },
  };
  if (authorize) iface.authorize = authorize;
  return iface;
}
