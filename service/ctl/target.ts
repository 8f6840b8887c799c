// `--to-ip` of client-move / share-move: the address clients are told to move to. A typo or a
// stale address would send every selected client to something nobody serves, so the address must
// be one the cluster view (the CIB, as the agent last wrote it) knows, on any node, unless forced.

import { canonicalAddress, parseAddress } from '../../store/address.ts';
import type { ClusterView } from '../../store/types.ts';

/**
 * Every address the view knows: floating IPs (running or not, any node), the shares' IPs, and the
 * nodes' own addresses (agent/node-addresses.ts; the destination of a single-VIP cluster's passive node).
 */
export function knownAddresses(view: ClusterView | null): Map<string, string> {
  const out = new Map<string, string>(); // canonical → as configured
  for (const a of [...(view?.ips ?? []).map((i) => i.address), ...(view?.shares ?? []).flatMap((s) => s.ips), ...(view?.nodes ?? []).flatMap((n) => n.addresses ?? [])]) {
    // The form the agent stores and witnessd compares: "2001:DB8::1" and "2001:db8:0::1" are one.
    const c = canonicalAddress(a);
    if (c !== null && !out.has(c)) out.set(c, a);
  }
  return out;
}

export interface TargetIpCheck {
  /** The address to send: the view's spelling when it knows it, else the one given. */
  address: string;
  /** Set when the address is unknown and --force was given: say so on stderr. */
  warning: string | null;
}

/**
 * Checks `--to-ip`: an address (always), and one the view knows (unless `force`). Throws Error
 * naming the address and the way out otherwise.
 */
export function checkTargetIp(ip: string, view: ClusterView | null, force: boolean): TargetIpCheck {
  const parsed = parseAddress(ip);
  if (!parsed.ok) throw new Error(`--to-ip ${ip}: ${parsed.problem.reason}`);
  const c = parsed.value.address;
  const known = knownAddresses(view);
  const spelled = known.get(c);
  if (spelled !== undefined) return { address: spelled, warning: null };
  const list = [...known.values()];
  const some = list.length === 0 ? (view === null ? 'no cluster view in the store yet' : 'the cluster view has no IP address') : `the cluster knows ${list.slice(0, 8).join(', ')}${list.length > 8 ? ` and ${list.length - 8} more` : ''}`;
  const what = `--to-ip ${ip} is not an address of this cluster (${some})`;
  if (!force) throw new Error(`${what}; clients told to move there would find no witness or share: give --force to send it anyway`);
  return { address: c, warning: `${what}; sending it anyway (--force)` };
}
