// The CIB as typed data: just what placement needs (nodes, resources, node states and their
// operation history), read with the agent's one XML reader (agent/cib/xml.ts). Unknown elements
// and resource classes are kept or skipped, never fatal: the agent must keep working on any valid
// CIB.

import type { CibVersion } from '../../store/types.ts';
import { CibParseError } from './errors.ts';
import { readStatus } from './status-scan.ts';
import { child, children, readXml, type XmlElement } from './xml.ts';

export { CibParseError } from './errors.ts';

export interface CibNode {
  id: string;
  uname: string;
  type: string;
  /** instance_attributes of the node (permanent attributes such as standby). */
  attributes: Record<string, string>;
}

export interface CibPrimitive {
  kind: 'primitive';
  id: string;
  /** ocf, lsb, systemd, stonith, service, ... */
  cls: string;
  provider: string | null;
  type: string;
  params: Record<string, string>;
  meta: Record<string, string>;
}

export interface CibGroup {
  kind: 'group';
  id: string;
  children: CibPrimitive[];
  meta: Record<string, string>;
}

export interface CibClone {
  kind: 'clone';
  id: string;
  /** `master` elements (the old promotable syntax) are read as clones too. */
  child: CibPrimitive | CibGroup | null;
  meta: Record<string, string>;
}

export interface CibBundle {
  kind: 'bundle';
  id: string;
  child: CibPrimitive | null;
}

export type CibResource = CibPrimitive | CibGroup | CibClone | CibBundle;

export interface LrmOp {
  id: string;
  operationKey: string;
  operation: string;
  rc: number;
  /** 0 done, -1 pending (in flight), others: execution errors (timeout, not installed, ...). */
  opStatus: number;
  interval: number;
  callId: number;
  lastRcChange: number;
}

export interface LrmResource {
  /** As the status section names it: primitive id, or id:N for unique clone instances. */
  id: string;
  cls: string;
  provider: string | null;
  type: string;
  ops: LrmOp[];
}

export interface CibNodeState {
  id: string;
  uname: string;
  /** in_ccm: "true"/"false" (Pacemaker ≤ 2.1) or a timestamp (later versions). */
  inCcm: boolean;
  /** crmd: "online"/"offline" or a timestamp. */
  crmdOnline: boolean;
  join: string;
  expected: string;
  origin: string;
  /** Transient attributes (status section). */
  attributes: Record<string, string>;
  resources: LrmResource[];
}

export interface Cib {
  version: CibVersion;
  dcUuid: string | null;
  haveQuorum: boolean;
  properties: Record<string, string>;
  nodes: CibNode[];
  resources: CibResource[];
  status: CibNodeState[];
}

const attr = (el: XmlElement, name: string): string | null => (Object.hasOwn(el.attrs, name) ? (el.attrs[name] ?? null) : null);

function num(el: XmlElement, k: string, dflt = 0): number {
  const s = attr(el, k);
  if (s === null) return dflt;
  const n = Number(s);
  return Number.isFinite(n) ? n : dflt;
}

/** nvpairs of every instance_attributes / meta_attributes set; later sets do not override earlier ones (first wins, as Pacemaker's default rule order). */
function nvpairs(sets: readonly XmlElement[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const set of sets) {
    for (const p of children(set, 'nvpair')) {
      const name = attr(p, 'name');
      const value = attr(p, 'value');
      if (name !== null && value !== null && !Object.hasOwn(out, name)) out[name] = value;
    }
  }
  return out;
}

function parsePrimitive(el: XmlElement): CibPrimitive {
  return {
    kind: 'primitive',
    id: attr(el, 'id') ?? '',
    cls: attr(el, 'class') ?? '',
    provider: attr(el, 'provider'),
    type: attr(el, 'type') ?? '',
    params: nvpairs(children(el, 'instance_attributes')),
    meta: nvpairs(children(el, 'meta_attributes')),
  };
}

function parseGroup(el: XmlElement): CibGroup {
  return { kind: 'group', id: attr(el, 'id') ?? '', children: children(el, 'primitive').map(parsePrimitive), meta: nvpairs(children(el, 'meta_attributes')) };
}

function parseClone(el: XmlElement): CibClone {
  const prim = child(el, 'primitive');
  const grp = child(el, 'group');
  return {
    kind: 'clone',
    id: attr(el, 'id') ?? '',
    child: prim ? parsePrimitive(prim) : grp ? parseGroup(grp) : null,
    meta: nvpairs(children(el, 'meta_attributes')),
  };
}

function parseResources(el: XmlElement | null): CibResource[] {
  const out: CibResource[] = [];
  for (const c of el?.children ?? []) {
    if (c.name === 'primitive') out.push(parsePrimitive(c));
    else if (c.name === 'group') out.push(parseGroup(c));
    else if (c.name === 'clone' || c.name === 'master') out.push(parseClone(c));
    else if (c.name === 'bundle') {
      const p = child(c, 'primitive');
      out.push({ kind: 'bundle', id: attr(c, 'id') ?? '', child: p ? parsePrimitive(p) : null });
    }
  }
  // Placement does not depend on document order; sorted by id for determinism.
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * Decides which primitives' operation history to keep, given the configured resources. A real
 * status section holds every resource's probe result on every node (32 nodes × 1,000 resources
 * is 18 MB of XML); the witness needs only its IPs, shares and its own clone.
 */
export type StatusFilter = (resources: readonly CibResource[]) => ReadonlySet<string>;

/**
 * Parses a whole CIB document (`cibadmin --query` output or a CIB file). With a `filter`, only
 * the operation history of the primitives it keeps is parsed (see StatusFilter).
 */
export function parseCib(xml: string, filter?: StatusFilter): Cib {
  // One pass over the document: the configuration (small, varied) becomes an element tree checked
  // for well-formedness; the status section (huge, regular) is handed to readStatus in place, with
  // the filter computed from the configuration read just before it.
  const status: CibNodeState[] = [];
  let resources: CibResource[] | null = null;
  const root = readXml(xml, {
    what: 'CIB',
    takeOver: (name, ancestors, sc) => {
      if (name !== 'status' || ancestors.length !== 1 || ancestors[0]?.name !== 'cib') return false;
      const conf = child(ancestors[0], 'configuration');
      resources ??= conf !== null ? parseResources(child(conf, 'resources')) : null;
      status.push(...readStatus(sc, filter && resources !== null ? filter(resources) : null));
      return true;
    },
  });
  if (root.name !== 'cib') throw new CibParseError(`not a CIB: the root element is <${root.name}>, expected <cib>`);
  if (attr(root, 'epoch') === null) throw new CibParseError('not a CIB: <cib> has no epoch attribute');
  const conf = child(root, 'configuration');
  return {
    version: { adminEpoch: num(root, 'admin_epoch'), epoch: num(root, 'epoch'), numUpdates: num(root, 'num_updates') },
    dcUuid: attr(root, 'dc-uuid'),
    haveQuorum: attr(root, 'have-quorum') === '1' || attr(root, 'have-quorum') === 'true',
    properties: nvpairs(children(child(conf, 'crm_config'), 'cluster_property_set')),
    nodes: children(child(conf, 'nodes'), 'node').map((n) => ({
      id: attr(n, 'id') ?? '',
      uname: attr(n, 'uname') ?? '',
      type: attr(n, 'type') ?? 'member',
      attributes: nvpairs(children(n, 'instance_attributes')),
    })),
    resources: resources ?? parseResources(child(conf, 'resources')),
    status,
  };
}
