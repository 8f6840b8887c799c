import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { openStore } from '../../store/index.ts';
import Database from 'better-sqlite3';
import { countRows, listNotifications, listRegistrations, pruneAudit, readJournalCounters, retireRegistrations } from '../../store/registrations.ts';
import { ChangeType, MessageType, WitnessVersion } from '../../service/swn/constants.ts';
import { RegistrationJournal, type JournalLimits } from '../../service/swn/journal.ts';
import { WitnessRegistry, type Registration } from '../../service/swn/registry.ts';
import { type Notification } from '../../service/swn/notification.ts';
import { ip, view } from '../helpers/views.ts';
import { appendEvents } from '../../store/events.ts';
import { asyncNotify, queueChange } from '../helpers/registry.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-journal-'));
after(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

describe('registration journal', () => {
  it('records registrations, removals and one audit row per notification, in batches', async () => {
    const store = openStore(path.join(tmp, 'a.db'));
    const journal = new RegistrationJournal({ store, node: 'n1', logger: pino({ level: 'silent' }), flushMs: 5 });
    const reg = new WitnessRegistry({ netNames: ['FS'], localNode: 'n1', getView: () => view(1, { ips: [ip('198.18.0.100', 'n2')] }), observer: journal });
    const client = { association: 7, remote: '198.18.0.9:4000', local: '198.18.0.1:5999', identity: null };
    const a = reg.register({ version: WitnessVersion.V2, netName: 'FS', shareName: null, ipAddress: '198.18.0.100', clientName: 'C1', flags: 1, keepAliveSec: 120 }, client, true);
    const b = reg.register({ version: WitnessVersion.V1, netName: 'FS', ipAddress: '198.18.0.100', clientName: 'C2' }, client, false);
    assert.ok(a.registration && b.registration);
    const pending = asyncNotify(reg, a.handle, 7);
    await new Promise((r) => setTimeout(r, 30));
    let rows = listRegistrations(store);
    rows.sort((x, y) => x.clientName.localeCompare(y.clientName));
    assert.deepEqual(rows.map((r) => [r.clientName, r.version, r.flags, r.keepAlive, r.pending, r.association]), [
      ['C1', WitnessVersion.V2, 1, 120, true, 7],
      ['C2', WitnessVersion.V1, 0, 0, false, 7],
    ]);
    queueChange(reg, a.registration, { resourceName: '198.18.0.100', changeType: ChangeType.UNAVAILABLE }, 42, Date.now() - 3);
    assert.equal((await pending).status, 0);
    reg.unregister(b.handle, 7);
    journal.flush();
    rows = listRegistrations(store);
    assert.deepEqual(rows.map((r) => [r.clientName, r.pending, r.notificationsSent]), [['C1', false, 1]]);
    const all = listRegistrations(store, { all: true });
    assert.equal(all.find((r) => r.clientName === 'C2')?.removedReason, 'unregister');
    const notes = listNotifications(store);
    assert.equal(notes.length, 1);
    assert.equal(notes[0]?.eventSeq, 42);
    assert.equal(notes[0]?.outcome, 'delivered');
    assert.equal(notes[0]?.summary, '198.18.0.100 UNAVAILABLE');
    assert.ok((notes[0]?.latencyMs ?? -1) >= 3);
    // A restarted witnessd retires what the old process held; retention prunes old rows.
    assert.equal(retireRegistrations(store, 'n1', Date.now(), 'restart'), 1);
    assert.equal(listRegistrations(store).length, 0);
    assert.deepEqual(pruneAudit(store, Date.now() + 1), { notifications: 1, registrations: 2 });
    reg.close();
    store.close();
  });
});

describe('registration journal: budgets and a store that refuses writes', () => {
  const silent = pino({ level: 'silent' });
  const note: Notification = { type: MessageType.RESOURCE_CHANGE, count: 1, buffer: Buffer.alloc(0), summary: 'FS UNAVAILABLE', eventSeq: 1, eventAt: 1 };
  const until = async (what: string, f: () => boolean, ms = 5000): Promise<void> => {
    const t0 = Date.now();
    while (!f()) {
      if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  function setup(file: string, limits: Partial<JournalLimits>, busyTimeoutMs?: number) {
    const store = openStore(file, busyTimeoutMs !== undefined ? { busyTimeoutMs } : {});
    const journal = new RegistrationJournal({ store, node: 'n1', logger: silent, flushMs: 2, limits, retryMs: { min: 10, max: 40 } });
    const reg = new WitnessRegistry({ netNames: ['FS'], localNode: 'n1', getView: () => view(1, { ips: [ip('198.18.0.100', 'n2')] }), observer: journal, limits: { maxRegistrationsPerConnection: 0, maxRegistrationsPerAssociation: 0, maxRegistrationsPerClientName: 0, maxRegistrations: 0 } });
    let a = 0;
    const add = (name: string): Registration => {
      const r = reg.register({ version: WitnessVersion.V2, netName: 'FS', shareName: null, ipAddress: '198.18.0.100', clientName: name, flags: 0, keepAliveSec: 60 }, { association: ++a, remote: '198.18.0.9:4000', local: '198.18.0.1:5999', identity: null }, true);
      assert.ok(r.registration);
      return r.registration;
    };
    return { store, journal, reg, add };
  }

  it('row budgets: the oldest removed registrations and audit rows make room, live ones always stay; counted in the store', () => {
    const { store, journal, reg, add } = setup(path.join(tmp, 'rows.db'), { maxStoredRegistrations: 50, maxAuditRows: 40, storeBudgetBytes: 0 });
    const live = Array.from({ length: 30 }, (_, i) => add(`live-${i}`));
    journal.flush();
    for (let i = 0; i < 200; i++) {
      const r = add(`gone-${i}`);
      journal.audit(r, note, 'delivered');
      reg.remove(r, 'unregister');
      if (i % 10 === 0) journal.flush();
    }
    journal.flush();
    const rows = countRows(store);
    assert.ok(rows.registrations <= 50 && rows.notifications <= 40, JSON.stringify(rows));
    assert.deepEqual(listRegistrations(store).map((r) => r.clientName).sort(), live.map((r) => r.clientName).sort());
    assert.ok(listRegistrations(store, { all: true }).some((r) => r.clientName === 'gone-199'), 'the newest removed ones are kept');
    const c = readJournalCounters(store);
    assert.equal(c.pruned_registration_rows + rows.registrations, 230);
    assert.equal(c.pruned_audit_rows + rows.notifications, 200);
    assert.deepEqual([c.dropped_audit_rows, c.dropped_registration_rows, c.write_failures], [0, 0, 0]);
    reg.close();
    journal.close();
    store.close();
  });

  it('byte budget: the client tables never take more than storeBudgetBytes, while another connection grows the file', () => {
    const file = path.join(tmp, 'bytes.db');
    const { store, journal, reg, add } = setup(file, { storeBudgetBytes: 96 * 4096, minFreeDiskBytes: 1 });
    const live = Array.from({ length: 20 }, (_, i) => add(`live-${i}-${'l'.repeat(200)}`));
    for (let i = 0; i < 3000; i++) {
      const r = add(`storm-${i}-${'s'.repeat(240)}`);
      journal.audit(r, note, 'client_gone');
      reg.remove(r, 'rundown');
      if (i % 250 === 0) assert.equal(journal.flush(), true);
    }
    assert.equal(journal.flush(), true);
    assert.ok(store.clientPages() <= 96, `${store.clientPages()} pages of client tables`);
    const st = journal.stats();
    assert.ok(st.pruned_registration_rows > 1000 && st.pruned_audit_rows > 1000, JSON.stringify(st));
    assert.equal(st.write_failures, 0, 'reaching the budget is no failure');
    assert.deepEqual(listRegistrations(store).map((r) => r.clientName).sort(), live.map((r) => r.clientName).sort());
    const agent = openStore(file);
    appendEvents(agent, Array.from({ length: 2000 }, () => ({ kind: 'ip_moved' as const, subject: '198.18.0.100', from: 'n1', to: 'n2', payload: { pad: 'p'.repeat(200) } })), { adminEpoch: 0, epoch: 1, numUpdates: 0 });
    assert.ok((agent.db.pragma('page_count', { simple: true }) as number) > (st.budget?.maxPages ?? 0), 'the agent grows the file past witnessd\'s cap');
    agent.close();
    reg.close();
    journal.close();
    store.close();
  });

  it('a store that refuses writes: rows wait and are retried with back-off, what the full queue cannot take is dropped and counted, the rest lands afterwards', async () => {
    const file = path.join(tmp, 'busy.db');
    const { store, journal, reg, add } = setup(file, { maxQueuedRows: 20 }, 5);
    const blocker = new Database(file);
    blocker.exec('BEGIN IMMEDIATE');
    const live = Array.from({ length: 10 }, (_, i) => add(`live-${i}`));
    await until('the first write to fail', () => journal.stats().failingSince !== null);
    for (let i = 0; i < 30; i++) {
      const r = add(`brief-${i}`);
      reg.remove(r, 'unregister');
    }
    for (let i = 0; i < 30; i++) journal.audit(live[i % 10] as Registration, note, 'delivered');
    const during = journal.stats();
    assert.equal(during.pending.removals + during.pending.audit, 20, 'at most maxQueuedRows wait');
    assert.equal(during.dropped_registration_rows, 10);
    assert.equal(during.dropped_audit_rows, 30);
    await new Promise((r) => setTimeout(r, 150));
    assert.ok(journal.stats().write_failures >= 3, 'retried');
    assert.equal(listRegistrations(store).length, 0);
    blocker.exec('COMMIT');
    blocker.close();
    await until('the queue to drain', () => journal.stats().failingSince === null && journal.stats().pending.upserts + journal.stats().pending.removals + journal.stats().pending.audit === 0);
    assert.deepEqual(listRegistrations(store).map((r) => r.clientName).sort(), live.map((r) => r.clientName).sort());
    assert.equal(listRegistrations(store, { all: true }).filter((r) => r.removedReason === 'unregister').length, 20);
    const c = readJournalCounters(store);
    assert.equal(c.dropped_registration_rows, 10);
    assert.equal(c.dropped_audit_rows, 30);
    assert.ok(c.write_failures >= 3);
    assert.match(c.lastFailure ?? '', new RegExp(`store ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} stayed locked`));
    reg.close();
    journal.close();
    store.close();
  });
});
