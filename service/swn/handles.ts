// Witness context handles (MS-SWN §2.2.1.1, a PCONTEXT_HANDLE): 20 bytes, a u32 attributes word
// (0) and a random GUID; the registry keys registrations by their hex.

import { randomUUID } from 'node:crypto';
import { CONTEXT_HANDLE_SIZE } from '../rpc/ndr.ts';

/** The all-zero handle failed registrations answer with. */
export const NULL_HANDLE: Buffer = Buffer.alloc(CONTEXT_HANDLE_SIZE);

/** The registry's key (and the store's `registrations.key`) for a handle. */
export function handleKey(h: Buffer): string {
  return h.toString('hex');
}

export function newHandle(): Buffer {
  const b = Buffer.alloc(CONTEXT_HANDLE_SIZE);
  // GUID wire order: Data1, Data2, Data3 little-endian, Data4 as bytes.
  const hex = randomUUID().replace(/-/g, '');
  const g = Buffer.from(hex, 'hex');
  b.writeUInt32LE(g.readUInt32BE(0), 4);
  b.writeUInt16LE(g.readUInt16BE(4), 8);
  b.writeUInt16LE(g.readUInt16BE(6), 10);
  g.copy(b, 12, 8, 16);
  return b;
}
