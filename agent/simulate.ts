// A simulated two-node file-server cluster for the demo: it writes views to the store exactly
// as `witness-agent sync` does (the same commitSync + diffViews path), so witnessd cannot tell it
// from a real cluster. Every `intervalMs` the data IP and its share fail over to the other node.

import type { Logger } from 'pino';
import { parseAddress, type Address } from '../store/address.ts';
import { openStore } from '../store/index.ts';
import type { ClusterView, IpView } from '../store/types.ts';
import { diffViews } from './diff.ts';
import { commitSync, readView } from '../store/view.ts';

export interface SimulationOptions {
  db: string;
  nodes: [string, string];
  /** Address that stays on the first node, and the one that fails over with the share. */
  staticIp: string;
  movingIp: string;
  share: string;
  intervalMs: number;
  logger: Logger;
  signal?: AbortSignal;
}

/** A demo address as the store holds addresses (store/address.ts); throws naming the option otherwise. */
function demoAddress(text: string, option: string): Address {
  const r = parseAddress(text);
  if (!r.ok) throw new Error(`${option} ${JSON.stringify(text)}: ${r.problem.reason}`);
  return r.value;
}

function ip(a: Address, node: string, resource: string, group: string | null): IpView {
  return { resource, agent: 'ocf:heartbeat:IPaddr2', group, clone: null, address: a.address, family: a.family, prefix: a.family === 4 ? 8 : 64, node, started: true, failed: false };
}

export function simulatedView(o: SimulationOptions, epoch: number, holder: string): ClusterView {
  const [a, b] = o.nodes;
  const staticIp = demoAddress(o.staticIp, '--static-ip');
  const movingIp = demoAddress(o.movingIp, '--moving-ip');
  return {
    cib: { adminEpoch: 0, epoch, numUpdates: 0 },
    dc: a,
    // The first node's own address (agent/node-addresses.ts): where this demo's witnessd listens.
    nodes: [{ name: a, id: '1', state: 'online', addresses: ['127.0.0.1'] }, { name: b, id: '2', state: 'online' }],
    ips: [ip(staticIp, a, 'vip-static', null), ip(movingIp, holder, 'vip-data', 'g-data')],
    shares: [{ name: o.share, resource: 'g-data', node: holder, ips: [movingIp.address] }],
    witness: [{ node: a, resource: 'witness:0', started: true }, { node: b, resource: 'witness:1', started: true }],
  };
}

/** Runs until the signal aborts. */
export async function runSimulation(o: SimulationOptions): Promise<void> {
  simulatedView(o, 0, o.nodes[1]); // refuses a bad address before the store is opened
  const store = openStore(o.db);
  let epoch = (readView(store)?.cib.epoch ?? 0) + 1;
  let holder = o.nodes[1];
  commitSync(store, simulatedView(o, epoch, holder), diffViews);
  o.logger.info({ ip: o.movingIp, node: holder, share: o.share }, 'simulated cluster up');
  const stopped = (): boolean => o.signal?.aborted === true;
  try {
    while (!stopped()) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, o.intervalMs);
        o.signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
      });
      if (stopped()) break;
      holder = holder === o.nodes[0] ? o.nodes[1] : o.nodes[0];
      const r = commitSync(store, simulatedView(o, ++epoch, holder), diffViews);
      o.logger.info({ events: r.events.map((e) => `#${e.seq} ${e.kind} ${e.subject} ${e.from ?? '-'} -> ${e.to ?? '-'}`) }, `failover: ${o.movingIp} and share ${o.share} now on ${holder}`);
    }
  } finally {
    store.close();
  }
}
