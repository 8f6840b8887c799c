// Issue 11: a node's own addresses in the event path and in moves. A client whose SMB server is a
// node (it connected through that node's own address) registers with another node's witness; when
// the node leaves, the agent records the address going offline and that witness tells the client,
// as for a floating IP. Moves "to node N" reach N through its floating IPs, then its own addresses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { diffViews } from '../../agent/diff.ts';
import { AdminExecutor } from '../../service/swn/admin-executor.ts';
import { ChangeType, MessageType, WinError, WitnessVersion } from '../../service/swn/constants.ts';
import { nodeDestination } from '../../service/swn/destination.ts';
import { decodeIpAddrInfoList, decodeResourceChanges } from '../../service/swn/messages.ts';
import { Notifier } from '../../service/swn/notifier.ts';
import { WitnessRegistry, type NotifyResult, type Registration } from '../../service/swn/registry.ts';
import { addAdminRequest, getAdminRequest } from '../../store/admin-requests.ts';
import { openStore, type Store } from '../../store/index.ts';
import type { ClusterView, NewEvent, NodeView } from '../../store/types.ts';
import { ip, node, view } from '../helpers/views.ts';
import { appendEvents } from '../../store/events.ts';
import { commitSync } from '../../store/view.ts';

const quiet = pino({ level: 'silent' });
const WITNESS = [{ node: 'n1', resource: 'witness:0', started: true }, { node: 'n2', resource: 'witness:1', started: true }];

/** Two nodes; n1 and n2 as given (state, addresses); one VIP where said. */
function cluster(epoch: number, n1: Partial<NodeView>, n2: Partial<NodeView>, vip: string | null = 'n1', extraIps = [] as ReturnType<typeof ip>[]): ClusterView {
  return view(epoch, {
    nodes: [{ ...node('n1'), addresses: ['198.18.0.1'], ...n1 }, { ...node('n2'), addresses: ['198.18.0.2'], ...n2 }],
    ips: [ip('198.18.0.100', vip, 'vip'), ...extraIps],
    witness: WITNESS,
  });
}

const brief = (events: NewEvent[]): string[] => events.filter((e) => e.kind.startsWith('ip_')).map((e) => `${e.kind} ${e.subject} ${e.from ?? '-'}>${e.to ?? '-'}`);

describe('node addresses in the diff: their node leaving and coming back', () => {
  it('standby, lost, the attribute withdrawn: ip_offline; back online and published again: ip_online; marked as a node address', () => {
    const up = cluster(1, {}, {});
    const standby = diffViews(up, cluster(2, { state: 'standby' }, {}, 'n2'));
    assert.deepEqual(brief(standby), ['ip_offline 198.18.0.1 n1>-', 'ip_moved 198.18.0.100 n1>n2']);
    assert.deepEqual(standby.find((e) => e.subject === '198.18.0.1')?.payload, { resource: 'node:n1', family: 4, nodeAddress: true });
    // Its witness stops there: the attribute goes too; nothing more to say.
    assert.deepEqual(brief(diffViews(cluster(2, { state: 'standby' }, {}, 'n2'), cluster(3, { state: 'standby', addresses: [] }, {}, 'n2'))), []);
    // Back online: the address comes back only once its watcher has published it again.
    const online = cluster(4, { addresses: [] }, {}, 'n2');
    assert.deepEqual(brief(diffViews(cluster(3, { state: 'standby', addresses: [] }, {}, 'n2'), online)), []);
    assert.deepEqual(brief(diffViews(online, cluster(5, {}, {}, 'n2'))), ['ip_online 198.18.0.1 ->n1']);
    // The witness stopped on an online node (its attribute withdrawn), and a node lost.
    assert.deepEqual(brief(diffViews(up, cluster(6, {}, { addresses: [] }))), ['ip_offline 198.18.0.2 n2>-']);
    assert.deepEqual(brief(diffViews(up, cluster(7, {}, { state: 'lost' }))), ['ip_offline 198.18.0.2 n2>-']);
  });

  it('several at once, after the floating IPs\' and in address order (every node writes the same events); an address that is also a floating IP is left to the IP', () => {
    const a = view(1, { nodes: [{ ...node('n3'), addresses: ['198.18.0.3', '198.18.0.100'] }, { ...node('n1'), addresses: ['198.18.0.1', '2001:db8::1'] }], ips: [ip('198.18.0.100', 'n3', 'vip')] });
    const b = view(2, { nodes: [{ ...node('n3', 'offline') }, { ...node('n1', 'offline') }], ips: [ip('198.18.0.100', null, 'vip')] });
    assert.deepEqual(brief(diffViews(a, b)), ['ip_offline 198.18.0.100 n3>-', 'ip_offline 198.18.0.1 n1>-', 'ip_offline 198.18.0.3 n3>-', 'ip_offline 2001:db8::1 n1>-']);
    assert.equal(diffViews(a, b).find((e) => e.subject === '198.18.0.100')?.payload['nodeAddress'], undefined, 'the floating IP\'s own event');
    // An address handed from one node to another (the admin's attribute): UNAVAILABLE then AVAILABLE.
    const c = view(3, { nodes: [{ ...node('n3'), addresses: ['198.18.0.1'] }, { ...node('n1'), addresses: [] }], ips: [] });
    assert.deepEqual(brief(diffViews(view(2, { nodes: [{ ...node('n3') }, { ...node('n1'), addresses: ['198.18.0.1'] }], ips: [] }), c)), ['ip_moved 198.18.0.1 n1>n3']);
  });
});

/** A real store, a registry as witnessd on `local` has it, the notifier between them. */
function witness(local: string, first: ClusterView): { store: Store; reg: WitnessRegistry; notifier: Notifier; admin: AdminExecutor; sync: (v: ClusterView) => void; done: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-nodeaddr-ev-'));
  const store = openStore(path.join(dir, 'state.db'));
  commitSync(store, first, diffViews);
  let current: ClusterView = first;
  const getView = (): ClusterView => current;
  const reg = new WitnessRegistry({ netNames: ['FILESRV'], localNode: local, getView, forceUnregisterAfterMs: 0 });
  const notifier = new Notifier({ store, registry: reg, logger: quiet, getView });
  const admin = new AdminExecutor({ store, registry: reg, node: local, getView, logger: quiet });
  return {
    store,
    reg,
    notifier,
    admin,
    sync: (v) => {
      commitSync(store, v, diffViews);
      current = v;
      reg.viewChanged();
      notifier.pump();
    },
    done: () => {
      reg.close();
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function register(reg: WitnessRegistry, ipAddress: string, clientName: string): Registration {
  const client = { association: 1, remote: '198.18.0.254:40000', local: '198.18.0.2:5999', identity: null };
  const r = reg.register({ version: WitnessVersion.V2, netName: 'FILESRV', shareName: null, ipAddress, clientName, flags: 0, keepAliveSec: 120 }, client, true);
  assert.equal(r.status, WinError.SUCCESS);
  assert.ok(r.registration);
  return r.registration;
}

/** What the registration's next AsyncNotify returns now, or null when it would wait. */
function next(reg: WitnessRegistry, r: Registration): { type: number; body: unknown } | null {
  let got: NotifyResult | null = null;
  const now = reg.waitNotify(r, (x) => { got = x; });
  const res = now ?? got;
  if (res === null) {
    reg.cancelPendingOf(r);
    return null;
  }
  const n = res.notification;
  assert.ok(n);
  if (n.type === MessageType.RESOURCE_CHANGE) return { type: n.type, body: decodeResourceChanges(n.buffer, n.count).map((c) => [c.resourceName, c.changeType]) };
  return { type: n.type, body: decodeIpAddrInfoList(n.buffer).map((i) => i.address) };
}

describe('node addresses through the notifier: the witness on the other node tells the client', () => {
  it('registered on n2 for n1\'s own address: UNAVAILABLE when n1 goes into standby, AVAILABLE when it is back', () => {
    const w = witness('n2', cluster(1, {}, {}));
    try {
      const onNode1 = register(w.reg, '198.18.0.1', 'via-n1');
      const onVip = register(w.reg, '198.18.0.100', 'via-vip');
      w.sync(cluster(2, { state: 'standby' }, {}, 'n2'));
      assert.deepEqual(next(w.reg, onNode1), { type: MessageType.RESOURCE_CHANGE, body: [['FILESRV', ChangeType.UNAVAILABLE]] });
      assert.equal(next(w.reg, onNode1), null);
      assert.deepEqual(next(w.reg, onVip), { type: MessageType.RESOURCE_CHANGE, body: [['FILESRV', ChangeType.UNAVAILABLE]] });
      assert.deepEqual(next(w.reg, onVip), { type: MessageType.RESOURCE_CHANGE, body: [['FILESRV', ChangeType.AVAILABLE]] });
      w.sync(cluster(3, { state: 'standby', addresses: [] }, {}, 'n2'));
      w.sync(cluster(4, { addresses: [] }, {}, 'n2'));
      assert.equal(next(w.reg, onNode1), null, 'online, but its witness has not published the address yet');
      w.sync(cluster(5, {}, {}, 'n2'));
      assert.deepEqual(next(w.reg, onNode1), { type: MessageType.RESOURCE_CHANGE, body: [['FILESRV', ChangeType.AVAILABLE]] });
    } finally {
      w.done();
    }
  });
});

describe('moves to a node: its floating IPs, then its own addresses', () => {
  it('nodeDestination: floating first, own addresses only while online, never the excluded or a floating address twice', () => {
    const v = cluster(1, { addresses: ['198.18.0.1', '198.18.0.100'] }, { state: 'standby' }, 'n1', [ip('198.18.0.101', 'n1', 'vip2')]);
    assert.deepEqual(nodeDestination(v, 'n1'), { floating: ['198.18.0.100', '198.18.0.101'], nodeAddresses: ['198.18.0.1'] });
    assert.deepEqual(nodeDestination(v, 'n1', '198.18.0.100'), { floating: ['198.18.0.101'], nodeAddresses: ['198.18.0.1'] });
    assert.deepEqual(nodeDestination(v, 'n2'), { floating: [], nodeAddresses: [] });
    assert.deepEqual(nodeDestination(null, 'n1'), { floating: [], nodeAddresses: [] });
  });

  it('witnessctl client-move --to-node with a single VIP: the passive node through its own address, the VIP\'s node through both; a node in standby is refused', () => {
    const w = witness('n2', cluster(1, {}, {}));
    try {
      const a = register(w.reg, '198.18.0.100', 'mover');
      const ask = (node: string): ReturnType<typeof getAdminRequest> => {
        const seq = addAdminRequest(w.store, 'n2', 'client-move', { client: 'mover' }, { node });
        w.admin.pump();
        return getAdminRequest(w.store, seq);
      };
      assert.equal(ask('n2')?.state, 'done');
      assert.deepEqual(next(w.reg, a), { type: MessageType.CLIENT_MOVE, body: ['198.18.0.2'] });
      assert.equal(ask('n1')?.state, 'done');
      assert.deepEqual(next(w.reg, a), { type: MessageType.CLIENT_MOVE, body: ['198.18.0.100', '198.18.0.1'] });
      w.sync(cluster(2, {}, { state: 'standby' }));
      const refused = ask('n2');
      assert.equal(refused?.state, 'failed');
      assert.match(String(refused?.result?.['error']), /^no IP runs on n2 and it offers no address of its own/);
    } finally {
      w.done();
    }
  });

  it('a planned move: CLIENT_MOVE to the destination\'s floating IPs then its own addresses; none to a destination with no floating IP up', () => {
    const w = witness('n3', view(1, {
      nodes: [{ ...node('n1'), addresses: ['198.18.0.1'] }, { ...node('n2'), addresses: ['198.18.0.2'] }, { ...node('n3'), addresses: ['198.18.0.3'] }],
      ips: [ip('198.18.0.100', 'n1', 'vip'), ip('198.18.0.101', 'n2', 'vip2')],
      witness: [...WITNESS, { node: 'n3', resource: 'witness:2', started: true }],
    }));
    try {
      const r = register(w.reg, '198.18.0.100', 'planned');
      const plan = (to: string): void => {
        appendEvents(w.store, [{ kind: 'ip_move_planned', subject: '198.18.0.100', from: 'n1', to, payload: { resource: 'vip', via: 'cli-prefer' } }], { adminEpoch: 0, epoch: 1, numUpdates: 1 });
        w.notifier.pump();
      };
      plan('n2');
      assert.deepEqual(next(w.reg, r), { type: MessageType.CLIENT_MOVE, body: ['198.18.0.101', '198.18.0.2'] });
      plan('n3'); // n3 has only its own address: smbd (with the group) is not there yet
      assert.equal(next(w.reg, r), null);
    } finally {
      w.done();
    }
  });
});
