import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeType, DEFAULT_REGISTRATION_LIMITS, InterfaceFlags, InterfaceState, MessageType, WinError, WitnessVersion, type RegistrationLimits } from '../../service/swn/constants.ts';
import { decodeIpAddrInfoList, decodeResourceChanges } from '../../service/swn/messages.ts';
import { WitnessRegistry, type ClientInfo, type NotifyResult, type RegisterRequest, type RegisterResult, type RemoveReason } from '../../service/swn/registry.ts';
import type { ClusterView } from '../../store/types.ts';
import { ip, view } from '../helpers/views.ts';
import { asyncNotify, queueChange, queueMove } from '../helpers/registry.ts';

const client = (association = 1): ClientInfo => ({ association, remote: '127.0.0.1:40000', local: '127.0.0.1:5999', identity: null });

function setup(v: ClusterView | null = view(1, { ips: [ip('198.18.0.100', 'n1'), ip('198.18.0.101', 'n2')], witness: [{ node: 'n1', resource: 'w:0', started: true }, { node: 'n2', resource: 'w:1', started: true }] }), retireMs = 0) {
  let now = 1_000_000;
  const removed: [string, RemoveReason][] = [];
  let current = v;
  const audit: [string, string, string][] = [];
  const reg = new WitnessRegistry({
    netNames: ['FILESRV'],
    localNode: 'n1',
    getView: () => current,
    now: () => now,
    forceUnregisterAfterMs: retireMs,
    observer: { removed: (r, why) => removed.push([r.clientName, why]), delivered: (r, n, outcome) => audit.push([r.clientName, n.summary, outcome]) },
  });
  return {
    reg,
    removed,
    audit,
    advance(ms: number) { now += ms; (reg as unknown as { deadlines: { runDue(): void } }).deadlines.runDue(); },
    setView(nv: ClusterView | null) { current = nv; reg.viewChanged(); },
  };
}

const V1 = { version: WitnessVersion.V1, netName: 'FILESRV', ipAddress: '198.18.0.100', clientName: 'CLIENT1' };
const V2 = { ...V1, version: WitnessVersion.V2, shareName: null, flags: 0, keepAliveSec: 10 };

describe('witness registry: interface list', () => {
  it('flags INTERFACE_WITNESS only for addresses hosted on another node that runs a witness', async () => {
    const { reg } = setup();
    const r = await reg.getInterfaceList();
    assert.equal(r.status, WinError.SUCCESS);
    assert.deepEqual(r.list.map((i) => [i.address, i.groupName, i.state, i.flags]), [
      ['198.18.0.100', 'N1', InterfaceState.AVAILABLE, InterfaceFlags.IPV4],
      ['198.18.0.101', 'N2', InterfaceState.AVAILABLE, InterfaceFlags.IPV4 | InterfaceFlags.INTERFACE_WITNESS],
    ]);
  });
  it('answers ERROR_NO_MORE_ITEMS when empty and waits while nothing is AVAILABLE', async () => {
    const empty = setup(view(1));
    assert.equal((await empty.reg.getInterfaceList()).status, WinError.NO_MORE_ITEMS);
    const t = setup(view(1, { ips: [ip('198.18.0.100', null)] }));
    let done = false;
    const p = t.reg.getInterfaceList().then((r) => { done = true; return r; });
    await new Promise((res) => setImmediate(res));
    assert.equal(done, false);
    t.setView(view(2, { ips: [ip('198.18.0.100', 'n2')] }));
    const r = await p;
    assert.equal(r.status, WinError.SUCCESS);
    assert.equal(r.list[0]?.state, InterfaceState.AVAILABLE);
  });
});

describe('witness registry: register', () => {
  it('checks version first, then NULL/empty strings, NetName, IP, share', () => {
    const { reg } = setup();
    assert.equal(reg.register({ ...V1, version: 0, netName: null }, client(), false).status, WinError.REVISION_MISMATCH);
    assert.equal(reg.register({ ...V1, version: WitnessVersion.V2 }, client(), false).status, WinError.REVISION_MISMATCH);
    assert.equal(reg.register({ ...V2, version: WitnessVersion.V1 }, client(), true).status, WinError.REVISION_MISMATCH);
    assert.equal(reg.register({ ...V1, netName: null }, client(), false).status, WinError.INVALID_PARAMETER);
    assert.equal(reg.register({ ...V1, clientName: '' }, client(), false).status, WinError.INVALID_PARAMETER);
    assert.equal(reg.register({ ...V1, netName: 'OTHER' }, client(), false).status, WinError.INVALID_PARAMETER);
    assert.equal(reg.register({ ...V1, ipAddress: '198.18.9.9' }, client(), false).status, WinError.INVALID_STATE);
    assert.equal(reg.register({ ...V1, ipAddress: 'not-an-ip' }, client(), false).status, WinError.INVALID_STATE);
    assert.equal(reg.size, 0);
    const ok = reg.register({ ...V1, netName: 'filesrv.example.test' }, client(), false);
    assert.equal(ok.status, WinError.SUCCESS);
    assert.equal(ok.handle.length, 20);
    assert.notDeepEqual(ok.handle, Buffer.alloc(20));
    assert.equal(reg.size, 1);
  });
  it('rejects an unknown share when shares are configured', () => {
    const { reg } = setup(view(1, { ips: [ip('198.18.0.100', 'n1')], shares: [{ name: 'Data', resource: 'g1', node: 'n1', ips: ['198.18.0.100'] }] }));
    assert.equal(reg.register({ ...V2, shareName: 'nope' }, client(), true).status, WinError.INVALID_STATE);
    assert.equal(reg.register({ ...V2, shareName: 'DATA' }, client(), true).status, WinError.SUCCESS);
  });
  it('unregister: unknown handle → ERROR_INVALID_PARAMETER; handles are association-scoped', () => {
    const { reg } = setup();
    const { handle } = reg.register(V1, client(1), false);
    assert.equal(reg.unregister(handle, 2), WinError.INVALID_PARAMETER);
    assert.equal(reg.unregister(handle, 1), WinError.SUCCESS);
    assert.equal(reg.unregister(handle, 1), WinError.INVALID_PARAMETER);
  });
});

describe('witness registry: AsyncNotify', () => {
  it('unknown handle → ERROR_NOT_FOUND', () => {
    const { reg } = setup();
    assert.deepEqual(asyncNotify(reg, Buffer.alloc(20), 1), { status: WinError.NOT_FOUND, notification: null });
  });
  it('times out at KeepAliveTimeout with ERROR_TIMEOUT and the registration survives', async () => {
    const t = setup();
    const { handle } = t.reg.register(V2, client(), true);
    const p = asyncNotify(t.reg, handle, 1) as Promise<NotifyResult>;
    t.advance(9_999);
    t.advance(1);
    assert.deepEqual(await p, { status: WinError.TIMEOUT, notification: null });
    assert.equal(t.reg.size, 1);
  });
  it('delivers a queued resource change, UNAVAILABLE before AVAILABLE as two messages', async () => {
    const t = setup();
    const { registration } = t.reg.register(V2, client(), true);
    assert.ok(registration);
    queueChange(t.reg, registration, { resourceName: '198.18.0.100', changeType: ChangeType.UNAVAILABLE });
    queueChange(t.reg, registration, { resourceName: '198.18.0.100', changeType: ChangeType.AVAILABLE });
    const first = (await asyncNotify(t.reg, registration.handle, 1)).notification;
    assert.equal(first?.type, MessageType.RESOURCE_CHANGE);
    assert.deepEqual(decodeResourceChanges(first.buffer, first.count), [{ resourceName: '198.18.0.100', changeType: ChangeType.UNAVAILABLE }]);
    const second = (await asyncNotify(t.reg, registration.handle, 1)).notification;
    assert.deepEqual(second && decodeResourceChanges(second.buffer, second.count), [{ resourceName: '198.18.0.100', changeType: ChangeType.AVAILABLE }]);
  });
  it('completes a pending call when a move arrives; only the latest move is kept', async () => {
    const t = setup();
    const { registration } = t.reg.register(V2, client(), true);
    assert.ok(registration);
    queueMove(t.reg, registration, MessageType.CLIENT_MOVE, [{ address: '198.18.0.100', online: true }], 'to n1');
    queueMove(t.reg, registration, MessageType.CLIENT_MOVE, [{ address: '198.18.0.101', online: true }], 'to n2');
    const r = await asyncNotify(t.reg, registration.handle, 1);
    assert.equal(r.notification?.type, MessageType.CLIENT_MOVE);
    assert.deepEqual(decodeIpAddrInfoList(r.notification.buffer), [{ address: '198.18.0.101', online: true }]);
    const pending = asyncNotify(t.reg, registration.handle, 1) as Promise<NotifyResult>;
    queueMove(t.reg, registration, MessageType.SHARE_MOVE, [{ address: '198.18.0.100', online: true }], 'share');
    assert.equal((await pending).notification?.type, MessageType.SHARE_MOVE);
  });
  it('a pending call completes with ERROR_NOT_FOUND when its registration goes away (unregister, rundown)', async () => {
    const t = setup();
    const a = t.reg.register(V2, client(1), true);
    const b = t.reg.register({ ...V2, clientName: 'CLIENT2' }, client(2), true);
    const pa = asyncNotify(t.reg, a.handle, 1) as Promise<NotifyResult>;
    const pb = asyncNotify(t.reg, b.handle, 2) as Promise<NotifyResult>;
    assert.equal(t.reg.unregister(a.handle, 1), WinError.SUCCESS);
    assert.equal(t.reg.rundown(2), 1);
    assert.equal((await pa).status, WinError.NOT_FOUND);
    assert.equal((await pb).status, WinError.NOT_FOUND);
    assert.deepEqual(t.removed, [['CLIENT1', 'unregister'], ['CLIENT2', 'rundown']]);
  });
  it('a busy client never piles timers up: at most two deadline entries per registration however often it is told', async () => {
    const t = setup();
    const r = t.reg.register(V2, client(), true);
    assert.ok(r.registration);
    const heap = (): number => (t.reg as unknown as { deadlines: { size: number } }).deadlines.size;
    for (let i = 0; i < 1000; i++) {
      const p = asyncNotify(t.reg, r.handle, 1);
      queueChange(t.reg, r.registration, { resourceName: 'FILESRV', changeType: i % 2 ? ChangeType.AVAILABLE : ChangeType.UNAVAILABLE });
      assert.equal((await p).status, WinError.SUCCESS);
      t.advance(5);
    }
    assert.ok(heap() <= 2, `${heap()} deadline entries`);
    // And the keep-alive still times the last call out on time, the reaper still reaps.
    const last = asyncNotify(t.reg, r.handle, 1);
    t.advance(9_999);
    assert.equal(t.reg.find(r.handle, 1)?.pending !== null, true);
    t.advance(1);
    assert.equal((await last).status, WinError.TIMEOUT);
    t.advance(30_000);
    assert.deepEqual(t.removed, [['CLIENT1', 'unused']]);
  });
  it('audits what a reaped registration never collected as timed_out, and what a departed client left as client_gone', () => {
    const t = setup();
    const idle = t.reg.register(V1, client(), false);
    const gone = t.reg.register({ ...V1, clientName: 'CLIENT2' }, client(), false);
    assert.ok(idle.registration && gone.registration);
    for (const r of [idle.registration, gone.registration]) queueChange(t.reg, r, { resourceName: 'FILESRV', changeType: ChangeType.UNAVAILABLE });
    t.reg.unregister(gone.handle, 1);
    t.advance(30_000);
    assert.deepEqual(t.audit, [['CLIENT2', 'FILESRV UNAVAILABLE', 'client_gone'], ['CLIENT1', 'FILESRV UNAVAILABLE', 'timed_out']]);
  });
  it('reaps registrations unused for 30 s, but never one with a call pending', async () => {
    const t = setup();
    t.reg.register(V1, client(), false);
    const busy = t.reg.register({ ...V1, clientName: 'BUSY' }, client(), false);
    const p = asyncNotify(t.reg, busy.handle, 1);
    t.advance(29_999);
    assert.equal(t.reg.size, 2);
    t.advance(1);
    assert.equal(t.reg.size, 1);
    assert.deepEqual(t.removed, [['CLIENT1', 'unused']]);
    t.advance(120_000);
    assert.equal(t.reg.size, 1);
    t.reg.close();
    assert.equal((await p).status, WinError.NOT_FOUND);
  });
});

describe('witness registry: Windows workaround and audit', () => {
  it('drops a registration some seconds after it was told UNAVAILABLE, so its next AsyncNotify gets ERROR_NOT_FOUND', async () => {
    const t = setup(undefined, 5000);
    const { registration } = t.reg.register(V2, client(), true);
    assert.ok(registration);
    queueChange(t.reg, registration, { resourceName: 'FILESRV', changeType: ChangeType.UNAVAILABLE });
    assert.equal((await asyncNotify(t.reg, registration.handle, 1)).status, WinError.SUCCESS);
    t.advance(4999);
    assert.equal(t.reg.size, 1);
    t.advance(1);
    assert.equal(t.reg.size, 0);
    assert.deepEqual(t.removed, [['CLIENT1', 'workaround']]);
    assert.equal((await asyncNotify(t.reg, registration.handle, 1)).status, WinError.NOT_FOUND);
  });
  it('AVAILABLE alone does not trigger it; it is off with 0', async () => {
    const t = setup(undefined, 5000);
    const { registration } = t.reg.register(V2, client(), true);
    assert.ok(registration);
    queueChange(t.reg, registration, { resourceName: 'FILESRV', changeType: ChangeType.AVAILABLE });
    await asyncNotify(t.reg, registration.handle, 1);
    t.advance(10_000);
    assert.equal(t.reg.size, 1);
    const off = setup();
    const r2 = off.reg.register(V2, client(), true).registration;
    assert.ok(r2);
    queueMove(off.reg, r2, MessageType.CLIENT_MOVE, [{ address: '198.18.0.101', online: true }], 'move');
    await asyncNotify(off.reg, r2.handle, 1);
    off.advance(29_000); // (the 30 s unused-registration reaper is a different rule)
    assert.equal(off.reg.size, 1);
  });
  it('notifications still queued when the client goes are audited as client_gone', async () => {
    const t = setup();
    const { registration } = t.reg.register(V2, client(), true);
    assert.ok(registration);
    queueChange(t.reg, registration, { resourceName: 'FILESRV', changeType: ChangeType.UNAVAILABLE });
    queueChange(t.reg, registration, { resourceName: 'FILESRV', changeType: ChangeType.AVAILABLE });
    assert.equal((await asyncNotify(t.reg, registration.handle, 1)).status, 0);
    t.reg.rundown(1);
    assert.deepEqual(t.audit, [['CLIENT1', 'FILESRV UNAVAILABLE', 'delivered'], ['CLIENT1', 'FILESRV AVAILABLE', 'client_gone']]);
  });
});

describe('witness registry: caps and name lengths', () => {
  const capped = (limits: Partial<RegistrationLimits>) => {
    const reg = new WitnessRegistry({ netNames: ['FILESRV', 'filesrv.example.test'], localNode: 'n1', getView: () => view(1, { ips: [ip('198.18.0.100', 'n2')] }), limits });
    const on = (connection: number, association: number, clientName = `C${connection}-${association}`): RegisterResult =>
      reg.register({ ...V2, ipAddress: '198.18.0.100', clientName }, { ...client(association), connection }, true);
    return { reg, on };
  };

  it('refuses beyond each cap with ERROR_NO_SYSTEM_RESOURCES, naming the cap; a removal makes room again', () => {
    const { reg, on } = capped({ maxRegistrationsPerConnection: 2, maxRegistrationsPerAssociation: 3, maxRegistrationsPerClientName: 4, maxRegistrations: 7 });
    assert.equal(on(1, 1).status, WinError.SUCCESS);
    assert.equal(on(1, 1).status, WinError.SUCCESS);
    const conn = on(1, 1);
    assert.deepEqual([conn.status, conn.limit, conn.registration, conn.handle], [WinError.NO_SYSTEM_RESOURCES, { cap: 'maxRegistrationsPerConnection', max: 2 }, null, Buffer.alloc(20)]);
    // A second connection of the same association: its own count, but the association's is shared.
    assert.equal(on(2, 1).status, WinError.SUCCESS);
    assert.deepEqual(on(2, 1).limit, { cap: 'maxRegistrationsPerAssociation', max: 3 });
    // One client name across associations.
    for (let a = 10; a < 14; a++) assert.equal(on(a, a, 'Same.Example.Test').status, WinError.SUCCESS);
    assert.equal(reg.size, 7); // 3 in association 1, 4 named Same
    assert.deepEqual(on(14, 14, 'same.example.test').limit, { cap: 'maxRegistrationsPerClientName', max: 4 }, 'compared case-insensitively');
    assert.equal(reg.countOf({ clientName: 'SAME.EXAMPLE.TEST' }), 4);
    // Seven live: the global cap, nobody else gets in.
    assert.deepEqual(on(20, 20).limit, { cap: 'maxRegistrations', max: 7 });
    // Counts follow removals: unregister, rundown.
    const first = [...reg.registrations()][0];
    assert.ok(first);
    assert.equal(reg.unregister(first.handle, 1), WinError.SUCCESS);
    assert.equal(reg.countOf({ connection: 1 }), 1);
    assert.equal(reg.countOf({ association: 1 }), 2);
    assert.equal(reg.rundown(1), 2);
    assert.equal(reg.countOf({ association: 1 }), 0);
    assert.equal(reg.countOf({ connection: 2 }), 0);
    assert.equal(on(1, 1).status, WinError.SUCCESS, 'room again on the connection, the association and in all');
    reg.close();
    assert.equal(reg.countOf({}), 0);
    assert.equal(reg.countOf({ clientName: 'same.example.test' }), 0);
  });

  it('Register (V1) is capped too; the defaults leave room for what a Windows client does', () => {
    const { reg } = capped({ maxRegistrationsPerConnection: 1 });
    const v1 = (): RegisterResult => reg.register({ ...V1, ipAddress: '198.18.0.100' }, { ...client(5), connection: 9 }, false);
    assert.equal(v1().status, WinError.SUCCESS);
    assert.equal(v1().status, WinError.NO_SYSTEM_RESOURCES);
    const d = capped({});
    // A client with many shares and a couple of NetNames, re-registering after a reconnect.
    for (let i = 0; i < 200; i++) assert.equal(d.on(1, 1, 'client.example.test').status, WinError.SUCCESS);
    assert.ok(DEFAULT_REGISTRATION_LIMITS.maxRegistrationsPerConnection >= 200 && DEFAULT_REGISTRATION_LIMITS.maxRegistrations >= 50_000);
  });

  it('refuses names longer than Windows allows with ERROR_INVALID_PARAMETER before anything else is looked at', () => {
    const reg = new WitnessRegistry({ netNames: ['FILESRV'], localNode: 'n1', getView: () => view(1, { ips: [ip('198.18.0.100', 'n2')] }), observer: { added: () => { assert.fail('nothing is kept'); } } });
    const long = (n: number): string => 'x'.repeat(n);
    const fqdn = (n: number): string => `filesrv.${'d'.repeat(n - 'filesrv.'.length)}`;
    const r = (o: Partial<RegisterRequest>): RegisterResult => reg.register({ ...V2, ipAddress: '198.18.0.100', ...o }, client(), true);
    assert.deepEqual([r({ netName: fqdn(256) }).status, r({ netName: fqdn(256) }).tooLong], [WinError.INVALID_PARAMETER, 'netName']);
    assert.deepEqual([r({ clientName: long(256) }).status, r({ clientName: long(256) }).tooLong], [WinError.INVALID_PARAMETER, 'clientName']);
    assert.deepEqual([r({ shareName: long(81) }).status, r({ shareName: long(81) }).tooLong], [WinError.INVALID_PARAMETER, 'shareName']);
    assert.deepEqual([r({ ipAddress: long(65) }).status, r({ ipAddress: long(65) }).tooLong], [WinError.INVALID_PARAMETER, 'ipAddress']);
    assert.equal(r({ ipAddress: long(64) }).status, WinError.INVALID_STATE, 'at the limit, the usual checks apply');
    assert.equal(r({ clientName: long(30_000), netName: fqdn(30_000) }).status, WinError.INVALID_PARAMETER);
    assert.equal(reg.size, 0);
  });

  it('accepts names at the limits: a 255-character NetName and client name, an 80-character share', () => {
    const added: string[] = [];
    const reg = new WitnessRegistry({ netNames: ['FILESRV'], localNode: 'n1', getView: () => view(1, { ips: [ip('198.18.0.100', 'n2')] }), observer: { added: (x) => added.push(x.clientName) } });
    const netName = `filesrv.${'d'.repeat(255 - 8)}`;
    assert.equal(netName.length, 255);
    const ok = reg.register({ ...V2, netName, ipAddress: '198.18.0.100', clientName: 'c'.repeat(255), shareName: 's'.repeat(80) }, client(), true);
    assert.equal(ok.status, WinError.SUCCESS);
    assert.deepEqual(added, ['c'.repeat(255)]);
    reg.close();
  });
});
