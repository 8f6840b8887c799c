// One sync: CIB XML → typed CIB → view → diff against the stored view → one transaction.

import { performance } from 'node:perf_hooks';
import { openStore, type Store } from '../store/index.ts';
import type { CibVersion, ClusterEvent, ClusterView } from '../store/types.ts';
import { parseCib } from './cib/parse.ts';
import { readCib } from './cib/source.ts';
import type { ViewConfig } from './config.ts';
import { diffViews } from './diff.ts';
import { withNodeAddresses } from './node-addresses.ts';
import { deriveView, relevantResources, type SkippedIp } from './placement.ts';
import { shareMapWith } from './samba-shares.ts';
import type { CibResource } from './cib/types.ts';
import { commitSync } from '../store/view.ts';

export interface SyncResult {
  /** False when the stored view came from a newer CIB revision (another sync won the race). */
  applied: boolean;
  events: ClusterEvent[];
  cib: CibVersion;
  view: ClusterView;
  /** Each node's transient attributes, as read from the status section (the admin relay's input). */
  transient: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** Each node's permanent attributes (the nodes section), by node name. */
  configured: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** IP resources left out of the view because their address cannot be used (agent/skipped.ts warns). */
  skipped: SkippedIp[];
}

/** Parses `xml`, derives the view and commits it with its events. Throws CibParseError / StoreError. */
export function syncXml(store: Store, xml: string, cfg: ViewConfig): SyncResult {
  // Samba's shares (read again only when its files changed) join the share map once the CIB's
  // resources say which Filesystem each path lies under.
  const samba = cfg.sambaShares?.catalogue() ?? null;
  let effective: ViewConfig | null = samba === null ? cfg : null;
  const withShares = (resources: readonly CibResource[]): ViewConfig => (effective ??= { ...cfg, shares: shareMapWith(cfg.shares, samba, resources) });
  const cib = parseCib(xml, (resources) => relevantResources(resources, withShares(resources)));
  const skipped: SkippedIp[] = [];
  const derived = deriveView(cib, withShares(cib.resources), (s) => skipped.push(s));
  const transient = new Map(cib.status.map((n) => [n.uname, n.attributes]));
  const configured = new Map(cib.nodes.map((n) => [n.uname, n.attributes]));
  // Each node's own addresses, from its witness-addresses attribute (agent/node-addresses.ts).
  const view = { ...derived, nodes: withNodeAddresses(derived.nodes, configured, transient) };
  const { applied, events } = commitSync(store, view, diffViews);
  return { applied, events, cib: view.cib, view, transient, configured, skipped };
}

export interface SyncOnceOptions {
  db: string;
  cibFile?: string | undefined;
  config: ViewConfig;
}

/** Reads the CIB (live or file), opens the store and syncs once. */
export async function syncOnce(opts: SyncOnceOptions): Promise<SyncResult & { ms: number }> {
  const t0 = performance.now();
  const xml = await readCib({ cibFile: opts.cibFile });
  const store = openStore(opts.db);
  try {
    const r = syncXml(store, xml, opts.config);
    return { ...r, ms: performance.now() - t0 };
  } finally {
    store.close();
  }
}
