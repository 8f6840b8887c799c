// The witness interface list (MS-SWN §3.1.1.2, §3.1.4.1), derived from the cluster view.

import { parseAddress } from '../../store/address.ts';
import type { ClusterView, IpView } from '../../store/types.ts';
import { InterfaceFlags, InterfaceState, type InterfaceStateValue } from './constants.ts';

export interface WitnessInterface {
  /** InterfaceGroupName: the node hosting the address, as Windows does (NODE01, NODE02), upper-cased. */
  groupName: string;
  state: InterfaceStateValue;
  address: string;
  family: 4 | 6;
  flags: number;
  /** The IP resource, for logs and admin tools ("node:NAME" for a node's own address). */
  resource: string;
  /** A floating IP, or a node's own fixed address (agent/node-addresses.ts); absent means floating. */
  kind?: 'floating' | 'node';
  /** Node hosting the address now, or null. */
  node: string | null;
}

/**
 * Each witness node's own addresses (its `witness-addresses` attribute, agent/node-addresses.ts),
 * then one entry per floating IP.
 *
 * Node entries: InterfaceGroupName is the node, as Windows clusters list their nodes' interfaces;
 * AVAILABLE while the node is online in Pacemaker; INTERFACE_WITNESS when it is not the answering
 * node and runs a witness. They come first because MS-SWN leaves the client's choice open and the
 * Microsoft test suite takes the first usable entry (Windows tries the others when one fails): a
 * registration made through a node's own address lives as long as that node, while one made
 * through a floating IP breaks when that IP moves. They are what makes the witness usable at all
 * with a single floating IP (active/passive): the IP is always on the answering node, so it is
 * never INTERFACE_WITNESS. An address that is also a floating IP is listed once, as the floating IP.
 *
 * Floating IPs: INTERFACE_WITNESS is set exactly when the address is NOT hosted on the answering
 * node (§3.1.4.1: the client must register with another node than its SMB server)
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
  const listed = new Set(byAddress.keys());
  for (const n of view.nodes) {
    for (const address of n.addresses ?? []) {
      if (listed.has(address)) continue; // a floating IP, or claimed by a node listed before
      const a = parseAddress(address);
      if (!a.ok) continue;
      listed.add(address);
      const available = n.state === 'online';
      let flags: number = a.value.family === 4 ? InterfaceFlags.IPV4 : InterfaceFlags.IPV6;
      if (available && n.name !== localNode && witnessNodes.has(n.name)) flags |= InterfaceFlags.INTERFACE_WITNESS;
      out.push({
        groupName: n.name.toUpperCase(),
        state: available ? InterfaceState.AVAILABLE : InterfaceState.UNAVAILABLE,
        address: a.value.address,
        family: a.value.family,
        flags,
        resource: `node:${n.name}`,
        kind: 'node',
        node: n.name,
      });
    }
  }
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
      kind: 'floating',
      node: ip.node,
    });
  }
  return out;
}

function isRunning(ip: IpView): boolean {
  return ip.started && ip.node !== null && !ip.failed;
}
