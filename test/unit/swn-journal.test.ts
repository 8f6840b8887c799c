import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { openStore } from '../../store/index.ts';
import { listNotifications, listRegistrations, pruneAudit, retireRegistrations } from '../../store/registrations.ts';
import { ChangeType, WitnessVersion } from '../../service/swn/constants.ts';
import { RegistrationJournal } from '../../service/swn/journal.ts';
import { WitnessRegistry } from '../../service/swn/registry.ts';
import { ip, view } from '../helpers/views.ts';

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
    const pending = reg.asyncNotify(a.handle, 7);
    await new Promise((r) => setTimeout(r, 30));
    let rows = listRegistrations(store);
    rows.sort((x, y) => x.clientName.localeCompare(y.clientName));
    assert.deepEqual(rows.map((r) => [r.clientName, r.version, r.flags, r.keepAlive, r.pending, r.association]), [
      ['C1', WitnessVersion.V2, 1, 120, true, 7],
      ['C2', WitnessVersion.V1, 0, 0, false, 7],
    ]);
    reg.queueChange(a.registration, { resourceName: '198.18.0.100', changeType: ChangeType.UNAVAILABLE }, 42, Date.now() - 3);
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
