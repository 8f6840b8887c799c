// Each witness node's own addresses (issue 11, requirement 0): which ones a node offers, how they
// travel through node attributes into the view and the store, and how GetInterfaceList lists them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import type { Attrd } from '../../agent/admin/attrd.ts';
import { defaultViewConfig } from '../../agent/config.ts';
import { diffViews } from '../../agent/diff.ts';
import {
  chooseNodeAddresses,
  localAddresses,
  MAX_NODE_ADDRESSES,
  NODE_ADDRESSES_ATTR,
  NodeAddressPublisher,
  parseNodeAddressesAttr,
  parseNodeAddressSetting,
  withNodeAddresses,
  type LocalAddress,
  type SyncedAttributes,
} from '../../agent/node-addresses.ts';
import { syncXml } from '../../agent/sync.ts';
import { decodeInterfaceListResponse, encodeInterfaceList } from '../../service/swn/codec.ts';
import { InterfaceFlags, InterfaceState, WinError, WitnessVersion } from '../../service/swn/constants.ts';
import { buildInterfaceList } from '../../service/swn/interface-list.ts';
import { WitnessRegistry } from '../../service/swn/registry.ts';
import { openStore } from '../../store/index.ts';
import { MIGRATIONS } from '../../store/schema.ts';
import type { ClusterView } from '../../store/types.ts';
import { ip, node, view } from '../helpers/views.ts';
import { commitSync, readView } from '../../store/view.ts';

const quiet = pino({ level: 'silent' });
const W = InterfaceFlags.INTERFACE_WITNESS;
const V4 = InterfaceFlags.IPV4;

function tmpDb(): { db: string; done: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-nodeaddr-'));
  return { db: path.join(dir, 'state.db'), done: () => { fs.rmSync(dir, { recursive: true, force: true }); } };
}

/** Two nodes with their addresses, one VIP on n1, a witness on both. */
function activePassive(epoch = 1, vipNode: string | null = 'n1', over: Partial<Omit<ClusterView, 'cib'>> = {}): ClusterView {
  return view(epoch, {
    nodes: [{ ...node('n1'), addresses: ['198.18.0.1'] }, { ...node('n2'), addresses: ['198.18.0.2'] }],
    ips: [ip('198.18.0.100', vipNode, 'vip')],
    witness: [{ node: 'n1', resource: 'witness:0', started: true }, { node: 'n2', resource: 'witness:1', started: true }],
    ...over,
  });
}

const iface = (address: string, cidr: string | null, internal = false): os.NetworkInterfaceInfo =>
  (address.includes(':')
    ? { address, netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal, cidr, scopeid: 0 }
    : { address, netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal, cidr });

describe('node addresses: which a node offers', () => {
  it('reads the setting: auto (default), none, or addresses and subnets; a bad entry is named', () => {
    assert.deepEqual(parseNodeAddressSetting(''), { mode: 'auto' });
    assert.deepEqual(parseNodeAddressSetting('AUTO'), { mode: 'auto' });
    assert.deepEqual(parseNodeAddressSetting('none'), { mode: 'none' });
    const l = parseNodeAddressSetting('198.18.0.0/24, 2001:db8::7');
    assert.equal(l.mode, 'list');
    assert.deepEqual(l.mode === 'list' ? l.patterns.map((p) => [p.text, p.family, p.prefix]) : [], [['198.18.0.0/24', 4, 24], ['2001:db8::7', 6, null]]);
    assert.throws(() => parseNodeAddressSetting('198.18.0.0/33'), /node_addresses: "198\.18\.0\.0\/33" is prefix length 33 is out of range/);
    assert.throws(() => parseNodeAddressSetting('eth0'), /node_addresses: "eth0"/);
  });

  it('lists the host\'s interfaces without loopback, link-local or scoped addresses', () => {
    const got = localAddresses({
      lo: [iface('127.0.0.1', '127.0.0.1/8', true), iface('::1', '::1/128', true)],
      eth0: [iface('198.18.0.1', '198.18.0.1/24'), iface('198.18.0.100', '198.18.0.100/24'), iface('fe80::1', 'fe80::1/64'), iface('2001:db8::1', '2001:db8::1/64')],
      eth1: [iface('169.254.3.3', '169.254.3.3/16'), iface('10.1.2.3', null)],
    });
    assert.deepEqual(got, [
      { address: '198.18.0.1', family: 4, prefix: 24 },
      { address: '198.18.0.100', family: 4, prefix: 24 },
      { address: '2001:db8::1', family: 6, prefix: 64 },
      { address: '10.1.2.3', family: 4, prefix: 32 },
    ]);
  });

  const local: LocalAddress[] = [
    { address: '10.9.9.9', family: 4, prefix: 8 },
    { address: '198.18.0.1', family: 4, prefix: 24 },
    { address: '198.18.0.100', family: 4, prefix: 24 }, // the VIP, while this node holds it
    { address: '198.18.1.1', family: 4, prefix: 24 },
    { address: '2001:db8::1', family: 6, prefix: 64 },
  ];
  const vip = { address: '198.18.0.100', family: 4 as const, prefix: 24 };

  it('auto: the node\'s fixed addresses on the floating IPs\' subnets, never a floating IP itself', () => {
    assert.deepEqual(chooseNodeAddresses({ mode: 'auto' }, local, [vip]), ['198.18.0.1']);
    // No cidr_netmask: the interface's own prefix decides.
    assert.deepEqual(chooseNodeAddresses({ mode: 'auto' }, local, [{ ...vip, prefix: null }]), ['198.18.0.1']);
    // A /16 floating IP spans both 198.18 subnets; an IPv6 one brings the IPv6 address (IPv4 listed first).
    assert.deepEqual(chooseNodeAddresses({ mode: 'auto' }, local, [{ address: '2001:db8::100', family: 6, prefix: 64 }, { ...vip, prefix: 16 }]), ['198.18.0.1', '198.18.1.1', '2001:db8::1']);
    assert.deepEqual(chooseNodeAddresses({ mode: 'auto' }, local, []), [], 'no floating IP, no subnet to pick from');
    assert.deepEqual(chooseNodeAddresses({ mode: 'none' }, local, [vip]), []);
  });

  it('a list: the addresses it names or that lie in its subnets, those on this node only', () => {
    assert.deepEqual(chooseNodeAddresses(parseNodeAddressSetting('198.18.1.0/24'), local, [vip]), ['198.18.1.1']);
    assert.deepEqual(chooseNodeAddresses(parseNodeAddressSetting('198.18.0.1,198.18.0.2'), local, [vip]), ['198.18.0.1'], 'one list for the whole clone: each node takes its own');
    assert.deepEqual(chooseNodeAddresses(parseNodeAddressSetting('198.18.0.0/24'), local, [vip]), ['198.18.0.1'], 'the VIP on the interface is not the node\'s');
    assert.deepEqual(chooseNodeAddresses(parseNodeAddressSetting('10.0.0.0/8 2001:db8::/32'), local, [vip]), ['10.9.9.9', '2001:db8::1']);
  });
});

describe('node addresses: the attribute and the view', () => {
  it('reads an attribute value defensively: canonical, deduplicated, bounded; junk dropped', () => {
    assert.deepEqual(parseNodeAddressesAttr('198.18.0.1, 2001:DB8:0::1;198.18.0.1 bogus 127.0.0.1 fe80::1 0.0.0.0'), ['198.18.0.1', '2001:db8::1']);
    assert.deepEqual(parseNodeAddressesAttr('none'), []);
    const many = Array.from({ length: 40 }, (_, i) => `198.18.0.${i + 1}`).join(',');
    assert.equal(parseNodeAddressesAttr(many).length, MAX_NODE_ADDRESSES);
    assert.deepEqual(parseNodeAddressesAttr(`198.18.0.1,${' '.repeat(3000)}`), [], 'an over-long value is not read');
  });

  it('the admin\'s permanent attribute wins over the published one; a node with none has no field', () => {
    const nodes = [node('n1'), node('n2'), node('n3')];
    const permanent = new Map([['n2', { [NODE_ADDRESSES_ATTR]: '198.18.0.22' }], ['n3', { [NODE_ADDRESSES_ATTR]: 'none' }]]);
    const transient = new Map([['n1', { [NODE_ADDRESSES_ATTR]: '198.18.0.1' }], ['n2', { [NODE_ADDRESSES_ATTR]: '198.18.0.2' }], ['n3', { [NODE_ADDRESSES_ATTR]: '198.18.0.3' }]]);
    assert.deepEqual(withNodeAddresses(nodes, permanent, transient), [{ ...node('n1'), addresses: ['198.18.0.1'] }, { ...node('n2'), addresses: ['198.18.0.22'] }, node('n3')]);
  });

  it('a sync reads every node\'s attribute from the CIB into the view and the store (migration 6), and a later change rewrites it', () => {
    const { db, done } = tmpDb();
    try {
      const base = fs.readFileSync(path.join(import.meta.dirname, '../fixtures/cib/01-started.xml'), 'utf8');
      const withAttr = (xml: string, uname: string, value: string, epoch: number): string => xml
        .replace(/epoch="\d+"/, `epoch="${epoch}"`)
        .replace(new RegExp(`(<node_state [^>]*uname="${uname}"[^>]*>)`), `$1<transient_attributes id="${uname}"><instance_attributes id="status-${uname}"><nvpair id="status-${uname}-wa" name="${NODE_ADDRESSES_ATTR}" value="${value}"/></instance_attributes></transient_attributes>`);
      assert.match(base, /<node_state [^>]*uname="n1"/);
      const store = openStore(db);
      try {
        assert.equal(store.db.pragma('user_version', { simple: true }), MIGRATIONS.length);
        const r1 = syncXml(store, withAttr(withAttr(base, 'n1', '198.18.0.1', 100), 'n2', '198.18.0.2,2001:db8::2', 100), defaultViewConfig());
        assert.deepEqual(r1.view.nodes.map((n) => [n.name, n.addresses ?? null]), [['n1', ['198.18.0.1']], ['n2', ['198.18.0.2', '2001:db8::2']], ['n3', null]]);
        assert.deepEqual(readView(store)?.nodes, r1.view.nodes);
        assert.deepEqual(r1.events, [], 'the first sync is a baseline');
        const r2 = syncXml(store, withAttr(base, 'n1', '198.18.0.11', 101), defaultViewConfig());
        assert.deepEqual(readView(store)?.nodes.map((n) => [n.name, n.addresses ?? null]), [['n1', ['198.18.0.11']], ['n2', null], ['n3', null]]);
        // A node address that goes away is told as an IP going offline (test/unit/node-address-events.test.ts).
        assert.deepEqual(r2.events.map((e) => `${e.kind} ${e.subject}`), ['ip_offline 198.18.0.1', 'ip_offline 198.18.0.2', 'ip_offline 2001:db8::2', 'ip_online 198.18.0.11']);
      } finally {
        store.close();
      }
    } finally {
      done();
    }
  });

  it('a store made before migration 6 gets the column, its nodes none', () => {
    const { db, done } = tmpDb();
    try {
      const raw = new Database(db);
      for (const sql of MIGRATIONS.slice(0, 5)) raw.exec(sql);
      raw.pragma('user_version = 5');
      raw.prepare("INSERT INTO view_meta VALUES (1, 0, 1, 0, 'n1', 0)").run();
      raw.prepare("INSERT INTO nodes (name, node_id, state) VALUES ('n1', '1', 'online')").run();
      raw.close();
      const store = openStore(db);
      try {
        assert.deepEqual(readView(store)?.nodes, [node('n1')]);
        commitSync(store, activePassive(2), diffViews);
        assert.deepEqual(readView(store)?.nodes, activePassive(2).nodes);
      } finally {
        store.close();
      }
    } finally {
      done();
    }
  });
});

describe('node addresses in GetInterfaceList', () => {
  it('single VIP, active/passive: the node entries make the other node usable for registration from either side', () => {
    const v = activePassive();
    const rows = (local: string): [string, string, number, number][] => buildInterfaceList(v, local).map((i) => [i.groupName, i.address, i.state, i.flags]);
    // On the VIP's node (where a client connected through the VIP asks): only n2 may be registered with.
    assert.deepEqual(rows('n1'), [
      ['N1', '198.18.0.1', InterfaceState.AVAILABLE, V4],
      ['N2', '198.18.0.2', InterfaceState.AVAILABLE, V4 | W],
      ['N1', '198.18.0.100', InterfaceState.AVAILABLE, V4],
    ]);
    assert.deepEqual(rows('n2'), [
      ['N1', '198.18.0.1', InterfaceState.AVAILABLE, V4 | W],
      ['N2', '198.18.0.2', InterfaceState.AVAILABLE, V4],
      ['N1', '198.18.0.100', InterfaceState.AVAILABLE, V4 | W],
    ]);
    assert.deepEqual(buildInterfaceList(v, 'n1').map((i) => [i.kind, i.resource, i.node]), [['node', 'node:n1', 'n1'], ['node', 'node:n2', 'n2'], ['floating', 'vip', 'n1']]);
  });

  it('a node that is not online is UNAVAILABLE; one without a witness is listed but not for registration; a floating IP is listed once', () => {
    const v = activePassive(1, 'n1', {
      nodes: [{ ...node('n1'), addresses: ['198.18.0.1', '198.18.0.100'] }, { ...node('n2', 'standby'), addresses: ['198.18.0.2'] }, { ...node('n3'), addresses: ['198.18.0.3', '198.18.0.1'] }],
    });
    assert.deepEqual(buildInterfaceList(v, 'n1').map((i) => [i.groupName, i.address, i.state, i.flags]), [
      ['N1', '198.18.0.1', InterfaceState.AVAILABLE, V4],
      ['N2', '198.18.0.2', InterfaceState.UNAVAILABLE, V4],
      ['N3', '198.18.0.3', InterfaceState.AVAILABLE, V4],
      ['N1', '198.18.0.100', InterfaceState.AVAILABLE, V4],
    ]);
  });

  it('golden bytes: the answer n1 gives with its VIP and both nodes listed', () => {
    const name520 = (s: string): string => Buffer.concat([Buffer.from(s, 'utf16le'), Buffer.alloc(520 - 2 * s.length)]).toString('hex');
    const entry = (group: string, ipv4: string, flags: number): string => `${name520(group)} ffffffff 0100 0000 ${ipv4} ${'00'.repeat(16)} 0${flags}000000`;
    const golden = Buffer.from(`00000200 03000000 04000200 03000000 ${entry('N1', 'c6120001', 1)} ${entry('N2', 'c6120002', 5)} ${entry('N1', 'c6120064', 1)} 00000000`.replace(/\s+/g, ''), 'hex');
    const mine = encodeInterfaceList(WinError.SUCCESS, buildInterfaceList(activePassive(), 'n1'));
    assert.equal(mine.length, 20 + 552 * 3);
    assert.deepEqual(mine, golden);
    assert.deepEqual(decodeInterfaceListResponse(mine).interfaces.map((i) => [i.groupName, i.ipv4, i.flags]), [['N1', '198.18.0.1', 1], ['N2', '198.18.0.2', 5], ['N1', '198.18.0.100', 1]]);
  });

  it('GetInterfaceList does not wait when only node addresses are AVAILABLE; RegisterEx for the VIP is accepted on the other node', async () => {
    let current = activePassive(1, null);
    const reg = new WitnessRegistry({ netNames: ['FILESRV'], localNode: 'n2', getView: () => current, forceUnregisterAfterMs: 0 });
    const r = await reg.getInterfaceList();
    assert.equal(r.status, WinError.SUCCESS);
    assert.deepEqual(r.list.map((i) => [i.address, i.state]), [['198.18.0.1', InterfaceState.AVAILABLE], ['198.18.0.2', InterfaceState.AVAILABLE], ['198.18.0.100', InterfaceState.UNAVAILABLE]]);
    current = activePassive(2);
    const client = { association: 1, remote: '198.18.0.254:40000', local: '198.18.0.2:5999', identity: null };
    const ok = reg.register({ version: WitnessVersion.V2, netName: 'FILESRV', shareName: null, ipAddress: '198.18.0.100', clientName: 'c1', flags: 0, keepAliveSec: 120 }, client, true);
    assert.equal(ok.status, WinError.SUCCESS);
    const viaNode = reg.register({ version: WitnessVersion.V2, netName: 'FILESRV', shareName: null, ipAddress: '198.18.0.1', clientName: 'c2', flags: 0, keepAliveSec: 120 }, client, true);
    assert.equal(viaNode.status, WinError.SUCCESS, 'a node address is an interface too');
  });
});

describe('node addresses: the OCF parameter', () => {
  async function withParams<T>(params: Record<string, string>, body: () => Promise<T>): Promise<T> {
    const saved = Object.fromEntries(Object.keys(params).map((k) => [k, process.env[`OCF_RESKEY_${k}`]]));
    for (const [k, v] of Object.entries(params)) process.env[`OCF_RESKEY_${k}`] = v;
    try {
      return await body();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) Reflect.deleteProperty(process.env, `OCF_RESKEY_${k}`);
        else process.env[`OCF_RESKEY_${k}`] = v;
      }
    }
  }

  it('node_addresses is in the meta-data, defaults to auto, and a bad value is OCF_ERR_CONFIGURED naming it', async () => {
    const { readConfig, SPEC } = await import('../../ocf/witnessd.ts');
    const { OCF, OcfError } = await import('../../ocf/exit-codes.ts');
    assert.equal(SPEC.parameters.find((p) => p.name === 'node_addresses')?.default, 'auto');
    const base = { netname: 'FILESRV', auth: 'none' };
    assert.equal((await withParams(base, readConfig)).nodeAddresses, 'auto');
    assert.equal((await withParams({ ...base, node_addresses: '198.18.0.0/24' }, readConfig)).nodeAddresses, '198.18.0.0/24');
    await assert.rejects(withParams({ ...base, node_addresses: 'eth0' }, readConfig), (err: unknown) => err instanceof OcfError && err.code === OCF.ERR_CONFIGURED && /node_addresses: "eth0"/.test(err.message));
  });
});

describe('node addresses: publishing this node\'s own', () => {
  function fakeAttrd(): Attrd & { calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      set: (n, name, value) => { calls.push(`set ${n} ${name}=${value}`); return Promise.resolve(); },
      remove: (n, name) => { calls.push(`remove ${n} ${name}`); return Promise.resolve(); },
      get: () => Promise.resolve(null),
    };
  }
  const synced = (transient: Record<string, string> = {}, configured: Record<string, string> = {}): SyncedAttributes => ({
    view: activePassive(),
    transient: new Map([['n1', transient]]),
    configured: new Map([['n1', configured]]),
  });
  const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

  it('writes the attribute when the CIB does not show it, once; withdraws it on stop', async () => {
    const attrd = fakeAttrd();
    const ifs = (): LocalAddress[] => [{ address: '198.18.0.1', family: 4, prefix: 24 }, { address: '198.18.0.100', family: 4, prefix: 24 }];
    const p = new NodeAddressPublisher({ node: 'n1', attrd, setting: { mode: 'auto' }, logger: quiet, interfaces: ifs, recheckMs: 0 });
    p.onSync(synced());
    p.onSync(synced()); // while the write is in flight
    await settle();
    p.onSync(synced()); // the CIB has not caught up yet
    await settle();
    p.onSync(synced({ [NODE_ADDRESSES_ATTR]: '198.18.0.1' }));
    await settle();
    assert.deepEqual(attrd.calls, [`set n1 ${NODE_ADDRESSES_ATTR}=198.18.0.1`]);
    // Lost (the node rejoined and attrd forgot it): written again.
    p.onSync(synced({}));
    await settle();
    assert.equal(attrd.calls.length, 2);
    await p.withdraw();
    assert.deepEqual(attrd.calls.at(-1), `remove n1 ${NODE_ADDRESSES_ATTR}`);
  });

  it('publishes nothing under the admin\'s permanent attribute (and removes its own), or with none', async () => {
    const attrd = fakeAttrd();
    const ifs = (): LocalAddress[] => [{ address: '198.18.0.1', family: 4, prefix: 24 }];
    const p = new NodeAddressPublisher({ node: 'n1', attrd, setting: { mode: 'auto' }, logger: quiet, interfaces: ifs, recheckMs: 0 });
    p.onSync(synced({ [NODE_ADDRESSES_ATTR]: '198.18.0.1' }, { [NODE_ADDRESSES_ATTR]: '198.18.0.9' }));
    await settle();
    assert.deepEqual(attrd.calls, [`remove n1 ${NODE_ADDRESSES_ATTR}`]);
    const none = fakeAttrd();
    const q = new NodeAddressPublisher({ node: 'n1', attrd: none, setting: { mode: 'none' }, logger: quiet, interfaces: ifs, recheckMs: 0 });
    q.onSync(synced());
    await settle();
    await q.withdraw();
    assert.deepEqual(none.calls, []);
  });
});
