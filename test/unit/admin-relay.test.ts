// Cross-node admin requests without a cluster: the wire format, the relay's handling of request
// attributes (import once, answer `list`, publish outcomes, delete what it consumed, drop junk and
// stale requests) and the asker's round trip, over an in-memory attribute manager. The real
// attrd_updater path is exercised on the 3-node cluster (test/cluster).

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { openStore } from '../../store/index.ts';
import { finishAdminRequest, pendingAdminRequests } from '../../store/admin-requests.ts';
import { decodeWireRequest, REQUEST_ATTR_PREFIX, RESULT_ATTR_PREFIX } from '../../agent/admin/wire.ts';
import { writeRegistrationChanges, type RegistrationRow } from '../../store/registrations.ts';
import { AdminRelay, REQUEST_TTL_MS } from '../../agent/admin/relay.ts';
import { askNode, newRequestId, RemoteTimeout } from '../../agent/admin/remote.ts';
import type { Attrd } from '../../agent/admin/attrd.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-relay-'));
after(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

/** Every node's transient attributes, in memory, with a log of calls. */
class FakeAttrd implements Attrd {
  readonly nodes = new Map<string, Map<string, string>>();
  readonly calls: string[] = [];
  private of(node: string): Map<string, string> {
    let m = this.nodes.get(node);
    if (!m) this.nodes.set(node, (m = new Map<string, string>()));
    return m;
  }
  set(node: string, name: string, value: string): Promise<void> {
    this.calls.push(`set ${node} ${name}`);
    this.of(node).set(name, value);
    return Promise.resolve();
  }
  remove(node: string, name: string): Promise<void> {
    this.calls.push(`remove ${node} ${name}`);
    this.of(node).delete(name);
    return Promise.resolve();
  }
  get(node: string, name: string): Promise<string | null> {
    return Promise.resolve(this.of(node).get(name) ?? null);
  }
  attrs(node: string): Record<string, string> {
    return Object.fromEntries(this.of(node));
  }
}

function row(key: string, client: string, node: string): RegistrationRow {
  return { key, node, pid: 1, version: 0x20000, netName: 'FILESRV', shareName: null, ipAddress: '198.18.0.100', clientName: client, flags: 0, keepAlive: 60, association: 1, remote: 'r', local: 'l', identity: null, createdAt: 1, lastUse: 1, pending: true, notificationsSent: 0, removedAt: null, removedReason: null };
}

const log = pino({ level: 'silent' });

describe('cross-node admin requests', () => {
  it('the wire request is checked field by field', () => {
    const ok = { id: '0123456789abcdef', from: 'n1', at: 1, kind: 'client-move', selector: { client: 'C', bogus: 1 }, target: { node: 'n3' } };
    assert.deepEqual(decodeWireRequest(JSON.stringify(ok)), { id: ok.id, from: 'n1', at: 1, kind: 'client-move', selector: { client: 'C' }, target: { node: 'n3' } });
    for (const [bad, why] of [
      ['{', /not JSON/],
      ['[]', /not an object/],
      [JSON.stringify({ ...ok, id: 'xyz' }), /bad id/],
      [JSON.stringify({ ...ok, kind: 'reboot' }), /unknown kind reboot/],
      [JSON.stringify({ ...ok, selector: { client: 7 } }), /bad selector.client/],
      [JSON.stringify({ ...ok, from: '' }), /bad from/],
      [JSON.stringify({ ...ok, kind: 'list', globs: 'x*' }), /bad globs/],
      [JSON.stringify({ ...ok, kind: 'list', globs: { client: 7 } }), /bad globs\.client/],
    ] as const) assert.throws(() => decodeWireRequest(bad), why);
  });

  it('list patterns on the wire: globs as text; an older witnessctl\'s regular expressions (filters) are flagged, never kept', () => {
    const list = { id: '0123456789abcdef', from: 'n1', at: 1, kind: 'list', selector: {}, target: {} };
    assert.deepEqual(decodeWireRequest(JSON.stringify({ ...list, globs: { client: 'admin-*', user: 'DOM\\*', bogus: '*' } })).globs, { client: 'admin-*', user: 'DOM\\*' });
    const old = decodeWireRequest(JSON.stringify({ ...list, filters: { client: '(a+)+$' } }));
    assert.equal(old.regexFilters, true);
    assert.equal(JSON.stringify(old).includes('(a+)+$'), false, 'the regular expression is not carried further');
    assert.equal(decodeWireRequest(JSON.stringify(list)).regexFilters, undefined);
  });

  it('the relay queues a request once for witnessd, deletes the attribute, and publishes the outcome when witnessd is done', async () => {
    const store = openStore(path.join(tmp, 'a.db'));
    const attrd = new FakeAttrd();
    const relay = new AdminRelay({ store, node: 'n2', attrd, logger: log });
    const id = newRequestId();
    await attrd.set('n2', `${REQUEST_ATTR_PREFIX}${id}`, JSON.stringify({ id, from: 'n1', at: Date.now(), kind: 'client-move', selector: { client: 'C' }, target: { node: 'n3' } }));
    // The attribute shows up in several CIB updates before the deletion lands: imported once.
    const seen = attrd.attrs('n2');
    relay.onAttributes(seen);
    relay.onAttributes(seen);
    await relay.settle();
    const pending = pendingAdminRequests(store, 'n2');
    assert.deepEqual(pending.map((r) => [r.kind, r.selector, r.target, r.ref, r.origin]), [['client-move', { client: 'C' }, { node: 'n3' }, id, 'n1']]);
    assert.deepEqual(attrd.attrs('n2'), {}, 'the request attribute is deleted');
    const relay2 = new AdminRelay({ store, node: 'n2', attrd, logger: log }); // e.g. the agent restarted
    relay2.onAttributes(seen);
    assert.equal(pendingAdminRequests(store, 'n2').length, 1, 'idempotent on the request id');
    // witnessd carries it out; the store change makes the relay publish the outcome.
    finishAdminRequest(store, pending[0]?.seq ?? 0, true, { registrations: 1 });
    relay.onStoreChange();
    relay.onStoreChange();
    await relay.settle();
    const res = JSON.parse(attrd.attrs('n2')[`${RESULT_ATTR_PREFIX}${id}`] ?? 'null') as { id: string; node: string; ok: boolean; result: unknown };
    assert.deepEqual([res.id, res.node, res.ok, res.result], [id, 'n2', true, { registrations: 1 }]);
    assert.equal(attrd.calls.filter((c) => c.startsWith('set n2 witness-admin-result-')).length, 1, 'published once');
    relay.onStoreChange();
    await relay.settle();
    assert.equal(attrd.calls.filter((c) => c.startsWith('set n2 witness-admin-result-')).length, 1, 'not again after it was marked published');
    store.close();
  });

  it('list is answered from the local store, capped; junk and stale requests are deleted unread', async () => {
    const store = openStore(path.join(tmp, 'b.db'));
    writeRegistrationChanges(store, { upserts: Array.from({ length: 150 }, (_, i) => row(`k${i}`, i % 2 ? `odd-${i}` : `even-${i}`, 'n2')), removals: [], notifications: [] });
    const attrd = new FakeAttrd();
    const relay = new AdminRelay({ store, node: 'n2', attrd, logger: log });
    const all = newRequestId();
    const odd = newRequestId();
    await attrd.set('n2', `${REQUEST_ATTR_PREFIX}${all}`, JSON.stringify({ id: all, from: 'n1', at: Date.now(), kind: 'list', selector: {}, target: {} }));
    await attrd.set('n2', `${REQUEST_ATTR_PREFIX}${odd}`, JSON.stringify({ id: odd, from: 'n1', at: Date.now(), kind: 'list', selector: {}, target: {}, globs: { client: 'ODD-1*' } }));
    await attrd.set('n2', `${REQUEST_ATTR_PREFIX}junk`, 'not json');
    const stale = newRequestId();
    await attrd.set('n2', `${REQUEST_ATTR_PREFIX}${stale}`, JSON.stringify({ id: stale, from: 'n1', at: Date.now() - REQUEST_TTL_MS - 1, kind: 'force-unregister', selector: { all: true }, target: {} }));
    relay.onAttributes(attrd.attrs('n2'));
    await relay.settle();
    const left = attrd.attrs('n2');
    assert.deepEqual(Object.keys(left).sort(), [`${RESULT_ATTR_PREFIX}${all}`, `${RESULT_ATTR_PREFIX}${odd}`].sort());
    const a = JSON.parse(left[`${RESULT_ATTR_PREFIX}${all}`] ?? '{}') as { result: { registrations: number; rows: unknown[]; truncated: boolean } };
    assert.deepEqual([a.result.registrations, a.result.truncated], [150, true]);
    assert.ok(a.result.rows.length > 50 && a.result.rows.length <= 100, `${a.result.rows.length} rows`);
    assert.ok((left[`${RESULT_ATTR_PREFIX}${all}`] ?? '').length < 25_000, 'the answer stays small');
    const o = JSON.parse(left[`${RESULT_ATTR_PREFIX}${odd}`] ?? '{}') as { result: { registrations: number; rows: { clientName: string }[] } };
    const expected = Array.from({ length: 150 }, (_, i) => i).filter((i) => i % 2 === 1 && String(i).startsWith('1')).length; // 1, 11…19, 101…149
    assert.equal(o.result.registrations, expected);
    assert.equal(o.result.rows.length, expected);
    assert.ok(o.result.rows.every((r) => /^odd-1/.test(r.clientName)));
    assert.equal(pendingAdminRequests(store, 'n2').length, 0, 'the stale request was not queued');
    store.close();
  });

  it('list patterns from other nodes: globs matched in linear time, regular expressions refused unrun, bad patterns answered with an error', async () => {
    const store = openStore(path.join(tmp, 'd.db'));
    // Names that make backtracking matchers run away: (a+)+$ against a's and a '!', .*a.*a… against a's.
    writeRegistrationChanges(store, { upserts: [row('k1', 'a'.repeat(10_000), 'n2'), row('k2', `${'a'.repeat(40)}!`, 'n2'), row('k3', 'admin-x', 'n2')], removals: [], notifications: [] });
    const attrd = new FakeAttrd();
    const relay = new AdminRelay({ store, node: 'n2', attrd, logger: log });
    const ask = async (extra: Record<string, unknown>): Promise<{ ok: boolean; result: Record<string, unknown>; ms: number }> => {
      const id = newRequestId();
      await attrd.set('n2', `${REQUEST_ATTR_PREFIX}${id}`, JSON.stringify({ id, from: 'n1', at: Date.now(), kind: 'list', selector: {}, target: {}, ...extra }));
      const t0 = performance.now();
      relay.onAttributes(attrd.attrs('n2'));
      await relay.settle();
      const ms = performance.now() - t0;
      const res = JSON.parse(attrd.attrs('n2')[`${RESULT_ATTR_PREFIX}${id}`] ?? 'null') as { ok: boolean; result: Record<string, unknown> };
      await attrd.remove('n2', `${RESULT_ATTR_PREFIX}${id}`);
      return { ...res, ms };
    };
    const clients = (r: { result: Record<string, unknown> }): string[] => (r.result['rows'] as { clientName: string }[]).map((x) => x.clientName);
    // A pathological glob: a prompt, correct answer (and the relay says it applied globs).
    const slow = await ask({ globs: { client: '*a*a*a*a*a*a*a*b' } });
    assert.deepEqual([slow.result['registrations'], slow.result['patterns']], [0, 'glob']);
    assert.ok(slow.ms < 1000, `${slow.ms.toFixed(1)} ms`);
    const many = await ask({ globs: { client: '*a*a*a*a*a*a*a*' } });
    assert.equal(many.result['registrations'], 2);
    // (a+)+$ as a glob is literal text: no match, at once.
    const classic = await ask({ globs: { client: '(a+)+$' } });
    assert.deepEqual([classic.result['registrations'], classic.ms < 1000], [0, true]);
    assert.deepEqual(clients(await ask({ globs: { client: 'ADMIN-?' } })), ['admin-x']);
    // An older witnessctl's regular expression: refused with an answer it shows, never compiled.
    const legacy = await ask({ filters: { client: '(a+)+$' } });
    assert.equal(legacy.result['rows'], undefined);
    assert.match(String(legacy.result['error']), /n2 takes glob patterns, not regular expressions \(the asking witnessctl on n1 is older\)/);
    assert.ok(legacy.ms < 1000, `${legacy.ms.toFixed(1)} ms`);
    // Too long, or malformed: an error naming the field.
    assert.match(String((await ask({ globs: { client: 'a'.repeat(257) } })).result['error']), /^--client: pattern of 257 characters; at most 256 are taken$/);
    assert.match(String((await ask({ globs: { share: '[z-a]' } })).result['error']), /^--share: range z-a is reversed/);
    assert.deepEqual(Object.keys(attrd.attrs('n2')), [], 'every request consumed');
    store.close();
  });

  it('askNode: request out, answer in, both attributes gone; a node that never answers times out and the request is withdrawn', async () => {
    const store = openStore(path.join(tmp, 'c.db'));
    const attrd = new FakeAttrd();
    const relay = new AdminRelay({ store, node: 'n2', attrd, logger: log });
    // Play the CIB: hand n2's attributes to its relay, and let "witnessd" finish what it queues.
    const pump = setInterval(() => {
      relay.onAttributes(attrd.attrs('n2'));
      for (const r of pendingAdminRequests(store, 'n2')) finishAdminRequest(store, r.seq, true, { registrations: 2 });
      relay.onStoreChange();
    }, 10);
    try {
      const r = await askNode(attrd, 'n2', { id: newRequestId(), from: 'n1', at: Date.now(), kind: 'force-unregister', selector: { client: 'C' }, target: {} }, 5000, 10);
      assert.deepEqual([r.node, r.ok, r.result], ['n2', true, { registrations: 2 }]);
      await relay.settle();
      assert.deepEqual(attrd.attrs('n2'), {});
      const id = newRequestId();
      await assert.rejects(askNode(attrd, 'n3', { id, from: 'n1', at: Date.now(), kind: 'list', selector: {}, target: {} }, 100, 10), RemoteTimeout);
      assert.deepEqual(attrd.attrs('n3'), {}, 'withdrawn');
    } finally {
      clearInterval(pump);
      store.close();
    }
  });
});
