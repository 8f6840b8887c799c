// Reads a whole CIB document into the typed data of agent/cib/types.ts (just what placement needs:
// nodes, resources, node states and their operation history), with the agent's one XML reader
// (agent/cib/xml.ts). Unknown elements and resource classes are kept or skipped, never fatal: the
// agent must keep working on any valid CIB.

import type { Cib, CibClone, CibGroup, CibNodeState, CibPrimitive, CibResource, StatusFilter } from './types.ts';
import { CibParseError } from './errors.ts';
import { readStatus } from './status-scan.ts';
import { child, children, readXml, type XmlElement } from './xml.ts';

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
