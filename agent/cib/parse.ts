// The CIB as typed data: just what placement needs (nodes, resources, node states and their
// operation history), parsed with fast-xml-parser. Unknown elements and resource classes are
// kept or skipped, never fatal: the agent must keep working on any valid CIB.

import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { CibVersion } from '../../store/types.ts';
import { CibParseError } from './errors.ts';
import { scanStatus } from './status-scan.ts';

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

type XmlObj = Record<string, unknown>;

const ARRAYS = new Set([
  'node',
  'primitive',
  'group',
  'clone',
  'master',
  'bundle',
  'nvpair',
  'instance_attributes',
  'meta_attributes',
  'cluster_property_set',
  'node_state',
  'lrm_resource',
  'lrm_rsc_op',
]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseAttributeValue: false,
  parseTagValue: false,
  // Entity expansion is not needed for the CIB and only widens the attack surface.
  processEntities: false,
  isArray: (name) => ARRAYS.has(name),
});

function obj(v: unknown): XmlObj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as XmlObj) : {};
}

function list(v: unknown): XmlObj[] {
  return Array.isArray(v) ? v.map(obj) : v === undefined ? [] : [obj(v)];
}

function str(o: XmlObj, k: string): string | null {
  const v = o[k];
  return typeof v === 'string' ? v : null;
}

function num(o: XmlObj, k: string, dflt = 0): number {
  const s = str(o, k);
  if (s === null) return dflt;
  const n = Number(s);
  return Number.isFinite(n) ? n : dflt;
}

/** nvpairs of every instance_attributes / meta_attributes set; later sets do not override earlier ones (first wins, as Pacemaker's default rule order). */
function nvpairs(sets: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const set of list(sets)) {
    for (const p of list(set['nvpair'])) {
      const name = str(p, 'name');
      const value = str(p, 'value');
      if (name !== null && value !== null && !(name in out)) out[name] = value;
    }
  }
  return out;
}

function parsePrimitive(o: XmlObj): CibPrimitive {
  return {
    kind: 'primitive',
    id: str(o, 'id') ?? '',
    cls: str(o, 'class') ?? '',
    provider: str(o, 'provider'),
    type: str(o, 'type') ?? '',
    params: nvpairs(o['instance_attributes']),
    meta: nvpairs(o['meta_attributes']),
  };
}

function parseGroup(o: XmlObj): CibGroup {
  return { kind: 'group', id: str(o, 'id') ?? '', children: list(o['primitive']).map(parsePrimitive), meta: nvpairs(o['meta_attributes']) };
}

function parseClone(o: XmlObj): CibClone {
  const prim = list(o['primitive'])[0];
  const grp = list(o['group'])[0];
  return {
    kind: 'clone',
    id: str(o, 'id') ?? '',
    child: prim ? parsePrimitive(prim) : grp ? parseGroup(grp) : null,
    meta: nvpairs(o['meta_attributes']),
  };
}

function parseResources(o: XmlObj): CibResource[] {
  // fast-xml-parser groups children by tag, so document order across tags is lost; placement
  // does not depend on it, and we sort by id for determinism.
  const out: CibResource[] = [
    ...list(o['primitive']).map(parsePrimitive),
    ...list(o['group']).map(parseGroup),
    ...list(o['clone']).map(parseClone),
    ...list(o['master']).map(parseClone),
    ...list(o['bundle']).map((b): CibBundle => {
      const p = list(b['primitive'])[0];
      return { kind: 'bundle', id: str(b, 'id') ?? '', child: p ? parsePrimitive(p) : null };
    }),
  ];
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function parseDocument(xml: string, what: string): XmlObj {
  // The parser itself is lenient with broken XML, so validate first. fast-xml-parser 5 marks its
  // bundled validator deprecated in favour of a separate package; it still ships and works, and
  // one more dependency is not worth it until the parser's next major version drops it.
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new CibParseError(`${what} is not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  }
  return obj(parser.parse(xml));
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
  // The configuration (small, varied) goes through fast-xml-parser; the status section (huge,
  // regular) through scanStatus. Split at the <status> that follows </configuration>.
  const confEnd = xml.lastIndexOf('</configuration>');
  const statusStart = confEnd >= 0 ? xml.indexOf('<status', confEnd) : -1;
  const statusEnd = xml.lastIndexOf('</status>');
  const hasStatus = statusStart >= 0 && statusEnd > statusStart;
  const doc = parseDocument(hasStatus ? `${xml.slice(0, statusStart)}</cib>` : xml, 'CIB');
  if (!('cib' in doc)) {
    const root = Object.keys(doc).find((k) => !k.startsWith('?')) ?? '(none)';
    throw new CibParseError(`not a CIB: the root element is <${root}>, expected <cib>`);
  }
  const cib = obj(doc['cib']);
  const epoch = str(cib, 'epoch');
  if (epoch === null) throw new CibParseError('not a CIB: <cib> has no epoch attribute');
  if (hasStatus && !/^\s*<\/cib>\s*$/.test(xml.slice(statusEnd + '</status>'.length))) {
    throw new CibParseError('CIB is not well-formed: unexpected content after </status>');
  }
  const conf = obj(cib['configuration']);
  const resources = parseResources(obj(conf['resources']));
  const status = hasStatus ? scanStatus(xml.slice(statusStart, statusEnd + '</status>'.length), filter ? filter(resources) : null) : [];
  return {
    version: { adminEpoch: num(cib, 'admin_epoch'), epoch: num(cib, 'epoch'), numUpdates: num(cib, 'num_updates') },
    dcUuid: str(cib, 'dc-uuid'),
    haveQuorum: str(cib, 'have-quorum') === '1' || str(cib, 'have-quorum') === 'true',
    properties: nvpairs(obj(conf['crm_config'])['cluster_property_set']),
    nodes: list(obj(conf['nodes'])['node']).map((n) => ({
      id: str(n, 'id') ?? '',
      uname: str(n, 'uname') ?? '',
      type: str(n, 'type') ?? 'member',
      attributes: nvpairs(n['instance_attributes']),
    })),
    resources,
    status,
  };
}
