// Where a CLIENT_MOVE or SHARE_MOVE "to node N" sends clients: the addresses through which a
// client reaches N's file server (MS-SWN §3.1.6.2: the IPs of the destination's interfaces).
//
// Two kinds of address lead to N:
// - the floating IPs running on N: in docs/deploy-samba.md's recipe smbd runs in the group with
//   the IP, so a floating IP on N means N serves that group's shares, and the IP follows the share
//   if it moves again: the better address, listed first;
// - N's own addresses (agent/node-addresses.ts, NodeView.addresses), while N is online. smbd in the
//   recipe binds every address of its node (no `bind interfaces only`), so they reach the same smbd,
//   but only on a node that runs a file-server group; on another node nothing answers SMB there.

import { nodeAddressesUp, type ClusterView } from '../../store/types.ts';

export interface NodeDestination {
  /** Floating IPs running on the node, in view order, without duplicates (a cloned IP). */
  floating: string[];
  /** The node's own addresses while it is online (store/types.ts nodeAddressesUp: none that is also a floating IP). */
  nodeAddresses: string[];
}

/** The addresses leading to `node` in `view` (none for a view we do not have). `except`: an address left out (a planned move's moving IP). */
export function nodeDestination(view: ClusterView | null, node: string, except?: string): NodeDestination {
  if (view === null) return { floating: [], nodeAddresses: [] };
  const floating = [...new Set(view.ips.filter((i) => i.node === node && i.started && i.address !== except).map((i) => i.address))];
  const nodeAddresses = [...nodeAddressesUp(view)].filter(([a, n]) => n === node && a !== except).map(([a]) => a);
  return { floating, nodeAddresses };
}
