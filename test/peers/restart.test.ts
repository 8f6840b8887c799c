// witnessd restarted mid-run: clients lose their connection and re-register; the old process's
// registrations are retired in the store (none stale); events from before the restart are not
// replayed to the new registrations, and a new event is delivered exactly once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { diffViews } from '../../agent/diff.ts';
import { openStore } from '../../store/index.ts';
import { listNotifications, listRegistrations } from '../../store/registrations.ts';
import { ChangeType, WitnessVersion } from '../../service/swn/constants.ts';
import { ip, runPy, startWitnessd, twoNodeView } from './peers.ts';
import { commitSync } from '../../store/view.ts';

function commit(db: string, epoch: number, node: string | null): void {
  const s = openStore(db);
  try {
    commitSync(s, twoNodeView(epoch, { ips: [ip('127.0.0.1', 'n1', 'vip1'), ip('127.0.0.2', node, 'vip2')] }), diffViews);
  } finally {
    s.close();
  }
}

async function until(f: () => boolean, what: string): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > 10_000) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function rows(db: string) {
  const s = openStore(db, { readonly: true });
  try {
    return { live: listRegistrations(s), all: listRegistrations(s, { all: true }), audit: listNotifications(s) };
  } finally {
    s.close();
  }
}

describe('witnessd restart', { timeout: 90_000 }, () => {
  it('clients re-register, nothing stale, nothing replayed, nothing lost or duplicated', async () => {
    const first = await startWitnessd({ view: twoNodeView(1) });
    const db = first.db;
    const port = first.port;
    const register = (client: string) => [
      { op: 'connect', conn: 'a', port },
      { op: 'RegisterEx', conn: 'a', version: WitnessVersion.V2, net: 'FILESRV', share: null, ip: '127.0.0.2', client, flags: 0, timeout: 60, save: 'h' },
      { op: 'AsyncNotify', conn: 'a', handle: 'h' },
    ];
    try {
      // A client waits on the first witnessd; witnessd goes away under it.
      const before = runPy(register('c1'));
      await until(() => rows(db).live.some((r) => r.clientName === 'c1' && r.pending), 'c1 pending');
      const dead = first.proc;
      dead.kill('SIGKILL'); // a crash, not a clean stop: nothing gets to tidy up
      await new Promise((r) => dead.once('exit', r));
      const lost = await before;
      assert.equal(lost[2]?.ok, false, 'the pending call fails when witnessd dies');
      // While it is down, the IP moves: nobody is registered to hear it.
      commit(db, 2, 'n1');
      const second = await startWitnessd({ db, port });
      try {
        const r = rows(db);
        assert.deepEqual(r.live, [], 'the dead process\'s registrations are retired, none stale');
        assert.equal(r.all.find((x) => x.clientName === 'c1')?.removedReason, 'restart');
        // The client re-registers; the move that happened while witnessd was down is not replayed.
        const again = runPy([...register('c1'), { op: 'AsyncNotify', conn: 'a', handle: 'h' }]);
        await until(() => rows(db).live.some((x) => x.clientName === 'c1' && x.pending), 'c1 pending again');
        await new Promise((res) => setTimeout(res, 300));
        assert.equal(rows(db).audit.filter((a) => a.clientName === 'c1').length, 0, 'no replay of an event from before the restart');
        commit(db, 3, 'n2');
        const got = await again;
        assert.deepEqual((got[2]?.['result'] as { messages: unknown }).messages, [{ name: 'FILESRV', change: ChangeType.UNAVAILABLE }]);
        assert.deepEqual((got[3]?.['result'] as { messages: unknown }).messages, [{ name: 'FILESRV', change: ChangeType.AVAILABLE }]);
        await until(() => rows(db).audit.filter((a) => a.clientName === 'c1').length >= 2, 'audit rows');
        const audit = rows(db).audit.filter((a) => a.clientName === 'c1');
        assert.deepEqual(audit.map((a) => [a.summary, a.outcome]), [['FILESRV UNAVAILABLE', 'delivered'], ['FILESRV AVAILABLE', 'delivered']], 'each once');
      } finally {
        await second.stop();
      }
    } finally {
      fs.rmSync(first.dir, { recursive: true, force: true });
    }
  });
});
