import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { openStore, RESERVE_BYTES, StoreError } from '../../store/index.ts';
import { toStoreError } from '../../store/errors.ts';
import { watchStore } from '../../store/commit-watch.ts';
import { SCHEMA_VERSION } from '../../store/schema.ts';
import type { ClusterView, NewEvent } from '../../store/types.ts';
import { ip, view } from '../helpers/views.ts';
import { appendEvents, eventsAfter, lastSeq } from '../../store/events.ts';
import { commitSync, readView } from '../../store/view.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-store-'));
after(() => { fs.rmSync(tmp, { recursive: true, force: true }); });
let n = 0;
const fresh = (): string => path.join(tmp, `s${++n}`, 'state.db');

/** A diff that reports every IP whose node changed; enough to exercise the store. */
function ipDiff(prev: ClusterView | null, next: ClusterView): NewEvent[] {
  if (!prev) return [];
  const out: NewEvent[] = [];
  for (const ipv of next.ips) {
    const old = prev.ips.find((p) => p.address === ipv.address);
    if (old?.node !== ipv.node) out.push({ kind: 'ip_moved', subject: ipv.address, from: old?.node ?? null, to: ipv.node, payload: { resource: ipv.resource } });
  }
  return out;
}

describe('store', () => {
  it('creates the file 0600 in a 0700 directory, in WAL mode, at the current schema version', () => {
    const file = fresh();
    const s = openStore(file);
    try {
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
      assert.equal(s.db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(s.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.equal(readView(s), null);
      assert.equal(lastSeq(s), 0);
    } finally { s.close(); }
  });

  it('round-trips a view and writes events with increasing seq', () => {
    const s = openStore(fresh());
    try {
      const v1 = view(10, { ips: [ip('198.18.0.100', 'n1')] });
      assert.deepEqual(commitSync(s, v1, ipDiff, 1000), { applied: true, events: [] });
      assert.deepEqual(readView(s), v1);
      const v2 = view(11, { ips: [ip('198.18.0.100', 'n2')] });
      const r = commitSync(s, v2, ipDiff, 2000);
      assert.equal(r.applied, true);
      assert.deepEqual(r.events.map((e) => [e.seq, e.kind, e.subject, e.from, e.to, e.at]), [[1, 'ip_moved', '198.18.0.100', 'n1', 'n2', 2000]]);
      assert.deepEqual(eventsAfter(s, 0), r.events);
      assert.deepEqual(eventsAfter(s, 1), []);
      assert.deepEqual(readView(s), v2);
    } finally { s.close(); }
  });

  it('is idempotent: the same CIB twice writes no event', () => {
    const s = openStore(fresh());
    try {
      commitSync(s, view(1, { ips: [ip('198.18.0.1', 'n1')] }), ipDiff);
      commitSync(s, view(2, { ips: [ip('198.18.0.1', 'n2')] }), ipDiff);
      const again = commitSync(s, view(2, { ips: [ip('198.18.0.1', 'n2')] }), ipDiff);
      assert.deepEqual(again.events, []);
      assert.equal(lastSeq(s), 1);
    } finally { s.close(); }
  });

  it('ignores a CIB revision older than the stored one', () => {
    const s = openStore(fresh());
    try {
      commitSync(s, view(5, { ips: [ip('198.18.0.1', 'n1')] }), ipDiff);
      commitSync(s, view(7, { ips: [ip('198.18.0.1', 'n2')] }), ipDiff);
      const stale = commitSync(s, view(6, { ips: [ip('198.18.0.1', 'n1')] }), ipDiff);
      assert.deepEqual(stale, { applied: false, events: [] });
      assert.equal(readView(s)?.ips[0]?.node, 'n2');
      assert.equal(lastSeq(s), 1);
    } finally { s.close(); }
  });

  it('two processes syncing the same change at once write its event exactly once', async () => {
    const file = fresh();
    const s = openStore(file);
    commitSync(s, view(1, { ips: [ip('198.18.0.1', 'n1')] }), ipDiff);
    s.close();
    // Each child commits the same sequence of views; the IMMEDIATE transaction serialises them.
    const script = `
      import { openStore } from ${JSON.stringify(path.resolve('store/index.ts'))};
      import { commitSync } from ${JSON.stringify(path.resolve('store/view.ts'))};
      const [file] = process.argv.slice(-1);
      const s = openStore(file);
      const diff = (p, n) => !p ? [] : n.ips.filter((x) => p.ips.find((y) => y.address === x.address)?.node !== x.node)
        .map((x) => ({ kind: 'ip_moved', subject: x.address, from: null, to: x.node, payload: {} }));
      const v = (e, node) => ({ cib: { adminEpoch: 0, epoch: e, numUpdates: 0 }, dc: 'n1', nodes: [], shares: [], witness: [],
        ips: [{ resource: 'r', agent: 'a', group: null, clone: null, address: '198.18.0.1', family: 4, prefix: 24, node, started: true, failed: false }] });
      for (let e = 2; e <= 40; e++) commitSync(s, v(e, e % 2 ? 'n1' : 'n2'), diff);
      s.close();`;
    const runs = [0, 1, 2].map(() => new Promise<number>((resolve, reject) => {
      const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, file], { stdio: ['ignore', 'ignore', 'inherit'] });
      c.on('error', reject);
      c.on('exit', (code) => { resolve(code ?? -1); });
    }));
    assert.deepEqual(await Promise.all(runs), [0, 0, 0]);
    const r = openStore(file, { readonly: true });
    try {
      const events = eventsAfter(r, 0);
      // 39 distinct moves (epochs 2..40), each written by whichever process got there first.
      assert.equal(events.length, 39);
      assert.deepEqual(events.map((e) => e.cib.epoch), Array.from({ length: 39 }, (_, i) => i + 2));
    } finally { r.close(); }
  });

  it('a reader in another process learns of a commit within milliseconds', async () => {
    const file = fresh();
    const w = openStore(file);
    commitSync(w, view(1), ipDiff);
    const r = openStore(file, { readonly: true });
    const seen = new Promise<number>((resolve) => {
      const watch = watchStore(r, () => { watch.close(); resolve(Date.now()); }, { pollMs: 10_000 });
    });
    const script = `
      import { openStore } from ${JSON.stringify(path.resolve('store/index.ts'))};
      import { commitSync } from ${JSON.stringify(path.resolve('store/view.ts'))};
      const s = openStore(process.argv.at(-1));
      const v = { cib: { adminEpoch: 0, epoch: 2, numUpdates: 0 }, dc: 'n1', nodes: [], ips: [], shares: [], witness: [] };
      commitSync(s, v, () => [{ kind: 'node_lost', subject: 'n2', from: null, to: null, payload: {} }]);
      console.log(Date.now());`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    await new Promise((res) => child.on('exit', res));
    const committedAt = Number(out.trim());
    const at = await seen;
    // inotify, not the 10 s poll, must have woken us.
    assert.ok(at - committedAt < 1000, `reader woke ${at - committedAt} ms after the commit`);
    assert.equal(eventsAfter(r, 0).length, 1);
    r.close();
    w.close();
  });

  it('keeps a reserve for the agent: a sync that finds no room (SQLITE_FULL) writes its events into the reserve\'s pages; out of room, the error names the file', () => {
    const file = fresh();
    const s = openStore(file);
    try {
      assert.equal(s.db.prepare('SELECT length(filler) AS n FROM store_reserve').pluck().get(), RESERVE_BYTES, 'a writer makes the reserve when it opens the store');
      commitSync(s, view(1, { ips: [ip('198.18.0.100', 'n1')] }), ipDiff);
      // The file may not grow any more: what SQLite sees on a full disk (after a checkpoint).
      s.db.pragma(`max_page_count = ${s.db.pragma('page_count', { simple: true }) as number}`);
      const many = (epoch: number, node: string) => view(epoch, { ips: Array.from({ length: 150 }, (_, i) => ip(`198.18.${Math.floor(i / 200)}.${i % 200}`, node)) });
      const r = commitSync(s, many(2, 'n1'), ipDiff);
      assert.equal(r.applied, true);
      assert.equal(s.db.prepare('SELECT COUNT(*) FROM store_reserve').pluck().get(), 0, 'the reserve was used');
      assert.equal(readView(s)?.ips.length, 150);
      assert.throws(() => commitSync(s, view(3, { ips: Array.from({ length: 3000 }, (_, i) => ip(`10.0.${Math.floor(i / 250)}.${i % 250}`, 'n2')) }), ipDiff),
        (e: unknown) => e instanceof StoreError && e.code === 'full' && e.message.includes(file));
      s.db.pragma('max_page_count = 1000000');
      assert.equal(s.ensureReserve(), true, 'put back once there is room');
      assert.equal(s.db.prepare('SELECT COUNT(*) FROM store_reserve').pluck().get(), 1);
    } finally { s.close(); }
  });

  it('limits one connection\'s growth (max_page_count) to a budget for the client tables, while another connection grows the file', () => {
    const file = fresh();
    const agent = openStore(file);
    const witnessd = openStore(file);
    try {
      commitSync(agent, view(1), ipDiff);
      const b = witnessd.limitClientGrowth(64 * 4096);
      assert.equal(b.budgetPages, 64);
      assert.equal(b.maxPages, Math.max(b.filePages, witnessd.otherPages() + 64), 'the pages of everything else, and 64 for the client tables');
      const ins = witnessd.db.prepare("INSERT INTO notifications (registration, client_name, node, type, summary, sent_at, outcome) VALUES ('k', ?, 'n1', 1, 's', 0, 'delivered')");
      assert.throws(() => { witnessd.db.transaction(() => { for (let i = 0; i < 2000; i++) ins.run('c'.repeat(200)); })(); }, (e: unknown) => (e as { code?: string }).code === 'SQLITE_FULL');
      assert.ok(witnessd.clientPages() <= 64);
      // The agent is not limited: its events grow the file past witnessd's cap.
      const events = Array.from({ length: 3000 }, (_, i) => ({ kind: 'ip_moved' as const, subject: `198.18.0.${i % 250}`, from: 'n1', to: 'n2', payload: { pad: 'p'.repeat(100) } }));
      appendEvents(agent, events, { adminEpoch: 0, epoch: 1, numUpdates: 0 });
      assert.ok((agent.db.pragma('page_count', { simple: true }) as number) > b.maxPages);
      // Set again, the cap follows the agent's growth and the budget still holds.
      const again = witnessd.limitClientGrowth(64 * 4096);
      assert.ok(again.maxPages > b.maxPages);
      for (let i = 0; i < 100; i++) ins.run('x');
      assert.throws(() => { witnessd.db.transaction(() => { for (let i = 0; i < 2000; i++) ins.run('c'.repeat(200)); })(); }, (e: unknown) => (e as { code?: string }).code === 'SQLITE_FULL');
      assert.ok(witnessd.clientPages() <= 64, `${witnessd.clientPages()} client pages`);
    } finally {
      witnessd.close();
      agent.close();
    }
  });

  it('says a full disk is full, and names the file', () => {
    const e = toStoreError(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }), '/var/lib/pacemaker-witness/state.db');
    assert.ok(e instanceof StoreError && e.code === 'full' && e.message.includes('/var/lib/pacemaker-witness/state.db') && /no space left/.test(e.message));
  });

  it('gives clear errors for a missing, corrupt or too-new store', () => {
    const missing = path.join(tmp, 'nope', 'state.db');
    assert.throws(() => openStore(missing, { readonly: true }), (e: unknown) => e instanceof StoreError && e.code === 'missing' && /does not exist/.test(e.message));
    const corrupt = fresh();
    fs.mkdirSync(path.dirname(corrupt), { recursive: true });
    fs.writeFileSync(corrupt, 'this is not a database, just text that is long enough to look like a header'.repeat(20));
    assert.throws(() => openStore(corrupt), (e: unknown) => e instanceof StoreError && e.code === 'corrupt');
    assert.throws(() => openStore(corrupt, { readonly: true }), (e: unknown) => e instanceof StoreError && e.code === 'corrupt');
    const future = fresh();
    const s = openStore(future);
    s.db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    s.close();
    assert.throws(() => openStore(future), (e: unknown) => e instanceof StoreError && e.code === 'version');
  });
});
