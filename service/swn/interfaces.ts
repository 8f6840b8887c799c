// The witness interface list (MS-SWN §3.1.1.2, §3.1.4.1), derived from the cluster view.

import type { ClusterView, IpView } from '../../store/types.ts';
import { InterfaceFlags, InterfaceState, type InterfaceStateValue } from './constants.ts';

export interface WitnessInterface {
  /** InterfaceGroupName: the node hosting the address, as Windows does (NODE01, NODE02), upper-cased. */
  groupName: string;
  state: InterfaceStateValue;
  address: string;
  family: 4 | 6;
  flags: number;
  /** The IP resource, for logs and admin tools. */
  resource: string;
  /** Node hosting the address now, or null. */
  node: string | null;
}

/**
 * One entry per floating IP. INTERFACE_WITNESS is set exactly when the address is NOT hosted on
 * the answering node (§3.1.4.1: the client must register with another node than its SMB server)
 * and the node that hosts it runs a witness instance — an address whose node has no witnessd
 * would only make the client's registration fail, so we do not offer it. Stopped addresses are
 * listed UNAVAILABLE so clients can see them come back.
 */
export function buildInterfaceList(view: ClusterView | null, localNode: string): WitnessInterface[] {
  if (!view) return [];
  const witnessNodes = new Set(view.witness.filter((w) => w.started).map((w) => w.node));
  // A cloned IP may run as several instances; the address is one interface, running if any runs.
  const byAddress = new Map<string, IpView>();
  for (const ip of view.ips) {
    const prev = byAddress.get(ip.address);
    if (!prev || (!isRunning(prev) && isRunning(ip))) byAddress.set(ip.address, ip);
  }
  const out: WitnessInterface[] = [];
  for (const ip of byAddress.values()) {
    const running = isRunning(ip);
    let flags: number = ip.family === 4 ? InterfaceFlags.IPV4 : InterfaceFlags.IPV6;
    if (running && ip.node !== localNode && ip.node !== null && witnessNodes.has(ip.node)) flags |= InterfaceFlags.INTERFACE_WITNESS;
    out.push({
      groupName: (ip.node ?? '').toUpperCase(),
      state: running ? InterfaceState.AVAILABLE : InterfaceState.UNAVAILABLE,
      address: ip.address,
      family: ip.family,
      flags,
      resource: ip.resource,
      node: ip.node,
    });
  }
  return out;
}

function isRunning(ip: IpView): boolean {
  return ip.started && ip.node !== null && !ip.failed;
}
