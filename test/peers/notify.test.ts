// Notifications end to end on loopback: the agent's own diff writes events to the store, witnessd's
// notifier completes python3-samba's pending AsyncNotify calls, and the audit trail records each.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { diffViews } from '../../agent/diff.ts';
import { openStore } from '../../store/index.ts';
import { listNotifications, listRegistrations } from '../../store/registrations.ts';
import type { ClusterView } from '../../store/types.ts';
import { ChangeType, MessageType, WitnessVersion } from '../../service/swn/constants.ts';
import { ip, runPy, startWitnessd, twoNodeView, type PyResult, type Witnessd } from './peers.ts';
import { appendEvents, lastEvents } from '../../store/events.ts';
import { commitSync } from '../../store/view.ts';

function commit(db: string, v: ClusterView): void {
  const s = openStore(db);
  try {
    commitSync(s, v, diffViews);
  } finally {
    s.close();
  }
}

async function pendingFor(db: string, client: string, n = 1): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const s = openStore(db, { readonly: true });
    const k = listRegistrations(s).filter((r) => r.clientName === client && r.pending).length;
    s.close();
    if (k >= n) return;
    if (Date.now() - t0 > 10_000) throw new Error(`no pending AsyncNotify for ${client}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const share = (node: string, ips: string[]) => [{ name: 'data', resource: 'g1', node, ips }];
let epoch = 10;
const view = (over: Partial<ClusterView>): ClusterView => twoNodeView(++epoch, over);

describe('notifications to python3-samba clients', { timeout: 120_000 }, () => {
  let w: Witnessd;
  before(async () => {
    w = await startWitnessd({ view: view({ shares: share('n2', ['127.0.0.2']) }) });
  });
  after(async () => { await w.stop(); });

  const connect = (): Record<string, unknown> & { op: string } => ({ op: 'connect', conn: 'a', port: w.port });
  const messages = (r: PyResult | undefined): unknown => (r?.['result'] as { messages: unknown } | undefined)?.messages;
  const typeOf = (r: PyResult | undefined): unknown => (r?.['result'] as { type: unknown } | undefined)?.type;

  it('an IP that moves: RESOURCE_CHANGE UNAVAILABLE, then AVAILABLE, named by the NetName; both audited', async () => {
    const client = runPy([connect(),
      { op: 'RegisterEx', conn: 'a', version: WitnessVersion.V2, net: 'filesrv', share: null, ip: '127.0.0.2', client: 'mover', flags: 0, timeout: 30, save: 'h' },
      { op: 'AsyncNotify', conn: 'a', handle: 'h' },
      { op: 'AsyncNotify', conn: 'a', handle: 'h' }]);
    await pendingFor(w.db, 'mover');
    commit(w.db, view({ ips: [ip('127.0.0.1', 'n1', 'vip1'), ip('127.0.0.2', 'n1', 'vip2')], shares: share('n2', ['127.0.0.2']) }));
    const r = await client;
    assert.equal(typeOf(r[2]), MessageType.RESOURCE_CHANGE);
    assert.deepEqual(messages(r[2]), [{ name: 'FILESRV', change: ChangeType.UNAVAILABLE }]);
    assert.deepEqual(messages(r[3]), [{ name: 'FILESRV', change: ChangeType.AVAILABLE }]);
    await new Promise((res) => setTimeout(res, 100));
    const s = openStore(w.db, { readonly: true });
    const audit = listNotifications(s).filter((n) => n.clientName === 'mover');
    const events = lastEvents(s, 5);
    s.close();
    assert.deepEqual(audit.map((a) => [a.type, a.summary, a.outcome]), [[1, 'FILESRV UNAVAILABLE', 'delivered'], [1, 'FILESRV AVAILABLE', 'delivered']]);
    const moved = events.find((e) => e.kind === 'ip_moved' && e.subject === '127.0.0.2');
    assert.ok(moved);
    assert.ok(audit.every((a) => a.eventSeq === moved.seq && a.latencyMs !== null && a.latencyMs < 2000));
  });

  it('an IP that stops: UNAVAILABLE; IP_CHANGE OFFLINE for a client that asked for IP notifications', async () => {
    const plain = runPy([connect(),
      { op: 'Register', conn: 'a', version: WitnessVersion.V1, net: 'FILESRV', ip: '127.0.0.2', client: 'v1', save: 'h' },
      { op: 'AsyncNotify', conn: 'a', handle: 'h' }]);
    const ipn = runPy([connect(),
      { op: 'RegisterEx', conn: 'a', version: WitnessVersion.V2, net: 'FILESRV', share: null, ip: '127.0.0.1', client: 'ipn', flags: 1, timeout: 30, save: 'h' },
      { op: 'AsyncNotify', conn: 'a', handle: 'h' }]);
    await pendingFor(w.db, 'v1');
    await pendingFor(w.db, 'ipn');
    commit(w.db, view({ ips: [ip('127.0.0.1', 'n1', 'vip1'), ip('127.0.0.2', null, 'vip2')], shares: share('n2', []) }));
    const [a, b] = await Promise.all([plain, ipn]);
    assert.deepEqual(messages(a[2]), [{ name: 'FILESRV', change: ChangeType.UNAVAILABLE }]);
    assert.equal(typeOf(b[2]), MessageType.IP_CHANGE);
    assert.deepEqual(messages(b[2]), [{ addresses: [{ flags: 0x01 | 0x10, ipv4: '127.0.0.2', ipv6: '0000:0000:0000:0000:0000:0000:0000:0000' }] }]);
  });

  it('a share that moves: SHARE_MOVE with the IPs of its new node', async () => {
    commit(w.db, view({ shares: share('n2', ['127.0.0.2']) }));
    const c = runPy([connect(),
      { op: 'RegisterEx', conn: 'a', version: WitnessVersion.V2, net: 'FILESRV', share: 'DATA', ip: '127.0.0.2', client: 'sharer', flags: 0, timeout: 30, save: 'h' },
      { op: 'AsyncNotify', conn: 'a', handle: 'h' }]);
    await pendingFor(w.db, 'sharer');
    commit(w.db, view({ shares: share('n1', ['127.0.0.1']) }));
    const r = await c;
    assert.equal(typeOf(r[2]), MessageType.SHARE_MOVE);
    assert.deepEqual(messages(r[2]), [{ addresses: [{ flags: 0x01 | 0x08, ipv4: '127.0.0.1', ipv6: '0000:0000:0000:0000:0000:0000:0000:0000' }] }]);
  });

  it('a planned move (the agent\'s ip_move_planned): CLIENT_MOVE to the IPs up on the destination, before the IP goes down', async () => {
    const v = view({ ips: [ip('127.0.0.1', 'n1', 'vip1'), ip('127.0.0.2', 'n2', 'vip2')] });
    commit(w.db, v);
    const c = runPy([connect(),
      { op: 'RegisterEx', conn: 'a', version: WitnessVersion.V2, net: 'FILESRV', share: null, ip: '127.0.0.2', client: 'planned', flags: 0, timeout: 30, save: 'h' },
      { op: 'AsyncNotify', conn: 'a', handle: 'h' }]);
    await pendingFor(w.db, 'planned');
    const s = openStore(w.db);
    try {
      appendEvents(s, [{ kind: 'ip_move_planned', subject: '127.0.0.2', from: 'n2', to: 'n1', payload: { resource: 'vip2' } }], v.cib);
    } finally {
      s.close();
    }
    const r = await c;
    assert.equal(typeOf(r[2]), MessageType.CLIENT_MOVE, JSON.stringify(r[2]));
    assert.deepEqual(messages(r[2]), [{ addresses: [{ flags: 0x01 | 0x08, ipv4: '127.0.0.1', ipv6: '0000:0000:0000:0000:0000:0000:0000:0000' }] }]);
    let audit: ReturnType<typeof listNotifications> = [];
    for (let i = 0; i < 100 && audit.length === 0; i++) {
      await new Promise((res) => setTimeout(res, 20)); // the journal writes in batches
      const s2 = openStore(w.db, { readonly: true });
      audit = listNotifications(s2).filter((n) => n.clientName === 'planned');
      s2.close();
    }
    assert.deepEqual(audit.map((n) => [n.type, n.summary]), [[MessageType.CLIENT_MOVE, 'planned move of 127.0.0.2 to n1: 127.0.0.1']]);
  });
});

describe('the Windows re-registration workaround', { timeout: 60_000 }, () => {
  it('after UNAVAILABLE, the registration is dropped after --force-unregister-after seconds: the next AsyncNotify gets ERROR_NOT_FOUND', async () => {
    const w = await startWitnessd({ view: twoNodeView(1), extra: ['--force-unregister-after', '1'] });
    try {
      const c = runPy([{ op: 'connect', conn: 'a', port: w.port },
        { op: 'RegisterEx', conn: 'a', version: WitnessVersion.V2, net: 'FILESRV', share: null, ip: '127.0.0.2', client: 'windows', flags: 0, timeout: 30, save: 'h' },
        { op: 'AsyncNotify', conn: 'a', handle: 'h' },
        { op: 'AsyncNotify', conn: 'a', handle: 'h' }]);
      await pendingFor(w.db, 'windows');
      commit(w.db, twoNodeView(2, { ips: [ip('127.0.0.1', 'n1', 'vip1'), ip('127.0.0.2', null, 'vip2')] }));
      const r = await c;
      assert.deepEqual((r[2]?.['result'] as { messages: unknown }).messages, [{ name: 'FILESRV', change: ChangeType.UNAVAILABLE }]);
      assert.equal(r[3]?.werror, 0x490, 'ERROR_NOT_FOUND: the client re-registers from GetInterfaceList');
      const t2 = Number(r[3]?.['t']);
      const t1 = Number(r[2]?.['t']);
      assert.ok(t2 - t1 >= 0.9 && t2 - t1 < 5, `dropped ${t2 - t1} s after the notification`);
      // The store copy follows within the journal's flush interval.
      let reason: string | null | undefined;
      for (let i = 0; i < 100 && reason !== 'workaround'; i++) {
        const s = openStore(w.db, { readonly: true });
        reason = listRegistrations(s, { all: true }).find((x) => x.clientName === 'windows')?.removedReason;
        s.close();
        if (reason !== 'workaround') await new Promise((res) => setTimeout(res, 20));
      }
      assert.equal(reason, 'workaround');
    } finally {
      await w.stop();
    }
  });
});
