// TCP byte stream → whole DCE/RPC fragments. Bounded: a fragment longer than `maxFragment`, or a
// header that cannot be one, is an error before anything is buffered for it.

import { DecodeError } from '../bytes/decode-error.ts';
import { HEADER_SIZE, isBigEndian } from './pdu.ts';

export class Deframer {
  private pending: Buffer[] = [];
  private buffered = 0;
  private readonly maxFragment: number;

  constructor(maxFragment: number) {
    this.maxFragment = maxFragment;
  }

  /** Bytes received but not yet part of a whole fragment. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** The call_id of the fragment still arriving, when its header is in (for a refusal that names it). */
  partialCallId(): number | null {
    if (this.buffered < HEADER_SIZE) return null;
    const head = this.peek(HEADER_SIZE);
    return isBigEndian(head[4] ?? 0x10) ? head.readUInt32BE(12) : head.readUInt32LE(12);
  }

  /** Feeds a chunk; returns every fragment it completes (possibly none, possibly several). */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.buffered += chunk.length;
    }
    const out: Buffer[] = [];
    while (this.buffered >= HEADER_SIZE) {
      const head = this.peek(HEADER_SIZE);
      if (head[0] !== 5) throw new DecodeError(`not a DCE/RPC fragment: rpc_vers ${head[0] ?? 0}`);
      // frag_length is in the sender's byte order: read it right, so a big-endian PDU can be
      // framed and refused cleanly instead of derailing the stream.
      const len = isBigEndian(head[4] ?? 0x10) ? head.readUInt16BE(8) : head.readUInt16LE(8);
      if (len < HEADER_SIZE) throw new DecodeError(`frag_length ${len} is shorter than the header`);
      if (len > this.maxFragment) throw new DecodeError(`frag_length ${len} exceeds the ${this.maxFragment}-byte limit`);
      if (this.buffered < len) break;
      out.push(this.take(len));
    }
    return out;
  }

  private peek(n: number): Buffer {
    const first = this.pending[0];
    if (first && first.length >= n) return first.subarray(0, n);
    this.pending = [Buffer.concat(this.pending)];
    return (this.pending[0] ?? Buffer.alloc(0)).subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.pending[0];
    let frag: Buffer;
    if (first && first.length >= n) {
      frag = first.subarray(0, n);
      // Emptied: a fresh array, as a shifted one keeps its grown backing store per connection.
      if (first.length === n) this.pending = this.pending.length === 1 ? [] : this.pending.slice(1);
      else this.pending[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.pending);
      frag = all.subarray(0, n);
      this.pending = all.length > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return frag;
  }
}
