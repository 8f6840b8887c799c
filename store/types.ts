// The cluster view and its events: the contract between agent/ (writer) and service/ (reader).
// Everything here is plain data so it can be stored as JSON and compared structurally.

/** How a node looks to the witness, derived the way crm_mon derives it. */
export type NodeState = 'online' | 'standby' | 'maintenance' | 'pending' | 'offline' | 'lost' | 'fenced';

export interface NodeView {
  /** uname, as Pacemaker names the node. */
  name: string;
  /** Pacemaker node id (corosync nodeid as a string). */
  id: string;
  state: NodeState;
  /**
   * The node's own fixed addresses (canonical text, store/address.ts) that clients may use to reach
   * its witness, from its `witness-addresses` node attribute (agent/node-addresses.ts); absent when
   * the node publishes none.
   */
  addresses?: string[];
}


export interface IpView {
  /** Primitive id (for clone instances: the primitive id plus ':N' as in the status section). */
  resource: string;
  /** class:provider:type of the primitive. */
  agent: string;
  /** Group that contains the primitive, if any. */
  group: string | null;
  /** Clone (or bundle) that contains it, if any. */
  clone: string | null;
  /** Textual address as configured (IPv4 dotted, IPv6 as given, canonical lower-case). */
  address: string;
  family: 4 | 6;
  /** Prefix length when configured (cidr_netmask / ipv6 prefix), else null. */
  prefix: number | null;
  /** Node the address is active on, or null when it is active nowhere. */
  node: string | null;
  /** True when the last operation on `node` left it running. */
  started: boolean;
  /** True when the resource has a failed operation that keeps it from running. */
  failed: boolean;
}

export interface ShareView {
  /** SMB share name, as clients name it (case preserved; matched case-insensitively). */
  name: string;
  /** Pacemaker resource (primitive, group or clone) that carries the share. */
  resource: string;
  /** Node that runs `resource`, or null. */
  node: string | null;
  /** Addresses of the floating IPs that serve the share: the IPs running on `node`. */
  ips: string[];
}

export interface WitnessInstanceView {
  node: string;
  /** Instance id in the status section, e.g. "witness:0" or "witness". */
  resource: string;
  started: boolean;
}

/** Identifies a CIB revision; compare with compareCibVersion. */
export interface CibVersion {
  adminEpoch: number;
  epoch: number;
  numUpdates: number;
}

export interface ClusterView {
  cib: CibVersion;
  /** The DC's name, if any. */
  dc: string | null;
  nodes: NodeView[];
  ips: IpView[];
  shares: ShareView[];
  witness: WitnessInstanceView[];
}

export type EventKind =
  | 'ip_offline' // subject = address, from = node it left
  | 'ip_online' // subject = address, to = node it came up on
  | 'ip_moved' // subject = address, from -> to (recorded after ip_offline/ip_online pairs in one sync)
  | 'share_moved' // subject = share name, from -> to
  | 'share_added' // subject = share name, to = node it runs on (or null); the SMB server's configuration or the share map gained it
  | 'share_removed' // subject = share name, from = node it ran on (or null); gone from the configuration
  | 'node_lost' // subject = node
  | 'node_joined' // subject = node
  | 'node_standby' // subject = node (planned evacuation begins)
  | 'node_online' // subject = node (standby/maintenance ended)
  | 'ip_move_planned'; // subject = address, from -> to: the scheduler will move it (a move, ban or standby was just configured)

/** An event before the store gives it a sequence number. */
export interface NewEvent {
  kind: EventKind;
  subject: string;
  from: string | null;
  to: string | null;
  /** Free-form details (resource id, prefix, share ips, ...). */
  payload: Record<string, unknown>;
}

export interface ClusterEvent extends NewEvent {
  /** Monotonic sequence number assigned by the store (1, 2, ...). */
  seq: number;
  /** Unix time in milliseconds when the event was recorded. */
  at: number;
  /** CIB revision the event was derived from. */
  cib: CibVersion;
}

export function compareCibVersion(a: CibVersion, b: CibVersion): number {
  return a.adminEpoch - b.adminEpoch || a.epoch - b.epoch || a.numUpdates - b.numUpdates;
}

export function formatCibVersion(v: CibVersion): string {
  return `${v.adminEpoch}.${v.epoch}.${v.numUpdates}`;
}

/**
 * The node addresses (agent/node-addresses.ts, NodeView.addresses) a view offers as up: address →
 * its node. An address is up while its node is listed with it and is `online`, the rule
 * GetInterfaceList uses for AVAILABLE (service/swn/interface-list.ts). A node in standby, lost or
 * offline takes its addresses down with it, and so does a witness stopping there (its watcher
 * withdraws the attribute). An address that is also a floating IP is the floating IP's; one listed
 * by two nodes is the first node's. The agent's diff turns changes of this map into events
 * (agent/diff.ts); a move to a node offers that node's part of it (service/swn/destination.ts).
 */
export function nodeAddressesUp(view: ClusterView): Map<string, string> {
  const floating = new Set(view.ips.map((i) => i.address));
  const out = new Map<string, string>();
  for (const n of view.nodes) {
    if (n.state !== 'online') continue;
    for (const a of n.addresses ?? []) if (!floating.has(a) && !out.has(a)) out.set(a, n.name);
  }
  return out;
}
