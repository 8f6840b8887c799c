// What the agent looks for in the CIB: which resources are floating IPs, which resource carries
// which SMB share, and which agent is the witness service itself.

import { DEFAULT_IP_AGENTS } from '../store/defaults.ts';
import type { SambaCatalogue } from './samba-shares.ts';

export interface ViewConfig {
  /** class:provider:type of the resource agents that are floating IPs. */
  ipAgents: string[];
  /** Explicit resource ids that count as witness IPs; null = every resource of ipAgents. */
  ipResources: string[] | null;
  /** SMB share name → the resource (primitive, group or clone) that carries it. */
  shares: Map<string, string>;
  /** class:provider:type of the witness clone. */
  witnessAgent: string;
  /**
   * Where the node's Samba shares come from (agent/samba-shares.ts); each one follows the
   * Filesystem resource its path lies under, `shares` overriding. Absent: `shares` only.
   */
  sambaShares?: { catalogue(): SambaCatalogue | null; changed(): boolean } | null;
}

export function defaultViewConfig(): ViewConfig {
  return { ipAgents: [...DEFAULT_IP_AGENTS], ipResources: null, shares: new Map(), witnessAgent: 'ocf:witness:witnessd' };
}

const NAME = /^[^\s=,;]+$/;

/**
 * Parses the OCF `shares` parameter: "SHARE=resource,SHARE2=group", separated by commas,
 * semicolons or white space. Share names are matched case-insensitively later, so two entries
 * that differ only in case are an error.
 */
export function parseSharesMap(text: string): Map<string, string> {
  const map = new Map<string, string>();
  const seen = new Set<string>();
  for (const item of text.split(/[\s,;]+/).filter((s) => s !== '')) {
    const eq = item.indexOf('=');
    const share = eq > 0 ? item.slice(0, eq) : '';
    const rsc = eq > 0 ? item.slice(eq + 1) : '';
    if (!NAME.test(share) || !NAME.test(rsc)) {
      throw new Error(`bad share map entry ${JSON.stringify(item)}: expected SHARE=resource`);
    }
    const key = share.toLowerCase();
    if (seen.has(key)) throw new Error(`share ${JSON.stringify(share)} is mapped twice`);
    seen.add(key);
    map.set(share, rsc);
  }
  return map;
}
