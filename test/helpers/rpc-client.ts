// A small DCE/RPC client over TCP built from the server's own codec, for robustness tests and
// benchmarks (interoperability is proven with Samba's clients, not with this one).

import net from 'node:net';
import { Deframer } from '../../service/rpc/framing.ts';
import { parsePdu, PFC, PType, serializePdu, type Pdu } from '../../service/rpc/pdu.ts';
import { NDR20 } from '../../service/rpc/syntaxes.ts';
import { WITNESS_INTERFACE } from '../../service/swn/constants.ts';

export class RawClient {
  readonly socket: net.Socket;
  private readonly deframer = new Deframer(1 << 20);
  private readonly waiting = new Map<number, { resolve: (p: Pdu) => void; reject: (e: Error) => void; parts: Buffer[] }>();
  private nextCall = 1;
  closed: Promise<void>;
  assocGroupId = 0;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => { socket.once('close', () => { resolve(); }); });
    socket.on('data', (d: Buffer) => {
      for (const f of this.deframer.push(d)) {
        const p = parsePdu(f);
        const w = this.waiting.get(p.callId);
        if (!w) continue;
        if (p.ptype === PType.RESPONSE && (p.flags & PFC.LAST_FRAG) === 0) {
          w.parts.push(p.stub);
          continue;
        }
        this.waiting.delete(p.callId);
        if (p.ptype === PType.RESPONSE && w.parts.length > 0) w.resolve({ ...p, stub: Buffer.concat([...w.parts, p.stub]) });
        else w.resolve(p);
      }
    });
    socket.on('close', () => {
      for (const w of this.waiting.values()) w.reject(new Error('connection closed'));
      this.waiting.clear();
    });
    socket.on('error', () => { /* close follows */ });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host, noDelay: true }, () => { resolve(new RawClient(s)); });
      s.once('error', reject);
    });
  }

  private expect(callId: number): Promise<Pdu> {
    return new Promise((resolve, reject) => { this.waiting.set(callId, { resolve, reject, parts: [] }); });
  }

  /** Binds the witness interface (NDR) on context 0; joins `assocGroupId` when given. */
  async bind(assocGroupId = 0, concMpx = false): Promise<Pdu> {
    const callId = this.nextCall++;
    const reply = this.expect(callId);
    this.socket.write(serializePdu({
      ptype: PType.BIND, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG | (concMpx ? PFC.CONC_MPX : 0), callId,
      maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId,
      contexts: [{ contextId: 0, abstract: { uuid: WITNESS_INTERFACE.uuid, version: WITNESS_INTERFACE.versionMajor, minor: WITNESS_INTERFACE.versionMinor }, transfers: [NDR20] }],
      auth: null,
    }));
    const p = await reply;
    if (p.ptype === PType.BIND_ACK) this.assocGroupId = p.assocGroupId;
    return p;
  }

  /** Sends a request and resolves with the response (or fault) PDU. */
  call(opnum: number, stub: Buffer): Promise<Pdu> {
    const callId = this.nextCall++;
    const reply = this.expect(callId);
    this.socket.write(serializePdu({ ptype: PType.REQUEST, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId, allocHint: stub.length, contextId: 0, opnum, object: null, stub, auth: null }));
    return reply;
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.closed;
  }
}

export function stubOf(p: Pdu): Buffer {
  if (p.ptype !== PType.RESPONSE) throw new Error(`expected a response, got PDU type ${p.ptype}${p.ptype === PType.FAULT ? ` (fault 0x${p.status.toString(16)})` : ''}`);
  return p.stub;
}
