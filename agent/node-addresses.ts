// A witness node's own addresses: which of its fixed addresses it offers clients beside the
// floating IPs, how it tells the other nodes (a node attribute) and how every node reads them back.
//
// Why (issue 11, requirement 0): a client registers with a witness on another node than the one
// serving its share (MS-SWN §3.1.4.1, INTERFACE_WITNESS). In the common active/passive cluster with
// one floating IP, no floating IP is ever on "another node", so without the nodes' own addresses a
// client finds nothing to register with. Windows clusters list their nodes' interfaces (InterfaceGroupName
// = the node); Samba has `rpcd witness:include node ips`.
//
// Each node's watcher (witness-agent watch) works out its own addresses and publishes them as the
// transient node attribute `witness-addresses` (attrd_updater), comma-separated. Every node's agent
// reads every node's attribute from the CIB it syncs, so witnessd on any node can list them all.
// A permanent node attribute of the same name (crm_attribute --node N --name witness-addresses
// --update "ADDR,…", or "none") is the admin's per-node choice: it wins, and that node's watcher
// then publishes nothing.

import os from 'node:os';
import type { Logger } from 'pino';
import { ipv4Octets, ipv6Groups, parseAddress, parseAddressWithPrefix, type AddressFamily } from '../store/address.ts';
import type { ClusterView, NodeView } from '../store/types.ts';
import type { Attrd } from './admin/attrd.ts';

/** The node attribute that carries a node's addresses. */
export const NODE_ADDRESSES_ATTR = 'witness-addresses';

/** At most this many addresses per node are read from an attribute (each is a 552-byte GetInterfaceList entry). */
export const MAX_NODE_ADDRESSES = 16;

/** A longer attribute value is not read at all (16 IPv6 addresses take under 650 characters). */
export const MAX_ATTR_CHARS = 2048;

/** One entry of a node_addresses list: an address, or a subnet "ADDR/N". */
export interface AddressPattern {
  text: string;
  family: AddressFamily;
  bytes: Buffer;
  /** null: the address itself. */
  prefix: number | null;
}

/**
 * The `node_addresses` setting (OCF parameter, `--node-addresses`): `auto` (the default: the node's
 * fixed addresses on the subnets its floating IPs use), `none`, or a list of addresses and subnets
 * ("198.18.0.0/24", "198.18.0.1,198.18.0.2", "2001:db8::/64"), of which each node publishes those
 * configured on its own interfaces — one setting serves the whole clone.
 */
export type NodeAddressSetting = { mode: 'auto' } | { mode: 'none' } | { mode: 'list'; patterns: AddressPattern[] };

/** An address configured on one of this node's interfaces. */
export interface LocalAddress {
  address: string;
  family: AddressFamily;
  /** The interface's prefix length (from its netmask). */
  prefix: number;
}

/** A floating IP as the view holds it (IpView has these fields). */
export interface FloatingIp {
  address: string;
  family: AddressFamily;
  prefix: number | null;
}

/** The address's bytes in network order (4 or 16), or null for anything parseAddress refuses. */
export function addressBytes(text: string): Buffer | null {
  const p = parseAddress(text);
  if (!p.ok) return null;
  if (p.value.family === 4) return Buffer.from(ipv4Octets(p.value.address) ?? []);
  const g = ipv6Groups(p.value.address);
  if (g === null) return null;
  const b = Buffer.alloc(16);
  g.forEach((x, i) => b.writeUInt16BE(x, i * 2));
  return b;
}

/** True when the first `prefix` bits of `a` and `b` (same length) are equal. */
export function samePrefix(a: Buffer, b: Buffer, prefix: number): boolean {
  if (a.length !== b.length || prefix < 0 || prefix > a.length * 8) return false;
  const whole = Math.floor(prefix / 8);
  if (!a.subarray(0, whole).equals(b.subarray(0, whole))) return false;
  const rest = prefix % 8;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole] ?? 0) & mask) === ((b[whole] ?? 0) & mask);
}

/** Parses the setting; throws an Error whose message names the bad entry. */
export function parseNodeAddressSetting(text: string): NodeAddressSetting {
  const t = text.trim();
  if (t === '' || t.toLowerCase() === 'auto') return { mode: 'auto' };
  if (t.toLowerCase() === 'none') return { mode: 'none' };
  const patterns: AddressPattern[] = [];
  for (const item of t.split(/[\s,;]+/).filter((s) => s !== '')) {
    const p = parseAddressWithPrefix(item);
    if (!p.ok) throw new Error(`node_addresses: ${JSON.stringify(item)} is ${p.problem.reason} (expected auto, none, or addresses and subnets such as 198.18.0.0/24)`);
    const bytes = addressBytes(p.value.address);
    if (bytes === null) throw new Error(`node_addresses: ${JSON.stringify(item)} is not an address`);
    patterns.push({ text: item, family: p.value.family, bytes, prefix: p.value.prefix });
  }
  return { mode: 'list', patterns };
}

/** An address no other host could use to reach this one: loopback, link-local, unspecified. */
function unusable(family: AddressFamily, bytes: Buffer): boolean {
  if (family === 4) return bytes[0] === 127 || bytes[0] === 0 || (bytes[0] === 169 && bytes[1] === 254);
  const zero = bytes.every((x) => x === 0);
  const loop = bytes.subarray(0, 15).every((x) => x === 0) && bytes[15] === 1;
  return zero || loop || (bytes[0] === 0xfe && ((bytes[1] ?? 0) & 0xc0) === 0x80);
}

/** This host's (network namespace's) addresses, from getifaddrs: no loopback or link-local ones. */
export function localAddresses(ifaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): LocalAddress[] {
  const out: LocalAddress[] = [];
  const seen = new Set<string>();
  for (const list of Object.values(ifaces)) {
    for (const i of list ?? []) {
      if (i.internal) continue;
      const p = parseAddress(i.address);
      if (!p.ok) continue; // a scoped IPv6 address: link-local anyway
      const bytes = addressBytes(p.value.address);
      if (bytes === null || unusable(p.value.family, bytes) || seen.has(p.value.address)) continue;
      const prefix = i.cidr !== null ? Number(i.cidr.slice(i.cidr.indexOf('/') + 1)) : p.value.family === 4 ? 32 : 128;
      seen.add(p.value.address);
      out.push({ address: p.value.address, family: p.value.family, prefix: Number.isInteger(prefix) ? prefix : p.value.family === 4 ? 32 : 128 });
    }
  }
  return out;
}

/**
 * Which of `local` this node offers. Floating IPs are never among them (the one this node holds now
 * is on its interface too, and moves away). `auto`: an address on the subnet of a floating IP —
 * with the floating IP's prefix (cidr_netmask) when configured, else the interface's own — which is
 * how IPaddr2 itself picks the interface for an IP. A list: the addresses it names or that lie in
 * its subnets. Sorted by family (IPv4 first), then as the interfaces list them; at most MAX_NODE_ADDRESSES.
 */
export function chooseNodeAddresses(setting: NodeAddressSetting, local: readonly LocalAddress[], floating: readonly FloatingIp[]): string[] {
  if (setting.mode === 'none') return [];
  const floatingSet = new Set(floating.map((f) => f.address));
  const out: string[] = [];
  for (const l of local) {
    if (floatingSet.has(l.address)) continue;
    const bytes = addressBytes(l.address);
    if (bytes === null) continue;
    const wanted = setting.mode === 'auto'
      ? floating.some((f) => {
        const fb = f.family === l.family ? addressBytes(f.address) : null;
        return fb !== null && samePrefix(bytes, fb, f.prefix ?? l.prefix);
      })
      : setting.patterns.some((p) => p.family === l.family && samePrefix(bytes, p.bytes, p.prefix ?? (l.family === 4 ? 32 : 128)));
    if (wanted) out.push(l.address);
  }
  const v4 = out.filter((a) => !a.includes(':'));
  const v6 = out.filter((a) => a.includes(':'));
  return [...v4, ...v6].slice(0, MAX_NODE_ADDRESSES);
}

/** The attribute's value for `addresses`. */
export function formatNodeAddresses(addresses: readonly string[]): string {
  return addresses.join(',');
}

/**
 * A `witness-addresses` value read back: canonical addresses, duplicates and anything that is not
 * an address (or is loopback / link-local) dropped, at most MAX_NODE_ADDRESSES; "none" or an
 * over-long value give none. Never throws: a bad value on one node must not stop the sync.
 */
export function parseNodeAddressesAttr(value: string): string[] {
  if (value.length > MAX_ATTR_CHARS) return [];
  const out: string[] = [];
  for (const item of value.split(/[\s,;]+/)) {
    if (out.length >= MAX_NODE_ADDRESSES) break;
    if (item === '' || item.toLowerCase() === 'none') continue;
    const p = parseAddress(item);
    if (!p.ok) continue;
    const bytes = addressBytes(p.value.address);
    if (bytes === null || unusable(p.value.family, bytes) || out.includes(p.value.address)) continue;
    out.push(p.value.address);
  }
  return out;
}

/** Where a node's addresses come from: its permanent attribute (the admin's) first, else the transient one (its watcher's). */
export function nodeAddressesValue(permanent: Readonly<Record<string, string>> | undefined, transient: Readonly<Record<string, string>> | undefined): string | undefined {
  return permanent?.[NODE_ADDRESSES_ATTR] ?? transient?.[NODE_ADDRESSES_ATTR];
}

/**
 * The view's nodes with their addresses, from each node's attributes: `permanent` (the nodes
 * section) and `transient` (the status section), both keyed by node name. A node with none keeps
 * no `addresses` field, so views compare equal to what the store gives back.
 */
export function withNodeAddresses(nodes: readonly NodeView[], permanent: ReadonlyMap<string, Readonly<Record<string, string>>>, transient: ReadonlyMap<string, Readonly<Record<string, string>>>): NodeView[] {
  return nodes.map((n) => {
    const value = nodeAddressesValue(permanent.get(n.name), transient.get(n.name));
    const addresses = value !== undefined ? parseNodeAddressesAttr(value) : [];
    const out: NodeView = { name: n.name, id: n.id, state: n.state };
    if (addresses.length > 0) out.addresses = addresses;
    return out;
  });
}

/** A write the CIB has not shown after this long is made again. */
const UNCONFIRMED_RETRY_MS = 10_000;

export interface PublisherOptions {
  /** This node's name in the cluster. */
  node: string;
  attrd: Attrd;
  setting: NodeAddressSetting;
  logger: Logger;
  /** This node's addresses (default: localAddresses()). */
  interfaces?: () => LocalAddress[];
  /** How often to look at the interfaces again without a CIB change (default 30 s; 0 = never). */
  recheckMs?: number;
}

/** What the publisher needs from a sync (agent/sync.ts SyncResult has it). */
export interface SyncedAttributes {
  view: ClusterView;
  transient: ReadonlyMap<string, Readonly<Record<string, string>>>;
  configured: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

/**
 * Keeps this node's `witness-addresses` transient attribute equal to what it should offer, after
 * every sync (the CIB shows what attrd holds, so a value lost when the node rejoined is written
 * again) and every `recheckMs` (addresses can change without a CIB change). One attrd_updater at a
 * time; a failure is logged and retried at the next sync or recheck.
 */
export class NodeAddressPublisher {
  private readonly opts: PublisherOptions;
  private readonly interfaces: () => LocalAddress[];
  private last: SyncedAttributes | null = null;
  private inFlight: Promise<void> | null = null;
  /** The value we last wrote (null: removed, undefined: never touched). */
  private written: string | null | undefined = undefined;
  private timer: NodeJS.Timeout | null = null;
  private overridden = false;
  /** When `written` was written, and whether a sync has shown it since. */
  private writtenAt = 0;
  private confirmed = false;

  constructor(opts: PublisherOptions) {
    this.opts = opts;
    this.interfaces = opts.interfaces ?? ((): LocalAddress[] => localAddresses());
    const every = opts.recheckMs ?? 30_000;
    if (every > 0) {
      this.timer = setInterval(() => { this.reconcile(); }, every);
      this.timer.unref();
    }
  }

  /** Call after every sync. */
  onSync(r: SyncedAttributes): void {
    this.last = r;
    this.reconcile();
  }

  /** What the attribute should hold: a value, or null for no attribute. */
  wanted(r: SyncedAttributes): string | null {
    if (r.configured.get(this.opts.node)?.[NODE_ADDRESSES_ATTR] !== undefined) return null; // the admin's permanent attribute rules
    const addresses = chooseNodeAddresses(this.opts.setting, this.interfaces(), r.view.ips);
    return addresses.length > 0 ? formatNodeAddresses(addresses) : null;
  }

  private reconcile(): void {
    const r = this.last;
    if (r === null || this.inFlight !== null) return;
    const { node, attrd, logger } = this.opts;
    const overridden = r.configured.get(node)?.[NODE_ADDRESSES_ATTR] !== undefined;
    if (overridden !== this.overridden) {
      this.overridden = overridden;
      if (overridden) logger.info({ node, attribute: NODE_ADDRESSES_ATTR }, 'this node\'s addresses are set by its permanent node attribute; not publishing our own');
    }
    let want: string | null;
    try {
      want = this.wanted(r);
    } catch (err) {
      logger.warn({ err }, 'cannot read this node\'s interfaces');
      return;
    }
    const have = r.transient.get(node)?.[NODE_ADDRESSES_ATTR] ?? null;
    if (have === this.written) this.confirmed = true;
    if (want === have) return;
    // The CIB shows a write a moment after attrd took it: the same value is written again only
    // once the CIB had shown it and lost it (attrd forgets a node's attributes when it leaves), or
    // when it never showed up.
    if (want === this.written && !this.confirmed && Date.now() - this.writtenAt < UNCONFIRMED_RETRY_MS) return;
    const job = want === null ? attrd.remove(node, NODE_ADDRESSES_ATTR) : attrd.set(node, NODE_ADDRESSES_ATTR, want);
    this.inFlight = job
      .then(() => {
        this.written = want;
        this.writtenAt = Date.now();
        this.confirmed = false;
        logger.info({ node, attribute: NODE_ADDRESSES_ATTR, addresses: want ?? '(none)', setting: this.opts.setting.mode }, want === null ? 'node addresses withdrawn' : 'node addresses published');
      })
      .catch((err: unknown) => {
        logger.warn({ err, node, attribute: NODE_ADDRESSES_ATTR }, 'cannot publish this node\'s addresses; will retry');
      })
      .finally(() => {
        this.inFlight = null;
      });
  }

  /** Stops rechecking and waits for a write in flight. */
  async settle(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.inFlight;
  }

  /**
   * On a clean stop of the watcher (the witness stops on this node): removes the attribute we
   * published, so other nodes stop listing an address whose witness is gone. Best effort.
   */
  async withdraw(): Promise<void> {
    await this.settle();
    const shown = this.last?.transient.get(this.opts.node)?.[NODE_ADDRESSES_ATTR];
    if ((this.written === undefined || this.written === null) && shown === undefined) return;
    try {
      await this.opts.attrd.remove(this.opts.node, NODE_ADDRESSES_ATTR);
      this.opts.logger.info({ node: this.opts.node, attribute: NODE_ADDRESSES_ATTR }, 'node addresses withdrawn (witness stopping)');
    } catch (err) {
      this.opts.logger.warn({ err }, 'cannot withdraw this node\'s addresses');
    }
  }
}
