// Multi-fragment calls: reassembly of requests (PFC_FIRST_FRAG … PFC_LAST_FRAG, one call at a
// time per call_id, bounded in total size) and fragmentation of responses at the negotiated
// max_xmit_frag.

import { DecodeError } from '../bytes/decode-error.ts';
import { HEADER_SIZE, PFC, PType, serializePdu, type RequestPdu } from './pdu.ts';

const RESPONSE_HEADER = 8; // alloc_hint, p_cont_id, cancel_count, reserved

interface Partial {
  first: RequestPdu;
  parts: Buffer[];
  size: number;
  /** When its first fragment arrived (ms): a call whose fragments stop coming is timed out. */
  startedAt: number;
}

export class Reassembler {
  private readonly calls = new Map<number, Partial>();
  private readonly maxBytes: number;
  private readonly maxCalls: number;

  /** Bytes held for calls still arriving (for the server-wide memory budget). */
  heldBytes = 0;

  constructor(maxBytes: number, maxCalls = 8) {
    this.maxBytes = maxBytes;
    this.maxCalls = maxCalls;
  }

  /** When the oldest call still arriving started (ms), or null when none is. */
  get oldestStart(): number | null {
    let oldest: number | null = null;
    for (const c of this.calls.values()) if (oldest === null || c.startedAt < oldest) oldest = c.startedAt;
    return oldest;
  }

  /** Returns the whole request once its last fragment arrived, else null. */
  push(p: RequestPdu): RequestPdu | null {
    const first = (p.flags & PFC.FIRST_FRAG) !== 0;
    const last = (p.flags & PFC.LAST_FRAG) !== 0;
    if (first && last) {
      if (this.calls.has(p.callId)) throw new DecodeError(`call ${p.callId}: a new request while its fragments are still arriving`);
      return p;
    }
    let c = this.calls.get(p.callId);
    if (first) {
      if (c) throw new DecodeError(`call ${p.callId}: a second first fragment`);
      if (this.calls.size >= this.maxCalls) throw new DecodeError(`more than ${this.maxCalls} fragmented requests in flight`);
      // The header fields only: the fragment's stub lies in the socket's chunk, which must not
      // stay alive (uncounted) for as long as the call is being reassembled.
      c = { first: Object.assign({}, p, { stub: Buffer.alloc(0) }), parts: [], size: 0, startedAt: Date.now() };
      this.calls.set(p.callId, c);
    } else if (!c) {
      throw new DecodeError(`call ${p.callId}: a fragment without a first fragment`);
    } else if (p.opnum !== c.first.opnum || p.contextId !== c.first.contextId) {
      throw new DecodeError(`call ${p.callId}: fragments disagree on opnum or context`);
    }
    if (c.size + p.stub.length > this.maxBytes) {
      this.drop(p.callId);
      throw new DecodeError(`call ${p.callId}: request larger than ${this.maxBytes} bytes`);
    }
    c.parts.push(Buffer.from(p.stub)); // copied, for the same reason
    c.size += p.stub.length;
    this.heldBytes += p.stub.length;
    if (!last) return null;
    this.drop(p.callId);
    return Object.assign({}, c.first, { flags: c.first.flags | PFC.LAST_FRAG, stub: Buffer.concat(c.parts) });
  }

  drop(callId: number): void {
    const c = this.calls.get(callId);
    if (!c) return;
    this.heldBytes -= c.size;
    this.calls.delete(callId);
  }
}

/**
 * Response fragments no longer than `maxXmitFrag` bytes each (stub slices a multiple of 8 bytes,
 * so alignment inside the stub is kept across fragments as NDR readers expect).
 */
export function fragmentResponse(callId: number, contextId: number, stub: Buffer, maxXmitFrag: number, versionMinor = 0): Buffer[] {
  const room = Math.max(8, (maxXmitFrag - HEADER_SIZE - RESPONSE_HEADER) & ~7);
  const out: Buffer[] = [];
  let off = 0;
  do {
    const slice = stub.subarray(off, off + room);
    let flags = 0;
    if (off === 0) flags |= PFC.FIRST_FRAG;
    if (off + slice.length >= stub.length) flags |= PFC.LAST_FRAG;
    out.push(serializePdu({ ptype: PType.RESPONSE, versionMinor, flags, callId, allocHint: stub.length - off, contextId, cancelCount: 0, stub: slice, auth: null }));
    off += slice.length;
  } while (off < stub.length);
  return out;
}
