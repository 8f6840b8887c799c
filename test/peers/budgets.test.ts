// Budgets against a running witnessd, with the project's raw client (unauthenticated, --auth none):
// registration caps, names longer than Windows allows, the store's growth under a registration
// storm, and a full disk (a small tmpfs holding the store, as root): witnessd keeps serving, the
// agent's sync still writes events, what witnessd could not write waits, what the full queue
// could not take is counted, and the rest lands once there is space again.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { diffViews } from '../../agent/diff.ts';
import { openStore } from '../../store/index.ts';
import { listNotifications, listRegistrations, readJournalCounters } from '../../store/registrations.ts';
import type { ClusterView } from '../../store/types.ts';
import { decodeAsyncNotifyResponse, decodeHandleAndStatus, decodeInterfaceListResponse, encodeRegister, encodeRegisterEx } from '../../service/swn/codec.ts';
import { MessageType, Opnum, WinError, WitnessVersion } from '../../service/swn/constants.ts';
import { RawClient, stubOf } from '../helpers/rpc-client.ts';
import { ip, ROOT, startWitnessd, twoNodeView, writeView, type Witnessd } from './peers.ts';
import { commitSync } from '../../store/view.ts';

interface Reg { status: number; handle: Buffer }

async function registerEx(c: RawClient, clientName: string, o: { netName?: string; shareName?: string | null; ipAddress?: string } = {}): Promise<Reg> {
  const p = await c.call(Opnum.RegisterEx, encodeRegisterEx({ version: WitnessVersion.V2, netName: o.netName ?? 'FILESRV', shareName: o.shareName ?? null, ipAddress: o.ipAddress ?? '127.0.0.2', clientName, flags: 0, keepAliveSec: 120 }));
  return decodeHandleAndStatus(stubOf(p));
}

async function unregister(c: RawClient, handle: Buffer): Promise<number> {
  return stubOf(await c.call(Opnum.UnRegister, handle)).readUInt32LE(0);
}

async function bound(port: number, assoc = 0): Promise<RawClient> {
  const c = await RawClient.connect(port);
  await c.bind(assoc);
  return c;
}

function config(dir: string, limits: Record<string, number>): string {
  const f = path.join(dir, `limits-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(f, JSON.stringify({ limits }));
  return f;
}

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function withStore<T>(db: string, f: (s: ReturnType<typeof openStore>) => T): T {
  const s = openStore(db, { readonly: true });
  try {
    return f(s);
  } finally {
    s.close();
  }
}

/** The store's files: database, WAL and shared memory. */
function storeBytes(db: string): number {
  return ['', '-wal', '-shm'].reduce((n, x) => n + (fs.existsSync(db + x) ? fs.statSync(db + x).size : 0), 0);
}

function ctl(db: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'service/ctl/main.ts'), ...args, '--db', db], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-budgets-'));
after(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

describe('registration caps and name lengths', { timeout: 120_000 }, () => {
  let w: Witnessd;
  before(async () => {
    const cfg = config(tmp, { maxRegistrationsPerConnection: 3, maxRegistrationsPerAssociation: 5, maxRegistrationsPerClientName: 4, maxRegistrations: 12 });
    w = await startWitnessd({ extra: ['--config', cfg, '--log-level', 'debug'] });
  });
  after(async () => { await w.stop(); });

  it('each cap refuses the next registration with ERROR_NO_SYSTEM_RESOURCES, logs it, and gives the room back when registrations go', async () => {
    const a = await bound(w.port);
    for (let i = 0; i < 3; i++) assert.equal((await registerEx(a, `a-${i}`)).status, WinError.SUCCESS);
    assert.equal((await registerEx(a, 'a-3')).status, WinError.NO_SYSTEM_RESOURCES, 'per connection');
    // Register (V1) counts and is refused the same way.
    const v1 = decodeHandleAndStatus(stubOf(await a.call(Opnum.Register, encodeRegister({ version: WitnessVersion.V1, netName: 'FILESRV', ipAddress: '127.0.0.2', clientName: 'a-v1' }))));
    assert.equal(v1.status, WinError.NO_SYSTEM_RESOURCES);
    // A second connection of the same association: 2 more, then the association's cap.
    const b = await bound(w.port, a.assocGroupId);
    assert.equal(b.assocGroupId, a.assocGroupId);
    const b0 = await registerEx(b, 'b-0');
    assert.equal(b0.status, WinError.SUCCESS);
    assert.equal((await registerEx(b, 'b-1')).status, WinError.SUCCESS);
    assert.equal((await registerEx(b, 'b-2')).status, WinError.NO_SYSTEM_RESOURCES, 'per association');
    // One client name across associations.
    const c = await bound(w.port);
    const d = await bound(w.port);
    for (let i = 0; i < 3; i++) assert.equal((await registerEx(c, 'Same.Example.Test')).status, WinError.SUCCESS);
    assert.equal((await registerEx(d, 'same.example.test')).status, WinError.SUCCESS);
    assert.equal((await registerEx(d, 'SAME.example.test')).status, WinError.NO_SYSTEM_RESOURCES, 'per client name');
    // 9 live; 3 more fill the global cap.
    const e = await bound(w.port);
    for (let i = 0; i < 3; i++) assert.equal((await registerEx(e, `e-${i}`)).status, WinError.SUCCESS);
    const f = await bound(w.port);
    assert.equal((await registerEx(f, 'f-0')).status, WinError.NO_SYSTEM_RESOURCES, 'in all');
    // Room again: an unregister frees one everywhere; a rundown frees an association's.
    assert.equal(await unregister(b, b0.handle), WinError.SUCCESS);
    assert.equal((await registerEx(f, 'f-0')).status, WinError.SUCCESS);
    await a.close();
    assert.equal((await registerEx(b, 'b-3')).status, WinError.NO_SYSTEM_RESOURCES, 'the association lives on with its registrations');
    await b.close();
    await until('association rundown', () => /association ended; its registrations are run down/.test(w.logs()));
    assert.equal((await registerEx(f, 'f-1')).status, WinError.SUCCESS);
    for (const cap of ['maxRegistrationsPerConnection', 'maxRegistrationsPerAssociation', 'maxRegistrationsPerClientName', 'maxRegistrations']) {
      assert.match(w.logs(), new RegExp(`registration refused with ERROR_NO_SYSTEM_RESOURCES: limits\\.${cap} \\(\\d+\\) reached`));
    }
    await Promise.all([c, d, e, f].map((x) => x.close()));
  });

  it('names longer than Windows allows get ERROR_INVALID_PARAMETER, and are neither kept nor logged in full', async () => {
    const c = await bound(w.port);
    const huge = 'z'.repeat(30_000);
    const cases: [string, Parameters<typeof registerEx>[2], string][] = [
      ['NetName of 256', { netName: `filesrv.${'d'.repeat(248)}` }, 'ok-client'],
      ['ShareName of 81', { shareName: 's'.repeat(81) }, 'ok-client'],
      ['IpAddress of 65', { ipAddress: '1'.repeat(65) }, 'ok-client'],
      ['ClientComputerName of 256', {}, 'c'.repeat(256)],
      // (one per request: the raw client sends a request in one fragment, at most 65,535 bytes)
      ['NetName of 30,000', { netName: huge }, 'ok-client'],
      ['ShareName of 30,000', { shareName: huge }, 'ok-client'],
      ['IpAddress of 30,000', { ipAddress: huge }, 'ok-client'],
      ['ClientComputerName of 30,000', {}, huge],
    ];
    for (const [what, o, name] of cases) assert.equal((await registerEx(c, name, o)).status, WinError.INVALID_PARAMETER, what);
    // At the limits they pass (a 255-character NetName of ours, an 80-character share, a 255-character client name).
    const ok = await registerEx(c, 'c'.repeat(255), { netName: `filesrv.${'d'.repeat(247)}`, shareName: 's'.repeat(80) });
    assert.equal(ok.status, WinError.SUCCESS);
    await until('the registration in the store', () => withStore(w.db, (s) => listRegistrations(s).some((r) => r.clientName === 'c'.repeat(255))));
    const all = withStore(w.db, (s) => listRegistrations(s, { all: true }));
    assert.ok(all.every((r) => r.clientName.length <= 255 && r.netName.length <= 255 && (r.shareName ?? '').length <= 80));
    assert.match(w.logs(), /ERROR_INVALID_PARAMETER: clientName longer than 255 characters/);
    assert.ok(!w.logs().includes('z'.repeat(301)), 'a 30,000-character name is never logged whole');
    await c.close();
  });
});

describe('the store under a registration storm', { timeout: 240_000 }, () => {
  /** `n` RegisterEx (+ UnRegister) over `conns` connections at once; returns the statuses seen and the time taken. */
  async function storm(w: Witnessd, n: number, conns: number, name: (i: number) => string, o: Parameters<typeof registerEx>[2] = {}): Promise<{ statuses: Map<number, number>; ms: number }> {
    const statuses = new Map<number, number>();
    const t0 = Date.now();
    await Promise.all(Array.from({ length: conns }, async (_, k) => {
      const c = await bound(w.port);
      for (let i = k; i < n; i += conns) {
        const r = await registerEx(c, name(i), o);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === WinError.SUCCESS) await unregister(c, r.handle);
      }
      await c.close();
    }));
    return { statuses, ms: Date.now() - t0 };
  }

  it('2,000 RegisterEx with 30,000-character names: all refused, the store does not grow', async (t) => {
    const w = await startWitnessd({ extra: ['--log-level', 'info'] });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const before = storeBytes(w.db);
      const huge = 'n'.repeat(30_000);
      const r = await storm(w, 2000, 20, (i) => `${i}-${huge}`);
      assert.deepEqual([...r.statuses], [[WinError.INVALID_PARAMETER, 2000]]);
      await new Promise((res) => setTimeout(res, 300));
      const grown = storeBytes(w.db) - before;
      t.diagnostic(`2,000 RegisterEx with 30,000-character names in ${r.ms} ms: store grew by ${grown} bytes (before the caps: 120 MB in 3 s)`);
      assert.ok(grown < 64 * 1024, `the store grew by ${grown} bytes`);
    } finally {
      await w.stop();
    }
  });

  it('register/unregister storms with the longest names: the client tables stay within limits.storeBudgetMB, the oldest rows make room, witnessctl audit says so', async (t) => {
    const cfg = config(tmp, { storeBudgetMB: 1 });
    const w = await startWitnessd({ extra: ['--config', cfg, '--log-level', 'info'] });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const before = storeBytes(w.db);
      const live = await bound(w.port);
      for (let i = 0; i < 20; i++) assert.equal((await registerEx(live, `live-${i}`)).status, WinError.SUCCESS);
      const long = { netName: `filesrv.${'d'.repeat(247)}`, shareName: 's'.repeat(80) };
      let total = 0;
      for (let round = 0; round < 3; round++) {
        const r = await storm(w, 2000, 20, (i) => `${round}-${i}-${'c'.repeat(240)}`, long);
        assert.deepEqual([...r.statuses], [[WinError.SUCCESS, 2000]]);
        total += r.ms;
      }
      await new Promise((res) => setTimeout(res, 500));
      const s = openStore(w.db);
      let clientPages: number;
      let counters: ReturnType<typeof readJournalCounters>;
      let live20: number;
      try {
        clientPages = s.clientPages();
        counters = readJournalCounters(s);
        live20 = listRegistrations(s).length;
      } finally {
        s.close();
      }
      const grown = storeBytes(w.db) - before;
      t.diagnostic(`6,000 RegisterEx + UnRegister with 255-character names in ${total} ms: client tables ${clientPages} pages (${(clientPages * 4096 / 1048576).toFixed(2)} MiB of a 1 MiB budget), store files grew by ${(grown / 1048576).toFixed(2)} MiB (WAL included), ${counters.pruned_registration_rows} removed registrations pruned`);
      assert.ok(clientPages <= 256, `${clientPages} pages of client tables`);
      assert.ok(counters.pruned_registration_rows > 2000, JSON.stringify(counters));
      assert.equal(live20, 20, 'live registrations are never pruned');
      assert.ok(grown < 8 * 1048576, `store files grew by ${grown} bytes`);
      assert.match(ctl(w.db, 'audit'), /store: 0 audit rows and 0 registration rows dropped .*; 0 audit rows and \d+ removed registrations pruned early/);
      await live.close();
    } finally {
      await w.stop();
    }
  });
});

const root = process.getuid?.() === 0;

describe('a full disk', { timeout: 180_000, skip: root ? false : 'needs root to mount a tmpfs' }, () => {
  let dir = '';
  let mounted = false;
  let w: Witnessd | null = null;
  let epoch = 100;
  const filler = (): string => path.join(dir, 'filler');
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-fulldisk-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', dir]);
    mounted = true;
  });
  after(async () => {
    await w?.stop();
    if (mounted) {
      for (let i = 0; i < 20; i++) {
        try {
          execFileSync('umount', [dir], { stdio: 'ignore' });
          mounted = false;
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Fills the file system but `leave` bytes. */
  function fill(leave: number): void {
    const st = fs.statfsSync(dir);
    let left = st.bavail * st.bsize - leave;
    const fd = fs.openSync(filler(), 'w');
    const buf = Buffer.alloc(64 * 1024, 0xa5);
    try {
      while (left > 0) left -= fs.writeSync(fd, buf, 0, Math.min(buf.length, left));
    } finally {
      fs.closeSync(fd);
    }
  }

  function commit(db: string, v: ClusterView): number {
    const s = openStore(db);
    try {
      return commitSync(s, v, diffViews).events.length;
    } finally {
      s.close();
    }
  }

  it('witnessd keeps serving, the agent still writes events, rows wait (what the full queue cannot take is counted) and land once there is space', async (t) => {
    const db = path.join(dir, 'state.db');
    writeView(db, twoNodeView(epoch++));
    const cfg = config(dir, { storeBudgetMB: 1, storeMinFreeMB: 1, maxQueuedRows: 100 });
    w = await startWitnessd({ db, extra: ['--config', cfg, '--log-level', 'info'] });
    const port = w.port;
    // Before: registrations land as usual; one client waits for notifications on 127.0.0.2.
    const early = await bound(port);
    for (let i = 0; i < 20; i++) assert.equal((await registerEx(early, `early-${i}`, { ipAddress: '127.0.0.1' })).status, WinError.SUCCESS);
    const watcher = await bound(port);
    const watched = await registerEx(watcher, 'watcher');
    assert.equal(watched.status, WinError.SUCCESS);
    const notified = watcher.call(Opnum.AsyncNotify, watched.handle);
    await until('the early registrations in the store', () => withStore(db, (s) => listRegistrations(s).filter((r) => r.pending || r.clientName.startsWith('early-')).length === 21));

    // The disk fills up (by someone else): 512 KiB are left, under witnessd's 1 MiB floor.
    fill(512 * 1024);
    const wanted = await Promise.all(Array.from({ length: 4 }, async (_, k) => {
      const c = await bound(port);
      const names: string[] = [];
      for (let i = 0; i < 50; i++) {
        const name = `full-${k}-${i}-${'f'.repeat(230)}`;
        assert.equal((await registerEx(c, name, { ipAddress: '127.0.0.1' })).status, WinError.SUCCESS, 'witnessd answers as usual');
        names.push(name);
      }
      return { c, names };
    }));
    await until('witnessd to report that it cannot write', () => /could not record registrations in the store; the rows are kept in memory/.test(w?.logs() ?? ''));
    assert.match(w.logs(), /the file system holding the store is almost full: witnessd stops growing the store/);
    assert.match(w.logs(), /is full \(database or disk is full\)/);
    assert.match(w.logs(), new RegExp(`store ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is full`), 'the error names the file');

    // The agent's sync still records the cluster's events, and the client hears of them.
    assert.equal(commit(db, twoNodeView(epoch++, { ips: [ip('127.0.0.1', 'n1', 'vip1'), ip('127.0.0.2', 'n1', 'vip2')] })), 1, 'one ip_moved event written');
    const told = decodeAsyncNotifyResponse(stubOf(await notified));
    assert.deepEqual([told.status, told.type], [WinError.SUCCESS, MessageType.RESOURCE_CHANGE]);

    // Clients come and go while witnessd cannot write: beyond 100 waiting rows, they are dropped.
    const churn = await bound(port);
    for (let i = 0; i < 150; i++) {
      const r = await registerEx(churn, `churn-${i}`, { ipAddress: '127.0.0.1' });
      assert.equal(r.status, WinError.SUCCESS);
      assert.equal(await unregister(churn, r.handle), WinError.SUCCESS);
    }
    await until('drops to be logged', () => /the queue is full: new audit rows \(and registrations never written\) are dropped and counted/.test(w?.logs() ?? ''));
    const list = decodeInterfaceListResponse(stubOf(await churn.call(Opnum.GetInterfaceList, Buffer.alloc(0))));
    assert.equal(list.status, WinError.SUCCESS, 'still serving');
    assert.equal(withStore(db, (s) => listRegistrations(s).filter((r) => r.clientName.startsWith('full-')).length), 0, 'nothing written yet');

    // Space again: what waited lands.
    fs.rmSync(filler());
    const freed = Date.now();
    const names = wanted.flatMap((x) => x.names);
    await until('the waiting registrations and the audit row to land', () => withStore(db, (s) => {
      const live = new Set(listRegistrations(s).map((r) => r.clientName));
      return names.every((n) => live.has(n)) && listNotifications(s).some((n) => n.clientName === 'watcher' && n.outcome === 'delivered');
    }), 60_000);
    const counters = withStore(db, (s) => readJournalCounters(s));
    t.diagnostic(`disk full: 200 registrations and 1 audit row waited and landed ${Date.now() - freed} ms after space was freed; ${counters.dropped_registration_rows} registration rows dropped (queue of 100), ${counters.write_failures} failed writes`);
    assert.ok(counters.dropped_registration_rows > 0 && counters.dropped_registration_rows <= 150, JSON.stringify(counters));
    assert.ok(counters.write_failures > 0);
    assert.match(counters.lastFailure ?? '', /is full/);
    const audit = ctl(db, 'audit');
    assert.match(audit, /watcher RESOURCE_CHANGE "FILESRV UNAVAILABLE, FILESRV AVAILABLE"|watcher RESOURCE_CHANGE "FILESRV UNAVAILABLE"/);
    assert.match(audit, new RegExp(`store: \\d+ audit rows and ${counters.dropped_registration_rows} registration rows dropped \\(the store refused writes for too long; ${counters.write_failures} failed writes, last `));
    await until('the log line', () => /the store takes writes again/.test(w?.logs() ?? ''));
    await Promise.all([early, watcher, churn, ...wanted.map((x) => x.c)].map((c) => c.close()));
  });
});
