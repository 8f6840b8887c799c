// A simulated two-node file-server cluster for the demo: it writes views to the store exactly
// as `witness-agent sync` does (the same commitSync + diffViews path), so witnessd cannot tell it
// from a real cluster. Every `intervalMs` the data IP and its share fail over to the other node.

import type { Logger } from 'pino';
import { openStore } from '../store/index.ts';
import type { ClusterView, IpView } from '../store/types.ts';
import { diffViews } from './diff.ts';

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

function ip(address: string, node: string, resource: string, group: string | null): IpView {
  return { resource, agent: 'ocf:heartbeat:IPaddr2', group, clone: null, address, family: 4, prefix: 8, node, started: true, failed: false };
}

export function simulatedView(o: SimulationOptions, epoch: number, holder: string): ClusterView {
  const [a, b] = o.nodes;
  return {
    cib: { adminEpoch: 0, epoch, numUpdates: 0 },
    dc: a,
    nodes: [{ name: a, id: '1', state: 'online' }, { name: b, id: '2', state: 'online' }],
    ips: [ip(o.staticIp, a, 'vip-static', null), ip(o.movingIp, holder, 'vip-data', 'g-data')],
    shares: [{ name: o.share, resource: 'g-data', node: holder, ips: [o.movingIp] }],
    witness: [{ node: a, resource: 'witness:0', started: true }, { node: b, resource: 'witness:1', started: true }],
  };
}

/** Runs until the signal aborts. */
export async function runSimulation(o: SimulationOptions): Promise<void> {
  const store = openStore(o.db);
  let epoch = (store.readView()?.cib.epoch ?? 0) + 1;
  let holder = o.nodes[1];
  store.commitSync(simulatedView(o, epoch, holder), diffViews);
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
      const r = store.commitSync(simulatedView(o, ++epoch, holder), diffViews);
      o.logger.info({ events: r.events.map((e) => `#${e.seq} ${e.kind} ${e.subject} ${e.from ?? '-'} -> ${e.to ?? '-'}`) }, `failover: ${o.movingIp} and share ${o.share} now on ${holder}`);
    }
  } finally {
    store.close();
  }
}
