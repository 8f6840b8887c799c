// Monitor's deep check: does witnessd's RPC server answer, on the witness port, both a DCE/RPC
// bind for the witness interface and a request on it? A process that is alive but wedged (or
// listening on the wrong port) fails this.
//
// The probe has no credentials (the agent holds no password, and with auth=winbind none exists on
// the node), so it binds unauthenticated. That works whatever the auth settings: witnessd accepts
// unauthenticated binds (security is checked per call, as Windows does), and only the calls of the
// witness methods need authentication.
//
// What it calls matters. A real witness method (GetInterfaceList, say) would be refused with
// fault ACCESS_DENIED when auth is on, which would prove the service alive too, but every refusal
// is a warning in witnessd's log: one per monitor, every 10 s, for ever, on every node, burying
// the refusals worth reading. And with auth=none, GetInterfaceList waits while no IP is up, so a
// monitor could hang on a healthy witnessd. So the probe asks for an opnum the interface does not
// have: the server answers fault nca_s_op_rng_error without running or logging anything, after
// taking the request through the same path a client's call takes (framing, the bound context,
// dispatch). Any fault or response to that call counts as an answer: what is checked is that the
// service answers, not which refusal it picks (a server that checked access before the opnum
// would answer ACCESS_DENIED, which is just as alive).

import net from 'node:net';
import { parsePdu, PFC, PType, serializePdu } from '../service/rpc/pdu.ts';
import { Deframer } from '../service/rpc/framing.ts';
import { NDR20 } from '../service/rpc/syntaxes.ts';
import { WITNESS_INTERFACE } from '../service/swn/constants.ts';

/** Not an opnum of MS-SWN (0-5), nor ever likely to be one. */
export const PROBE_OPNUM = 0xffff;

export function probeBind(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const deframer = new Deframer(65535);
    let bound = false;
    const done = (err?: Error): void => {
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => {
      done(new Error(bound ? `no answer to a request on ${host}:${port} within ${timeoutMs} ms (the bind was answered)` : `no answer to a bind on ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('error', (err) => { done(new Error(`cannot connect to ${host}:${port}: ${err.message}`)); });
    s.once('connect', () => {
      s.write(serializePdu({
        ptype: PType.BIND, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId: 1, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0,
        contexts: [{ contextId: 0, abstract: { uuid: WITNESS_INTERFACE.uuid, version: WITNESS_INTERFACE.versionMajor, minor: WITNESS_INTERFACE.versionMinor }, transfers: [NDR20] }],
        auth: null,
      }));
    });
    s.on('data', (d: Buffer) => {
      try {
        for (const f of deframer.push(d)) {
          const p = parsePdu(f);
          if (!bound) {
            if (p.ptype !== PType.BIND_ACK || p.results[0]?.result !== 0) {
              done(new Error(`${host}:${port} refused the witness interface (PDU type ${p.ptype})`));
              return;
            }
            bound = true;
            s.write(serializePdu({ ptype: PType.REQUEST, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId: 2, allocHint: 0, contextId: 0, opnum: PROBE_OPNUM, object: null, stub: Buffer.alloc(0), auth: null }));
            continue;
          }
          if ((p.ptype === PType.FAULT || p.ptype === PType.RESPONSE) && p.callId === 2) done();
          else done(new Error(`${host}:${port} answered a request with PDU type ${p.ptype} (call ${p.callId})`));
          return;
        }
      } catch (err) {
        done(err as Error);
      }
    });
  });
}
