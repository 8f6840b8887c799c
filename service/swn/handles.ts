// Witness context handles (MS-SWN §2.2.1.1, a PCONTEXT_HANDLE): 20 bytes, a u32 attributes word
// (0) and a random GUID; the registry keys registrations by their hex.

import { randomInto } from '../bytes/random-pool.ts';
import { CONTEXT_HANDLE_SIZE } from '../rpc/ndr.ts';

/** The all-zero handle failed registrations answer with. */
export const NULL_HANDLE: Buffer = Buffer.alloc(CONTEXT_HANDLE_SIZE);

/** The registry's key (and the store's `registrations.key`) for a handle. */
export function handleKey(h: Buffer): string {
  return h.toString('hex');
}

export function newHandle(): Buffer {
  const b = Buffer.alloc(CONTEXT_HANDLE_SIZE);
  // A version 4 (random) GUID in wire order: Data1, Data2, Data3 little-endian, Data4 as bytes.
  // Its version is the top nibble of Data3 (b[11], Data3's high byte) and its variant the top
  // two bits of Data4[0] (b[12]).
  randomInto(b, 4, 16);
  b[11] = ((b[11] ?? 0) & 0x0f) | 0x40;
  b[12] = ((b[12] ?? 0) & 0x3f) | 0x80;
  return b;
}
