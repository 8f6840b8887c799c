// Issue 2 on a real cluster: three Pacemaker nodes in network namespaces, the agent created with
// pcs as a clone, an IPaddr2 resource moved and its node killed; every surviving node's store
// must show what happened.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { ClusterEvent } from '../../store/types.ts';
import { clientCreds, createWitnessCluster, harness, onNode, requireBuild, ROOT, RPCCLIENT_USER, sh, show, STORE, until } from './harness.ts';
import { runPy, type PyResult, type PyStep } from '../peers/peers.ts';
import { ChangeType, MessageType, WinError, WitnessVersion } from '../../service/swn/constants.ts';

const VIP = '198.18.0.100';
const NODES = [1, 2, 3];

/** The events about VIP, reduced to where it went: ip_moved A>B counts as leaving A and reaching B. */
function trail(events: ClusterEvent[], afterSeq: number): string[] {
  return events.filter((e) => e.seq > afterSeq && e.subject === VIP).map((e) => `${e.kind} ${e.from ?? '-'}>${e.to ?? '-'}`);
}

function leftAndArrived(t: string[], from: string, to: string): boolean {
  const moved = t.includes(`ip_moved ${from}>${to}`);
  const split = t.indexOf(`ip_offline ${from}>-`) >= 0 && t.indexOf(`ip_online ->${to}`) > t.indexOf(`ip_offline ${from}>-`);
  return moved || split;
}

/** witnessctl on node k, on that node's store. */
function ctl(k: number, ...args: string[]): Promise<string> {
  return onNode(k, path.join(ROOT, 'bin/witnessctl'), ...args, '--db', STORE);
}

/**
 * A python3-samba client (from the hub namespace), authenticated with the clusters' account and
 * signing, registered for VIP with node k's witness, then `waits` AsyncNotify calls one after the
 * other; resolves with every step's result.
 */
function witnessClient(k: number, name: string, waits: number, o: { keepAlive?: number } = {}): Promise<PyResult[]> {
  const notify: PyStep = { op: 'AsyncNotify', conn: 'w', handle: 'h' };
  return runPy([
    { op: 'connect', conn: 'w', host: `198.18.0.${k}`, port: 5999, ...clientCreds() },
    { op: 'RegisterEx', conn: 'w', version: WitnessVersion.V2, net: 'FILESRV', share: null, ip: VIP, client: name, flags: 0, timeout: o.keepAlive ?? 120, save: 'h' },
    ...Array.from({ length: waits }, () => notify),
  ], 120_000, ['ip', 'netns', 'exec', 'pwci-hub']);
}

/** Waits until `name` has an AsyncNotify pending with node k's witness. */
async function untilPending(k: number, name: string): Promise<void> {
  await until(`${name} to be pending on n${k}`, 30_000, async () => (JSON.parse(await ctl(k, 'list', '--json')) as { clientName: string; pending: boolean }[]).some((r) => r.clientName === name && r.pending));
}

describe('witness agent on a real 3-node Pacemaker cluster', { timeout: 300_000 }, () => {
  before(async () => {
    requireBuild();
    await harness('down');
    const up = await harness('up', '3');
    assert.equal(up.code, 0, up.stderr);
    await createWitnessCluster(VIP);
  });
  after(async () => {
    await harness('down');
  });

  it('every node knows where the IP runs and where the witness runs', async () => {
    for (const k of NODES) {
      const s = await until(`node ${k}'s store to show the VIP and 3 witness instances`, 30_000, async () => {
        const st = await show(k);
        return st?.view?.ips.some((i) => i.address === VIP && i.started) === true && st.view.witness.length === 3 ? st : null;
      });
      assert.deepEqual(s.view?.nodes.map((n) => [n.name, n.state]), [['n1', 'online'], ['n2', 'online'], ['n3', 'online']]);
      assert.deepEqual(s.view?.witness.map((w) => w.node), ['n1', 'n2', 'n3']);
    }
  });

  it('witnessd answers authenticated clients on every node through its endpoint mapper, flagging the IP usable for witness registration only on the nodes that do not host it; anonymous ones are refused', async () => {
    const host = (await onNode(1, 'crm_resource', '--locate', '-r', 'vip', '-Q')).trim();
    for (const k of NODES) {
      const anon = await sh('ip', ['netns', 'exec', 'pwci-hub', 'rpcclient', '-U%', '-c', 'GetInterfaceList', `ncacn_ip_tcp:198.18.0.${k}`]);
      assert.notEqual(anon.code, 0, anon.stdout + anon.stderr);
      assert.match(anon.stdout + anon.stderr, /ACCESS_DENIED/, `node ${k} refuses an anonymous client`);
      const r = await sh('ip', ['netns', 'exec', 'pwci-hub', 'rpcclient', `-U${RPCCLIENT_USER}`, '-c', 'GetInterfaceList', `ncacn_ip_tcp:198.18.0.${k}[sign]`]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const line = r.stdout.split('\n').find((l) => l.includes(VIP)) ?? '';
      // rpcclient prints '*' for INTERFACE_WITNESS and '+' for IPv4, then the group (node) name.
      const expected = `n${k}` === host ? ` + ${host.toUpperCase()} ${VIP}` : `*+ ${host.toUpperCase()} ${VIP}`;
      assert.ok(line.startsWith(expected), `node ${k}: ${JSON.stringify(line)}, expected ${JSON.stringify(expected)}`);
    }
  });

  it('a client registered on another node than the IP\'s gets RESOURCE_CHANGE when pcs moves the IP, and that node\'s audit matches', async () => {
    const a = (await onNode(1, 'crm_resource', '--locate', '-r', 'vip', '-Q')).trim();
    const others = ['n1', 'n2', 'n3'].filter((n) => n !== a);
    const b = others[0] ?? 'n1'; // the witness the client registers with
    const c = others[1] ?? 'n2'; // where the IP goes
    const kb = Number(b.slice(1));
    const client = witnessClient(kb, 'cluster-client', 2);
    await untilPending(kb, 'cluster-client');
    await onNode(1, 'pcs', 'resource', 'move', 'vip', c);
    const r = await client;
    const msg = (x: PyResult | undefined): unknown => (x?.['result'] as { messages: unknown } | undefined)?.messages;
    assert.deepEqual(msg(r[2]), [{ name: 'FILESRV', change: ChangeType.UNAVAILABLE }], JSON.stringify(r));
    assert.deepEqual(msg(r[3]), [{ name: 'FILESRV', change: ChangeType.AVAILABLE }], JSON.stringify(r));
    const audit = await until('the audit rows on ' + b, 10_000, async () => {
      const rows = JSON.parse(await ctl(kb, 'audit', '--json')) as { clientName: string; summary: string; outcome: string; latencyMs: number | null; identity: string | null }[];
      const mine = rows.filter((x) => x.clientName === 'cluster-client');
      return mine.length >= 2 ? mine : null;
    });
    assert.deepEqual(audit.map((x) => [x.summary, x.outcome, x.identity]), [['FILESRV UNAVAILABLE', 'delivered', 'PWCI\\witness-client'], ['FILESRV AVAILABLE', 'delivered', 'PWCI\\witness-client']]);
    await onNode(1, 'pcs', 'resource', 'clear', 'vip');
    await onNode(1, 'crm_resource', '--wait', '--timeout=60');
  });

  it('an admin on n1 reaches clients registered on n2 and n3 through the cluster: list --all-nodes, client-move, force-unregister --on-node', async () => {
    const mover = witnessClient(2, 'admin-mover', 1);
    const goner = witnessClient(3, 'admin-goner', 1);
    await untilPending(2, 'admin-mover');
    await untilPending(3, 'admin-goner');
    // n1 holds neither registration; --all-nodes asks n2 and n3 through their node attributes.
    assert.deepEqual(JSON.parse(await ctl(1, 'list', '--json')), []);
    const all = JSON.parse(await ctl(1, 'list', '--all-nodes', '--client', 'admin-*', '--json')) as { clientName: string; node: string; pending: boolean }[];
    assert.deepEqual(all.map((r) => [r.clientName, r.node, r.pending]).sort(), [['admin-goner', 'n3', true], ['admin-mover', 'n2', true]]);
    // No --on-node: nothing matches on n1, so the request goes to every other witness node.
    const t0 = Date.now();
    const moved = JSON.parse(await ctl(1, 'client-move', '--client', 'admin-mover', '--to-ip', VIP, '--json')) as { node: string; via: string; state: string; result: { registrations: number } }[];
    const ms = Date.now() - t0;
    assert.deepEqual(moved.map((o) => [o.node, o.via, o.state, o.result.registrations]).sort(), [['n2', 'cib', 'done', 1], ['n3', 'cib', 'done', 0]]);
    const m = await mover;
    assert.equal((m[2]?.['result'] as { type: number }).type, MessageType.CLIENT_MOVE, JSON.stringify(m));
    assert.deepEqual(((m[2]?.['result'] as { messages: { addresses: { ipv4: string }[] }[] }).messages[0]?.addresses ?? []).map((a) => a.ipv4), [VIP]);
    console.log(`# witnessctl client-move on n1 for a client on n2: ${ms} ms including witnessctl's start-up`);
    // --on-node: straight to n3.
    const gone = JSON.parse(await ctl(1, 'force-unregister', '--client', 'admin-goner', '--on-node', 'n3', '--json')) as { node: string; state: string; result: { registrations: number } }[];
    assert.deepEqual(gone.map((o) => [o.node, o.state, o.result.registrations]), [['n3', 'done', 1]]);
    assert.equal((await goner)[2]?.werror, WinError.NOT_FOUND);
    // The node that carried it out audited it; nothing is left behind in the CIB.
    const audit = JSON.parse(await ctl(2, 'audit', '--json')) as { clientName: string; type: number; summary: string; outcome: string }[];
    assert.deepEqual(audit.filter((a) => a.clientName === 'admin-mover').map((a) => [a.type, a.summary, a.outcome]), [[MessageType.CLIENT_MOVE, `admin client-move to ${VIP}`, 'delivered']]);
    const status = await onNode(1, 'cibadmin', '--query', '--scope', 'status');
    assert.doesNotMatch(status, /witness-admin-/, 'request and result attributes are all deleted');
  });

  it('witnessd killed on n2 mid-run: Pacemaker restarts it, the old registration is retired, the client re-registers, and an admin request from n1 reaches it', async () => {
    const rows = async (k: number): Promise<{ key: string; clientName: string; pending: boolean; removedReason: string | null }[]> => JSON.parse(await ctl(k, 'list', '--all', '--json')) as never;
    const before = witnessClient(2, 'restart-client', 1);
    await untilPending(2, 'restart-client');
    // Node 2's witnessd, found by its network namespace (the nodes share one pid namespace).
    const killed = await sh('bash', ['-c', 'for p in $(pgrep -f "dist/service/main.js"); do [ "$(ip netns identify $p)" = pwci-n2 ] && kill -9 $p && echo $p; done']);
    assert.match(killed.stdout, /^\d+\n$/, `exactly one witnessd killed on n2: ${killed.stdout} ${killed.stderr}`);
    const lost = await before;
    assert.equal(lost[2]?.ok, false, 'the pending AsyncNotify ends with the connection');
    // The OCF monitor notices, Pacemaker restarts the instance, the new witnessd retires what the old one held.
    await until('the old registration to be retired on n2', 90_000, async () => (await rows(2)).some((r) => r.clientName === 'restart-client' && r.removedReason === 'restart'));
    const again = witnessClient(2, 'restart-client', 1);
    await until('restart-client to be pending again on n2', 60_000, async () => (await rows(2)).some((r) => r.clientName === 'restart-client' && r.pending && r.removedReason === null));
    const live = (await rows(2)).filter((r) => r.clientName === 'restart-client' && r.removedReason === null);
    assert.equal(live.length, 1, 'no stale registration');
    const out = JSON.parse(await ctl(1, 'client-move', '--client', 'restart-client', '--to-ip', VIP, '--json')) as { node: string; state: string; result: { registrations: number } }[];
    assert.deepEqual(out.filter((o) => o.result.registrations > 0).map((o) => [o.node, o.state, o.result.registrations]), [['n2', 'done', 1]]);
    const r = await again;
    assert.equal((r[2]?.['result'] as { type: number }).type, MessageType.CLIENT_MOVE, JSON.stringify(r));
    await onNode(1, 'crm_resource', '--cleanup', '-r', 'witness');
    await onNode(1, 'crm_resource', '--wait', '--timeout=60');
  });

  it('a planned move (crm_resource --move): clients get CLIENT_MOVE to the destination\'s own IP before the IP goes down, then UNAVAILABLE', async () => {
    const VIP2 = '198.18.0.101';
    const a = (await onNode(1, 'crm_resource', '--locate', '-r', 'vip', '-Q')).trim();
    const [c = 'n1', b = 'n2'] = ['n1', 'n2', 'n3'].filter((n) => n !== a); // c: destination, b: the client's witness
    const kb = Number(b.slice(1));
    // The destination already serves an IP of its own (a scale-out file server): that is where clients can go.
    await onNode(1, 'pcs', 'resource', 'create', 'vip2', 'ocf:heartbeat:IPaddr2', `ip=${VIP2}`, 'cidr_netmask=24', 'nic=eth0', 'op', 'monitor', 'interval=5s');
    await onNode(1, 'pcs', 'constraint', 'location', 'vip2', 'prefers', `${c}=INFINITY`);
    await onNode(1, 'crm_resource', '--wait', '--timeout=60');
    await until(`${b} to see ${VIP2} on ${c}`, 30_000, async () => (await show(kb))?.view?.ips.some((i) => i.address === VIP2 && i.node === c && i.started) === true);
    const client = witnessClient(kb, 'planned-client', 2);
    await untilPending(kb, 'planned-client');
    const t0 = Date.now();
    await onNode(1, 'crm_resource', '--move', '-r', 'vip', '-N', c);
    let r: PyResult[];
    try {
      r = await client;
    } finally {
      await onNode(1, 'crm_resource', '--clear', '-r', 'vip');
      await onNode(1, 'pcs', 'resource', 'delete', 'vip2');
      await onNode(1, 'crm_resource', '--wait', '--timeout=60');
    }
    const res = (x: PyResult | undefined) => x?.['result'] as { type: number; messages: { name?: string; change?: number; addresses?: { ipv4: string }[] }[] };
    assert.equal(res(r[2]).type, MessageType.CLIENT_MOVE, JSON.stringify(r));
    // Then the destination's own address (node_addresses=auto): the same smbd answers there (docs/CONTRACTS.md).
    assert.deepEqual((res(r[2]).messages[0]?.addresses ?? []).map((x) => x.ipv4), [VIP2, `198.18.0.${c.slice(1)}`]);
    assert.equal(res(r[3]).type, MessageType.RESOURCE_CHANGE, JSON.stringify(r));
    assert.deepEqual(res(r[3]).messages, [{ name: 'FILESRV', change: ChangeType.UNAVAILABLE }]);
    const tMove = Number(r[2]?.['t']) * 1000;
    const tDown = Number(r[3]?.['t']) * 1000;
    assert.ok(tMove < tDown);
    console.log(`# planned move: CLIENT_MOVE ${(tMove - t0).toFixed(0)} ms after crm_resource --move started, ${(tDown - tMove).toFixed(0)} ms before UNAVAILABLE`);
  });

  it('pcs node standby of the IP\'s node: the scheduler\'s plan (crm_simulate) gives clients CLIENT_MOVE to the IP of the node it will move to', async () => {
    const VIP2 = '198.18.0.102';
    const a = (await onNode(1, 'crm_resource', '--locate', '-r', 'vip', '-Q')).trim();
    const [c = 'n1', b = 'n2'] = ['n1', 'n2', 'n3'].filter((n) => n !== a);
    const kb = Number(b.slice(1));
    await onNode(1, 'pcs', 'resource', 'create', 'vip3', 'ocf:heartbeat:IPaddr2', `ip=${VIP2}`, 'cidr_netmask=24', 'nic=eth0', 'op', 'monitor', 'interval=5s');
    await onNode(1, 'pcs', 'constraint', 'location', 'vip3', 'prefers', `${c}=INFINITY`);
    // Where vip goes when its node leaves: c (a preference weaker than stickiness keeps it on a until then).
    await onNode(1, 'pcs', 'constraint', 'location', 'vip', 'prefers', `${c}=50`);
    await onNode(1, 'crm_resource', '--wait', '--timeout=60');
    await until(`${b} to see ${VIP2} on ${c}`, 30_000, async () => (await show(kb))?.view?.ips.some((i) => i.address === VIP2 && i.node === c && i.started) === true);
    assert.equal((await onNode(1, 'crm_resource', '--locate', '-r', 'vip', '-Q')).trim(), a);
    const client = witnessClient(kb, 'standby-client', 3, { keepAlive: 30 });
    await untilPending(kb, 'standby-client');
    const t0 = Date.now();
    await onNode(1, 'pcs', 'node', 'standby', a);
    let r: PyResult[];
    try {
      r = await client;
    } finally {
      await onNode(1, 'pcs', 'node', 'unstandby', a);
      await onNode(1, 'pcs', 'constraint', 'delete', `location-vip-${c}-50`).catch(() => onNode(1, 'pcs', 'constraint', 'remove', `location-vip-${c}-50`));
      await onNode(1, 'pcs', 'resource', 'delete', 'vip3');
      await onNode(1, 'crm_resource', '--wait', '--timeout=60');
    }
    const got = r.slice(2).map((x) => ({ t: Number(x['t']) * 1000, res: x['result'] as { type: number; messages: { change?: number; addresses?: { ipv4: string }[] }[] } | undefined }));
    const move = got.find((g) => g.res?.type === MessageType.CLIENT_MOVE);
    assert.ok(move, `a CLIENT_MOVE among ${JSON.stringify(r)}`);
    assert.deepEqual((move.res?.messages[0]?.addresses ?? []).map((x) => x.ipv4), [VIP2, `198.18.0.${c.slice(1)}`]);
    const down = got.find((g) => g.res?.type === MessageType.RESOURCE_CHANGE && g.res.messages[0]?.change === ChangeType.UNAVAILABLE);
    const order = down ? (move.t < down.t ? `${(down.t - move.t).toFixed(0)} ms before UNAVAILABLE` : `${(move.t - down.t).toFixed(0)} ms after UNAVAILABLE`) : 'no UNAVAILABLE seen';
    console.log(`# standby: CLIENT_MOVE ${(move.t - t0).toFixed(0)} ms after pcs node standby started, ${order}`);
  });

  it('a move is recorded on every node; killing the IP\'s node is recorded on every survivor, and a client registered on a survivor is told', async () => {
    const a = (await onNode(1, 'crm_resource', '--locate', '-r', 'vip', '-Q')).trim();
    const b = ['n1', 'n2', 'n3'].find((n) => n !== a) ?? 'n1';
    const before = new Map<number, number>();
    for (const k of NODES) before.set(k, (await show(k))?.events.at(-1)?.seq ?? 0);

    await onNode(1, 'crm_resource', '--move', '-r', 'vip', '-N', b);
    for (const k of NODES) {
      await until(`node ${k} to record the move ${a}→${b}`, 30_000, async () => {
        const st = await show(k);
        return st && leftAndArrived(trail(st.events, before.get(k) ?? 0), a, b);
      });
    }
    await onNode(1, 'crm_resource', '--clear', '-r', 'vip');
    await onNode(1, 'crm_resource', '--wait', '--timeout=60');

    // Power cut on the node that holds the IP now.
    const kb = Number(b.slice(1));
    const survivors = NODES.filter((k) => k !== kb);
    for (const k of survivors) before.set(k, (await show(k))?.events.at(-1)?.seq ?? 0);
    // A client registered with a surviving node's witness for the IP that is about to die.
    const ks = survivors[0] ?? 1;
    const client = witnessClient(ks, 'survivor-client', 1);
    await untilPending(ks, 'survivor-client');
    const killed = await harness('kill', String(kb));
    assert.equal(killed.code, 0, killed.stderr);
    for (const k of survivors) {
      const s = await until(`node ${k} to record the loss of ${b} and the IP's recovery`, 60_000, async () => {
        const st = await show(k);
        if (!st) return null;
        const fresh = st.events.filter((e) => e.seq > (before.get(k) ?? 0));
        const lost = fresh.some((e) => e.kind === 'node_lost' && e.subject === b);
        const t = trail(st.events, before.get(k) ?? 0);
        const c = st.view?.ips.find((i) => i.address === VIP)?.node ?? null;
        return lost && c !== null && c !== b && leftAndArrived(t, b, c) ? st : null;
      });
      assert.equal(s.view?.nodes.find((n) => n.name === b)?.state, 'lost');
      assert.ok(!s.view?.witness.some((w) => w.node === b), 'the dead node runs no witness');
    }
    const told = await client;
    assert.deepEqual((told[2]?.['result'] as { messages: unknown } | undefined)?.messages, [{ name: 'FILESRV', change: ChangeType.UNAVAILABLE }], JSON.stringify(told));
  });
});
