// Issue 11, requirement 0, on a real cluster: the common file-server topology, two Pacemaker nodes
// with one floating IP (active/passive). A python3-samba client connected through the VIP asks
// GetInterfaceList, finds the other node's own address offered for registration (published by that
// node's watcher as its witness-addresses attribute), registers there for the VIP, and when pcs
// moves the VIP to that very node it is told UNAVAILABLE then AVAILABLE on the same connection.
// Then the node addresses as resources: witnessctl client-move --to-node names the node without the
// VIP (CLIENT_MOVE to its own address), and a client registered for a node's own address (its SMB
// server is that node) is told UNAVAILABLE by the other node's witness when the node goes into
// standby or its witness stops.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { InterfaceFlags, InterfaceState, ChangeType, MessageType, WitnessVersion } from '../../service/swn/constants.ts';
import { runPy, type PyResult } from '../peers/peers.ts';
import { clientCreds, createWitnessCluster, harness, onNode, requireBuild, ROOT, RPCCLIENT_USER, sh, show, STORE, until } from './harness.ts';

const VIP = '198.18.0.100';
const HUB = ['ip', 'netns', 'exec', 'pwci-hub'];

interface Iface { name: string; state: number; ipv4: string; flags: number }

const msg = (x: PyResult | undefined): unknown => (x?.['result'] as { messages: unknown } | undefined)?.messages;
const moveTo = (x: PyResult | undefined): [number | undefined, string[]] => {
  const res = x?.['result'] as { type: number; messages: { addresses: { ipv4: string }[] }[] } | undefined;
  return [res?.type, (res?.messages[0]?.addresses ?? []).map((a) => a.ipv4)];
};

/** A python3-samba client in the hub registered with the witness on node `k` for `ip`, waiting in AsyncNotify (`waits` calls). */
async function registered(k: number, ip: string, client: string, waits = 1): Promise<{ done: Promise<PyResult[]> }> {
  const steps = [
    { op: 'connect', conn: 'w', host: `198.18.0.${k}`, port: 5999, ...clientCreds() },
    { op: 'RegisterEx', conn: 'w', version: WitnessVersion.V2, net: 'FILESRV', share: null, ip, client, flags: 0, timeout: 120, save: 'h' },
    ...Array.from({ length: waits }, () => ({ op: 'AsyncNotify', conn: 'w', handle: 'h' })),
  ];
  const run = runPy(steps, 120_000, HUB);
  let ended: PyResult[] | null = null;
  void run.then((r) => { ended = r; }, () => undefined);
  await until(`${client} to be pending on n${k}`, 30_000, async () => {
    if (ended !== null) throw new Error(`${client} ended early: ${JSON.stringify(ended)}`);
    return (JSON.parse(await ctl(k, 'list', '--json')) as { clientName: string; pending: boolean }[]).some((r) => r.clientName === client && r.pending);
  });
  return { done: run };
}

function ctl(k: number, ...args: string[]): Promise<string> {
  return onNode(k, path.join(ROOT, 'bin/witnessctl'), ...args, '--db', STORE);
}

describe('single floating IP, active/passive: node addresses in GetInterfaceList (2-node Pacemaker cluster)', { timeout: 420_000 }, () => {
  before(async () => {
    requireBuild();
    await harness('down');
    const up = await harness('up', '2');
    assert.equal(up.code, 0, up.stderr);
    await createWitnessCluster(VIP); // node_addresses left at its default: auto
  });
  after(async () => {
    await harness('down');
  });

  it('each node publishes its address on the VIP\'s subnet and every node\'s store holds both', async () => {
    for (const k of [1, 2]) {
      const s = await until(`node ${k}'s view to hold both nodes' addresses`, 30_000, async () => {
        const st = await show(k);
        const got = st?.view?.nodes.map((n) => [n.name, n.addresses ?? []]);
        return JSON.stringify(got) === JSON.stringify([['n1', ['198.18.0.1']], ['n2', ['198.18.0.2']]]) ? st : null;
      });
      assert.ok(s.view?.ips.some((i) => i.address === VIP && i.started));
    }
    const attr = await onNode(1, 'attrd_updater', '-Q', '-A', '-n', 'witness-addresses');
    assert.match(attr, /host="n1" value="198\.18\.0\.1"/);
    assert.match(attr, /host="n2" value="198\.18\.0\.2"/);
  });

  it('a client connected through the VIP registers with the other node and keeps that connection while the VIP moves there', async () => {
    const a = (await onNode(1, 'crm_resource', '--locate', '-r', 'vip', '-Q')).trim();
    const b = a === 'n1' ? 'n2' : 'n1';
    const ka = Number(a.slice(1));
    const kb = Number(b.slice(1));

    // Samba's rpcclient, through the VIP: '*' marks INTERFACE_WITNESS, '+' IPv4.
    const rc = await sh(HUB[0] ?? 'ip', [...HUB.slice(1), 'rpcclient', `-U${RPCCLIENT_USER}`, '-c', 'GetInterfaceList', `ncacn_ip_tcp:${VIP}[sign]`]);
    assert.equal(rc.code, 0, rc.stdout + rc.stderr);
    assert.ok(rc.stdout.split('\n').some((l) => l.startsWith(`*+ ${b.toUpperCase()} 198.18.0.${kb}`)), rc.stdout);
    assert.ok(rc.stdout.split('\n').some((l) => l.startsWith(` + ${a.toUpperCase()} ${VIP}`)), rc.stdout);

    // python3-samba: the list through the VIP, the interface chosen from it as Windows does (the
    // first AVAILABLE entry with INTERFACE_WITNESS).
    const listed = await runPy([{ op: 'connect', conn: 'v', host: VIP, port: 5999, ...clientCreds() }, { op: 'GetInterfaceList', conn: 'v' }], 60_000, HUB);
    const list = (listed[1]?.['interfaces'] ?? []) as Iface[];
    assert.deepEqual(list.map((i) => [i.name, i.ipv4, i.state, i.flags]), [
      ['N1', '198.18.0.1', InterfaceState.AVAILABLE, InterfaceFlags.IPV4 | (a === 'n1' ? 0 : InterfaceFlags.INTERFACE_WITNESS)],
      ['N2', '198.18.0.2', InterfaceState.AVAILABLE, InterfaceFlags.IPV4 | (a === 'n2' ? 0 : InterfaceFlags.INTERFACE_WITNESS)],
      [a.toUpperCase(), VIP, InterfaceState.AVAILABLE, InterfaceFlags.IPV4],
    ], JSON.stringify(listed));
    const chosen = list.find((i) => i.state === InterfaceState.AVAILABLE && (i.flags & InterfaceFlags.INTERFACE_WITNESS) !== 0);
    assert.equal(chosen?.ipv4, `198.18.0.${kb}`);

    const client = runPy([
      { op: 'connect', conn: 'w', host: chosen.ipv4, port: 5999, ...clientCreds() },
      { op: 'RegisterEx', conn: 'w', version: WitnessVersion.V2, net: 'FILESRV', share: null, ip: VIP, client: 'single-vip-client', flags: 0, timeout: 120, save: 'h' },
      { op: 'AsyncNotify', conn: 'w', handle: 'h' },
      { op: 'AsyncNotify', conn: 'w', handle: 'h' },
      { op: 'GetInterfaceList', conn: 'w' }, // the same connection, after the move
    ], 120_000, HUB);
    await until(`the client to be pending on ${b}`, 30_000, async () => (JSON.parse(await ctl(kb, 'list', '--json')) as { clientName: string; pending: boolean }[]).some((r) => r.clientName === 'single-vip-client' && r.pending));
    const t0 = Date.now();
    let r: PyResult[];
    try {
      await onNode(1, 'pcs', 'resource', 'move', 'vip', b);
      r = await client;
    } finally {
      await onNode(1, 'pcs', 'resource', 'clear', 'vip');
    }
    assert.equal(r[1]?.ok, true, JSON.stringify(r));
    assert.deepEqual(msg(r[2]), [{ name: 'FILESRV', change: ChangeType.UNAVAILABLE }], JSON.stringify(r));
    assert.deepEqual(msg(r[3]), [{ name: 'FILESRV', change: ChangeType.AVAILABLE }], JSON.stringify(r));
    // Still connected: the witness on b answers on the same connection, and now lists the VIP as its own.
    assert.equal(r[4]?.ok, true, JSON.stringify(r));
    const after = (r[4]?.['interfaces'] ?? []) as Iface[];
    assert.deepEqual(after.map((i) => [i.name, i.ipv4, i.flags]), [
      ['N1', '198.18.0.1', InterfaceFlags.IPV4 | (b === 'n1' ? 0 : InterfaceFlags.INTERFACE_WITNESS)],
      ['N2', '198.18.0.2', InterfaceFlags.IPV4 | (b === 'n2' ? 0 : InterfaceFlags.INTERFACE_WITNESS)],
      [b.toUpperCase(), VIP, InterfaceFlags.IPV4],
    ]);
    const down = Number(r[2]?.['t']) * 1000;
    const upAt = Number(r[3]?.['t']) * 1000;
    console.log(`# single VIP ${a}→${b}: UNAVAILABLE ${(down - t0).toFixed(0)} ms after pcs resource move started, AVAILABLE ${(upAt - down).toFixed(0)} ms later, on the witness connection to ${b} (198.18.0.${kb})`);
    // The node that held the VIP lists the other node for registration now.
    const fromA = await runPy([{ op: 'connect', conn: 'x', host: `198.18.0.${ka}`, port: 5999, ...clientCreds() }, { op: 'GetInterfaceList', conn: 'x' }], 60_000, HUB);
    const aList = (fromA[1]?.['interfaces'] ?? []) as Iface[];
    assert.deepEqual(aList.filter((i) => (i.flags & InterfaceFlags.INTERFACE_WITNESS) !== 0).map((i) => i.ipv4).sort(), [`198.18.0.${kb}`, VIP].sort());
  });

  it('witnessctl client-move --to-node the node without the VIP: CLIENT_MOVE to that node\'s own address', async () => {
    const a = (await onNode(1, 'crm_resource', '--locate', '-r', 'vip', '-Q')).trim();
    const kb = a === 'n1' ? 2 : 1;
    const ka = 3 - kb;
    const { done: client } = await registered(kb, VIP, 'single-vip-mover');
    // Asked on the VIP's node: the registration lives on the other one (cross-node admin).
    const out = JSON.parse(await ctl(ka, 'client-move', '--client', 'single-vip-mover', '--to-node', `n${kb}`, '--json')) as { state: string; result: unknown }[];
    assert.deepEqual(out.map((x) => [x.state, x.result]), [['done', { registrations: 1 }]], JSON.stringify(out));
    const r = await client;
    assert.deepEqual(moveTo(r[2]), [MessageType.CLIENT_MOVE, [`198.18.0.${kb}`]], JSON.stringify(r));
  });

  it('a client registered for a node\'s own address is told UNAVAILABLE by the other node\'s witness when that node goes into standby', async () => {
    await onNode(1, 'crm_resource', '--wait', '--timeout=60');
    // Its SMB server is n1, reached through n1's own address; its witness is n2's.
    const { done: client } = await registered(2, '198.18.0.1', 'via-n1-address');
    const t0 = Date.now();
    let r: PyResult[];
    try {
      await onNode(1, 'pcs', 'node', 'standby', 'n1');
      r = await client;
    } finally {
      await onNode(2, 'pcs', 'node', 'unstandby', 'n1');
    }
    assert.deepEqual(msg(r[2]), [{ name: 'FILESRV', change: ChangeType.UNAVAILABLE }], JSON.stringify(r));
    console.log(`# n1 into standby: a client registered on n2 for n1's own address told UNAVAILABLE ${(Number(r[2]?.['t']) * 1000 - t0).toFixed(0)} ms after pcs node standby started`);
    const ev = (await show(2))?.events.find((e) => e.kind === 'ip_offline' && e.subject === '198.18.0.1');
    assert.deepEqual(ev?.payload, { resource: 'node:n1', family: 4, nodeAddress: true });
    await onNode(1, 'crm_resource', '--wait', '--timeout=90');
    await until('n2\'s view to hold n1\'s address again', 60_000, async () => JSON.stringify((await show(2))?.view?.nodes.find((n) => n.name === 'n1')?.addresses) === '["198.18.0.1"]');
  });

  it('the witness stopped on a node: its address is withdrawn and no longer listed; a client registered for it hears UNAVAILABLE', async () => {
    await onNode(1, 'crm_resource', '--wait', '--timeout=60');
    const { done: client } = await registered(1, '198.18.0.2', 'via-n2-address');
    await onNode(1, 'crm_resource', '--ban', '-r', 'witness-clone', '-N', 'n2');
    try {
      const r = await client;
      assert.deepEqual(msg(r[2]), [{ name: 'FILESRV', change: ChangeType.UNAVAILABLE }], JSON.stringify(r));
      await until('n1\'s view to drop n2\'s address', 60_000, async () => {
        const st = await show(1);
        const v = st?.view;
        return v !== null && v !== undefined && v.nodes.find((n) => n.name === 'n2')?.addresses === undefined && v.witness.every((w) => w.node !== 'n2');
      });
    } finally {
      await onNode(1, 'crm_resource', '--clear', '-r', 'witness-clone');
      await onNode(1, 'crm_resource', '--wait', '--timeout=60');
    }
    await until('n1\'s view to hold n2\'s address again', 60_000, async () => JSON.stringify((await show(1))?.view?.nodes.find((n) => n.name === 'n2')?.addresses) === '["198.18.0.2"]');
  });
});
