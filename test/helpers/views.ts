// Small builders for ClusterView values in tests.
import type { ClusterView, IpView, NodeView } from '../../store/types.ts';

export function node(name: string, state: NodeView['state'] = 'online', id = name.replace(/\D/g, '') || '1'): NodeView {
  return { name, id, state };
}

export function ip(address: string, nodeName: string | null, resource = `ip-${address}`): IpView {
  return {
    resource,
    agent: 'ocf:heartbeat:IPaddr2',
    group: null,
    clone: null,
    address,
    family: address.includes(':') ? 6 : 4,
    prefix: 24,
    node: nodeName,
    started: nodeName !== null,
    failed: false,
  };
}

export function view(epoch: number, parts: Partial<Omit<ClusterView, 'cib'>> = {}): ClusterView {
  return {
    cib: { adminEpoch: 0, epoch, numUpdates: 0 },
    dc: parts.dc ?? 'n1',
    nodes: parts.nodes ?? [node('n1'), node('n2')],
    ips: parts.ips ?? [],
    shares: parts.shares ?? [],
    witness: parts.witness ?? [],
  };
}
