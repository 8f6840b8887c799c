// The CIB's status section, read through the agent's one XML scanner (agent/cib/xml.ts) in its
// lenient mode.
//
// Why not the element tree that reads the configuration: a real status section holds every
// resource's probe result on every node. At 32 nodes × 1,000 resources that is ~18 MB of XML,
// which a generic parser turns into objects in ~1 s — ten times the agent's whole sync budget. The
// section is regular, machine-written XML (node_state > transient_attributes > nvpair, node_state >
// lrm > lrm_resources > lrm_resource > lrm_rsc_op), so it is read tag by tag in one pass, only the
// attributes needed are decoded, and the <lrm_resource> blocks the witness does not care about are
// jumped over without looking inside. Values are decoded as everywhere else (decodeAttributeValue).

import type { CibNodeState, LrmOp, LrmResource } from './types.ts';
import { CibParseError } from './errors.ts';
import { XmlScanner } from './xml.ts';

/** Pacemaker ≤ 2.1 writes "true"/"online"; later versions write a timestamp (non-zero = yes). */
export function flag(v: string | undefined, yes: string): boolean {
  if (v === undefined) return false;
  if (v === yes || v === 'true') return true;
  const n = Number(v);
  return Number.isFinite(n) && n > 0;
}

function int(v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  return Number.isFinite(n) ? n : dflt;
}

/**
 * Reads the content of a <status> element: `outer` stands on its start tag and is left just past
 * its end tag; the content is read in lenient mode whatever `outer`'s mode. `keep` (primitive ids;
 * clone instance suffixes ":N" ignored) selects whose operation history to read; null keeps all.
 */
export function readStatus(outer: XmlScanner, keep: ReadonlySet<string> | null): CibNodeState[] {
  if (outer.empty) return [];
  const sc = outer.strict ? outer.lenient() : outer;
  const out = readNodeStates(sc, keep);
  outer.pos = sc.pos;
  return out;
}

function readNodeStates(sc: XmlScanner, keep: ReadonlySet<string> | null): CibNodeState[] {
  const out: CibNodeState[] = [];
  let node: CibNodeState | null = null;
  let rsc: LrmResource | null = null;
  let inTransient = false;
  for (;;) {
    if (!sc.next()) {
      if (node !== null) throw new CibParseError(`CIB status is truncated: <node_state id="${node.id}"> is never closed`);
      throw new CibParseError('CIB status is truncated: <status> is never closed');
    }
    const name = sc.name;
    if (sc.closing) {
      if (name === 'node_state') node = null;
      else if (name === 'lrm_resource') rsc = null;
      else if (name === 'transient_attributes') inTransient = false;
      else if (name === 'status') break;
      continue;
    }
    switch (name) {
      case 'node_state': {
        node = {
          id: sc.attr('id') ?? '',
          uname: sc.attr('uname') ?? '',
          inCcm: flag(sc.attr('in_ccm'), 'true'),
          crmdOnline: flag(sc.attr('crmd'), 'online'),
          join: sc.attr('join') ?? 'down',
          expected: sc.attr('expected') ?? 'down',
          origin: sc.attr('crm-debug-origin') ?? '',
          attributes: {},
          resources: [],
        };
        out.push(node);
        if (sc.empty) node = null;
        break;
      }
      case 'transient_attributes':
        inTransient = !sc.empty;
        break;
      case 'nvpair':
        if (node && inTransient) {
          const n = sc.attr('name');
          const v = sc.attr('value');
          if (n !== undefined && v !== undefined && !Object.hasOwn(node.attributes, n)) node.attributes[n] = v;
        }
        break;
      case 'lrm_resource': {
        if (!node) throw new CibParseError('CIB status: <lrm_resource> outside a <node_state>');
        const id = sc.attr('id') ?? '';
        if (keep !== null && !keep.has(id.replace(/:\d+$/, ''))) {
          // Jump over the whole block without scanning its operations.
          if (!sc.empty && !sc.skipPast('lrm_resource')) throw new CibParseError(`CIB status is truncated: <lrm_resource id="${id}"> is never closed`);
          break;
        }
        rsc = { id, cls: sc.attr('class') ?? '', provider: sc.attr('provider') ?? null, type: sc.attr('type') ?? '', ops: [] };
        node.resources.push(rsc);
        if (sc.empty) rsc = null;
        break;
      }
      case 'lrm_rsc_op': {
        if (!rsc) break;
        const op: LrmOp = {
          id: sc.attr('id') ?? '',
          operationKey: sc.attr('operation_key') ?? '',
          operation: sc.attr('operation') ?? '',
          rc: int(sc.attr('rc-code'), -1),
          opStatus: int(sc.attr('op-status'), 0),
          interval: int(sc.attr('interval'), 0),
          callId: int(sc.attr('call-id'), -1),
          lastRcChange: int(sc.attr('last-rc-change'), 0),
        };
        rsc.ops.push(op);
        break;
      }
      default:
        break;
    }
  }
  if (node !== null) throw new CibParseError(`CIB status is malformed: </status> closes <node_state id="${node.id}">`);
  return out;
}

/**
 * Reads `<status>…</status>` on its own (the first <status> element of `xml`); parseCib reads it
 * in place, within the whole CIB.
 * @testOnly a status section read alone, for the tests that compare every reader of the CIB.
 */
export function scanStatus(xml: string, keep: ReadonlySet<string> | null): CibNodeState[] {
  const sc = new XmlScanner(xml, { strict: false, what: 'CIB status' });
  while (sc.next()) {
    if (!sc.closing && sc.name === 'status') return readStatus(sc, keep);
  }
  return [];
}
