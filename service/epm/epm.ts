// The endpoint mapper (EPM v3, e1af8308-5d1f-11c9-91a4-08002b14a0fa; C706 Appendix O, MS-RPCE
// §2.2.1.2): Windows clients resolve the witness's port with ept_map on TCP 135 before binding,
// and rpcclient always does. Unauthenticated, as Windows expects (EnableAuthEpResolution is off
// by default). Only our own endpoints are known; nothing can be registered from outside.

import type { Logger } from 'pino';
import type { CallContext, OpHandler, RpcInterfaceDef } from '../rpc/interface.ts';
import { CONTEXT_HANDLE_SIZE, NdrReader, NdrWriter } from '../rpc/ndr.ts';
import { DecodeError } from '../bytes/decode-error.ts';
import { buildTcpTower, NDR_SYNTAX, parseMapTower, ProtocolId, TowerError, type SyntaxId } from './tower.ts';

export const EPM_INTERFACE = { uuid: 'e1af8308-5d1f-11c9-91a4-08002b14a0fa', versionMajor: 3, versionMinor: 0 } as const;
export const EpmOpnum = { ept_lookup: 2, ept_map: 3 } as const;
/** EPT_S_NOT_REGISTERED: no (more) elements. */
export const EPT_S_NOT_REGISTERED = 0x16c9a0d6;
const MAX_TOWER_LENGTH = 2000; // MS-RPCE §2.2.1.2.2: [range(0,2000)] tower_length
const MAX_TOWERS = 500; // [range(0,500)] max_towers

export interface Endpoint {
  iface: SyntaxId;
  annotation: string;
  /** The TCP port that serves it. */
  port: number;
}

/** The address to put in a tower: ours as the client reached us (IPv4 only in towers). */
function towerAddress(ctx: CallContext): string {
  const a = ctx.localAddress.replace(/^::ffff:/, '');
  return /^\d+\.\d+\.\d+\.\d+$/.test(a) ? a : '0.0.0.0';
}

function towerFor(e: Endpoint, ctx: CallContext): Buffer {
  return buildTcpTower({ iface: e.iface, transfer: { uuid: NDR_SYNTAX.uuid, version: NDR_SYNTAX.version, minor: 0 }, port: e.port, address: towerAddress(ctx) });
}

/** twr_t: conformant struct { tower_length; octets[tower_length] } (max_count hoisted first). */
function readTower(r: NdrReader): Buffer {
  const max = r.u32('tower max_count');
  const len = r.u32('tower_length');
  if (len > MAX_TOWER_LENGTH || len !== max) throw new DecodeError(`tower_length ${len} (max_count ${max}) out of range`);
  return r.bytes(len, 'tower octets');
}

function writeTower(w: NdrWriter, t: Buffer): void {
  w.u32(t.length).u32(t.length).bytes(t).align(4);
}

export function epmInterface(endpoints: () => Endpoint[], logger: Logger): RpcInterfaceDef {
  const log = logger.child({ iface: 'epm' });

  const eptMap: OpHandler = (stub, ctx) => {
    const r = new NdrReader(stub);
    if (r.pointer('obj') !== 0) r.bytes(16, 'obj uuid');
    const towerPtr = r.pointer('map_tower');
    const mapTower = towerPtr !== 0 ? readTower(r) : null;
    r.align(4);
    r.bytes(CONTEXT_HANDLE_SIZE, 'entry_handle');
    const maxTowers = r.u32('max_towers');
    if (maxTowers > MAX_TOWERS) throw new DecodeError(`max_towers ${maxTowers} exceeds ${MAX_TOWERS}`);
    let found: Endpoint | undefined;
    if (mapTower) {
      try {
        const want = parseMapTower(mapTower);
        found = endpoints().find(
          (e) =>
            e.iface.uuid === want.iface.uuid &&
            e.iface.version === want.iface.version &&
            want.transfer.uuid === NDR_SYNTAX.uuid &&
            want.transfer.version === NDR_SYNTAX.version &&
            want.protocol === ProtocolId.NCACN,
        );
      } catch (err) {
        if (!(err instanceof TowerError)) throw err;
        log.info({ remote: ctx.remote, error: err.message }, 'ept_map with an unreadable tower');
      }
    }
    const towers = found && maxTowers > 0 ? [towerFor(found, ctx)] : [];
    log.debug({ remote: ctx.remote, found: found?.annotation ?? null }, 'ept_map');
    const w = new NdrWriter();
    w.bytes(Buffer.alloc(CONTEXT_HANDLE_SIZE)); // entry_handle: no continuation
    w.u32(towers.length);
    w.u32(maxTowers).u32(0).u32(towers.length); // ITowers: max_count, offset, actual_count
    for (let i = 0; i < towers.length; i++) w.referent();
    for (const t of towers) writeTower(w, t);
    return w.u32(towers.length > 0 ? 0 : EPT_S_NOT_REGISTERED).finish();
  };

  const eptLookup: OpHandler = (stub, ctx) => {
    const r = new NdrReader(stub);
    const inquiry = r.u32('inquiry_type');
    if (r.pointer('object') !== 0) r.bytes(16, 'object uuid');
    let ifid: SyntaxId | null = null;
    if (r.pointer('Ifid') !== 0) {
      const uuid = r.uuid('Ifid uuid');
      ifid = { uuid, version: r.u16('Ifid vers_major'), minor: r.u16('Ifid vers_minor') };
    }
    r.u32('vers_option');
    const handle = r.contextHandle('entry_handle');
    const maxEnts = r.u32('max_ents');
    if (maxEnts > MAX_TOWERS) throw new DecodeError(`max_ents ${maxEnts} exceeds ${MAX_TOWERS}`);
    // One pass returns everything; a continuation handle (non-zero) has nothing more.
    const continuing = handle.some((b) => b !== 0);
    const matches = continuing
      ? []
      : endpoints().filter((e) => inquiry === 0 || ifid === null || (e.iface.uuid === ifid.uuid && e.iface.version === ifid.version)).slice(0, maxEnts);
    log.debug({ remote: ctx.remote, inquiry, entries: matches.length }, 'ept_lookup');
    const w = new NdrWriter();
    w.bytes(Buffer.alloc(20));
    w.u32(matches.length);
    w.u32(maxEnts).u32(0).u32(matches.length);
    for (const e of matches) {
      // ept_entry_t: object uuid, twr_p_t tower, [string] char annotation[64] (offset, actual, chars).
      w.bytes(Buffer.alloc(16)).referent();
      const text = Buffer.from(`${e.annotation.slice(0, 63)}\0`, 'latin1');
      w.u32(0).u32(text.length).bytes(text).align(4);
    }
    for (const e of matches) writeTower(w, towerFor(e, ctx));
    return w.u32(matches.length > 0 ? 0 : EPT_S_NOT_REGISTERED).finish();
  };

  return {
    name: 'epm',
    uuid: EPM_INTERFACE.uuid,
    versionMajor: EPM_INTERFACE.versionMajor,
    versionMinor: EPM_INTERFACE.versionMinor,
    ops: new Map([
      [EpmOpnum.ept_lookup, eptLookup],
      [EpmOpnum.ept_map, eptMap],
    ]),
  };
}
