// witnessctl against a running witnessd with python3-samba clients waiting in AsyncNotify:
// list, client-move, share-move, force-unregister, events, audit; --to-ip checked against the
// cluster view; a client whose name holds a newline, ESC sequences and a bidi override.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { RegistrationRow } from '../../store/registrations.ts';
import { MessageType, WinError, WitnessVersion } from '../../service/swn/constants.ts';
import { ROOT, runPy, startWitnessd, twoNodeView, type PyResult, type Witnessd } from './peers.ts';

function ctl(db: string, ...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'service/ctl/main.ts'), ...args, '--db', db], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** `pattern`: a glob (witnessctl list's --client); the name itself selects exactly that client. */
async function waitPending(db: string, client: string, pattern = client): Promise<RegistrationRow> {
  const t0 = Date.now();
  for (;;) {
    const r = ctl(db, 'list', '--json', '--client', pattern);
    const rows = JSON.parse(r.out || '[]') as RegistrationRow[];
    const p = rows.find((x) => x.pending);
    if (p) return p;
    if (Date.now() - t0 > 15_000) throw new Error(`${client} never pending: ${r.out} ${r.err}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

const addresses = (r: PyResult | undefined): string[] =>
  ((r?.['result'] as { messages: { addresses: { ipv4: string }[] }[] } | undefined)?.messages[0]?.addresses ?? []).map((a) => a.ipv4);

describe('witnessctl', { timeout: 240_000 }, () => {
  let w: Witnessd;
  before(async () => {
    w = await startWitnessd({ view: twoNodeView(1, { shares: [{ name: 'data', resource: 'g1', node: 'n2', ips: ['127.0.0.2'] }] }) });
  });
  after(async () => { await w.stop(); });
  const waiter = (client: string, share: string | null = null) => runPy([
    { op: 'connect', conn: 'a', port: w.port },
    { op: 'RegisterEx', conn: 'a', version: WitnessVersion.V2, net: 'FILESRV', share, ip: '127.0.0.2', client, flags: 0, timeout: 60, save: 'h' },
    { op: 'AsyncNotify', conn: 'a', handle: 'h' },
  ]);

  it('list shows a waiting client with everything an admin needs', async () => {
    const p = waiter('lister');
    const row = await waitPending(w.db, 'lister');
    assert.deepEqual([row.netName, row.ipAddress, row.node, row.version, row.keepAlive, row.removedAt], ['FILESRV', '127.0.0.2', 'n1', WitnessVersion.V2, 60, null]);
    const text = ctl(w.db, 'list', '--client', 'LIST*');
    assert.match(text.out, /lister {2}net=FILESRV share=- ip=127\.0\.0\.2 v=2 keepalive=60s witness=n1 .* pending=yes sent=0/);
    ctl(w.db, 'force-unregister', '--client', 'lister');
    await p;
  });

  it('client-move --to-node sends CLIENT_MOVE with that node\'s IPs; --to-ip with that IP', async () => {
    const a = waiter('mover-a');
    await waitPending(w.db, 'mover-a');
    const r = ctl(w.db, 'client-move', '--client', 'MOVER-A', '--to-node', 'n1', '--json');
    assert.equal(r.code, 0, r.err);
    assert.deepEqual((JSON.parse(r.out) as { state: string; result: unknown }[]).map((x) => [x.state, x.result]), [['done', { registrations: 1 }]]);
    const ra = await a;
    assert.equal((ra[2]?.['result'] as { type: number }).type, MessageType.CLIENT_MOVE);
    assert.deepEqual(addresses(ra[2]), ['127.0.0.1']);
    const b = waiter('mover-b');
    await waitPending(w.db, 'mover-b');
    // 127.0.0.9 is no address of the cluster (the view has 127.0.0.1 and 127.0.0.2): refused, nothing sent.
    const refused = ctl(w.db, 'client-move', '--client', 'mover-b', '--to-ip', '127.0.0.9');
    assert.equal(refused.code, 1);
    assert.match(refused.err, /--to-ip 127\.0\.0\.9 is not an address of this cluster \(the cluster knows 127\.0\.0\.1, 127\.0\.0\.2\).*--force/);
    assert.equal((await waitPending(w.db, 'mover-b')).notificationsSent, 0, 'still waiting, nothing sent');
    // --force sends it anyway, with a warning.
    const forced = ctl(w.db, 'client-move', '--client', 'mover-b', '--to-ip', '127.0.0.9', '--force');
    assert.equal(forced.code, 0, forced.err);
    assert.match(forced.err, /warning: --to-ip 127\.0\.0\.9 is not an address of this cluster .*sending it anyway \(--force\)/);
    assert.deepEqual(addresses((await b)[2]), ['127.0.0.9']);
  });

  it('share-move sends SHARE_MOVE to the clients of that share only; --to-ip the cluster knows, or forced', async () => {
    const s = waiter('sharer', 'data');
    await waitPending(w.db, 'sharer');
    const refused = ctl(w.db, 'share-move', '--share', 'data', '--to-ip', '127.0.0.8');
    assert.equal(refused.code, 1);
    assert.match(refused.err, /^witnessctl: --to-ip 127\.0\.0\.8 is not an address of this cluster .*give --force to send it anyway\n$/);
    assert.equal(ctl(w.db, 'share-move', '--share', 'DATA', '--to-node', 'n1').code, 0);
    const rs = await s;
    assert.equal((rs[2]?.['result'] as { type: number }).type, MessageType.SHARE_MOVE);
    assert.deepEqual(addresses(rs[2]), ['127.0.0.1']);
    const s2 = waiter('sharer-2', 'data');
    await waitPending(w.db, 'sharer-2');
    const forced = ctl(w.db, 'share-move', '--share', 'data', '--client', 'sharer-2', '--to-ip', '127.0.0.8', '--force', '--json');
    assert.equal(forced.code, 0, forced.err);
    assert.match(forced.err, /warning: --to-ip 127\.0\.0\.8 is not an address of this cluster/);
    assert.deepEqual(addresses((await s2)[2]), ['127.0.0.8']);
  });

  it('force-unregister: the pending AsyncNotify returns ERROR_NOT_FOUND; nothing to select is an error', async () => {
    const f = waiter('goner');
    await waitPending(w.db, 'goner');
    assert.equal(ctl(w.db, 'force-unregister', '--client', 'goner').code, 0);
    assert.equal((await f)[2]?.werror, WinError.NOT_FOUND);
    const none = ctl(w.db, 'force-unregister', '--client', 'nobody');
    assert.equal(none.code, 1);
    assert.match(none.err, /no live registration matches/);
    const unscoped = ctl(w.db, 'force-unregister');
    assert.equal(unscoped.code, 1);
    assert.match(unscoped.err, /--apply-to-all/);
    // With nothing live here, --apply-to-all does not spread to other nodes on its own.
    for (let i = 0; i < 100 && (JSON.parse(ctl(w.db, 'list', '--json').out) as unknown[]).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    const everyone = ctl(w.db, 'force-unregister', '--apply-to-all');
    assert.equal(everyone.code, 1);
    assert.match(everyone.err, /--apply-to-all reaches other nodes only with --all-nodes or --on-node/);
  });

  it('audit lists every notification with its outcome; events lists the agent\'s events', () => {
    const audit = JSON.parse(ctl(w.db, 'audit', '--json').out) as { clientName: string; type: number; outcome: string }[];
    assert.deepEqual(audit.map((a) => [a.clientName, a.type, a.outcome]), [
      ['mover-a', MessageType.CLIENT_MOVE, 'delivered'],
      ['mover-b', MessageType.CLIENT_MOVE, 'delivered'],
      ['sharer', MessageType.SHARE_MOVE, 'delivered'],
      ['sharer-2', MessageType.SHARE_MOVE, 'delivered'],
    ]);
    assert.match(ctl(w.db, 'audit').out, /mover-a CLIENT_MOVE "admin client-move to n1" event=- latency=-ms delivered \(witness n1, user -\)/);
    assert.equal(ctl(w.db, 'events').code, 0);
  });

  it('a client name with a newline, ESC sequences and a bidi override: escaped in list, audit and results; exact in --json; selectable', async () => {
    const evil = 'evil\n\x1b[31mred\x1b]0;pwned\x07\u202egnp.exe\x85\\tail';
    const shown = 'evil\\n\\x1b[31mred\\x1b]0;pwned\\x07\\u202egnp.exe\\x85\\\\tail';
    const p = waiter(evil);
    const row = await waitPending(w.db, evil, 'evil?*');
    assert.equal(row.clientName, evil, '--json has the exact name');
    const text = ctl(w.db, 'list', '--client', 'evil*');
    assert.equal(text.code, 0, text.err);
    assert.equal(text.out.split('\n').length, 2, `one line: ${JSON.stringify(text.out)}`);
    assert.ok(text.out.includes(`  ${shown}  net=FILESRV `), text.out);
    assert.equal(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]/.test(text.out), false, 'nothing a terminal acts on');
    // The exact name selects it (names compare exactly, ignoring case); the per-node line is safe.
    const moved = ctl(w.db, 'client-move', '--client', evil.toUpperCase(), '--to-ip', '127.0.0.2');
    assert.equal(moved.code, 0, moved.err);
    assert.match(moved.out, /^n1 \(request #\d+\): done \{"registrations":1\}\n$/);
    assert.deepEqual(addresses((await p)[2]), ['127.0.0.2']);
    const audit = ctl(w.db, 'audit').out;
    assert.ok(audit.includes(` ${shown} CLIENT_MOVE "admin client-move to 127.0.0.2" `), audit);
    assert.equal(audit.split('\n').length, 6, 'one line per notification');
    assert.deepEqual((JSON.parse(ctl(w.db, 'audit', '--json').out) as { clientName: string }[]).at(-1)?.clientName, evil);
    // An error quoting what it was given is escaped too.
    assert.equal(ctl(w.db, 'client-move', '--client', evil, '--to-ip', '127.0.0.2\x1b[2J').err, 'witnessctl: --to-ip 127.0.0.2\\x1b[2J: not an IP address\n');
  });
});
