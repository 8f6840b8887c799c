// Monitor's deep check: does the witness port answer a DCE/RPC bind for the witness interface?
// A process that is alive but wedged (or listening on the wrong port) fails this.

import net from 'node:net';
import { parsePdu, PFC, PType, serializePdu } from '../service/rpc/pdu.ts';
import { Deframer } from '../service/rpc/framing.ts';
import { NDR20 } from '../service/rpc/syntaxes.ts';
import { WITNESS_INTERFACE } from '../service/swn/constants.ts';

export function probeBind(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const deframer = new Deframer(65535);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => { done(new Error(`no answer to a bind on ${host}:${port} within ${timeoutMs} ms`)); }, timeoutMs);
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
          if (p.ptype === PType.BIND_ACK && p.results[0]?.result === 0) done();
          else done(new Error(`${host}:${port} refused the witness interface (PDU type ${p.ptype})`));
          return;
        }
      } catch (err) {
        done(err as Error);
      }
    });
  });
}
