// Where NTLMSSP sessions keep their keys and RC4 states: fixed-size slots in shared slabs.
//
// A witness connection lives for days and tens of thousands of them are sealed at once. A session
// needs 640 bytes (two RC4 permutations, two sealing and signing keys, two pairs of HMAC pads);
// in an ArrayBuffer of its own that costs about 1.5 KB of RSS (the native backing store, its
// malloc overhead, the ArrayBuffer and two typed-array views), in a slot of a shared slab 640
// bytes. A slot goes back to its slab when the garbage collector has collected the session that
// held it (a FinalizationRegistry), so no code path can forget to release one and none can use a
// slot after its release: the session that used it is unreachable by then. Released slots are
// zeroed (the keys do not linger), and a slab whose slots are all free is dropped when another
// one has room.

/** Bytes of one session's state (service/auth/ntlm/session.ts lays them out). */
export const SLOT_BYTES = 640;
/** Slots per slab: 40 KB slabs. */
export const SLOTS_PER_SLAB = 64;

interface Slab {
  readonly index: number;
  readonly bytes: Uint8Array;
  readonly words: Int32Array;
  /** Free slot numbers (0 .. SLOTS_PER_SLAB-1). */
  readonly free: number[];
}

/** A slot: the slab's bytes and words, and where in them the slot starts. */
export interface Slot {
  readonly bytes: Uint8Array;
  readonly words: Int32Array;
  /** Byte offset of the slot in `bytes` (a multiple of 4, so also words[base / 4]). */
  readonly base: number;
  /** Names the slot for releaseSlot. */
  readonly id: number;
}

const slabs: (Slab | null)[] = [];
const unusedIndexes: number[] = [];
/** Slabs with at least one free slot; allocation takes from the last one. */
const open: Slab[] = [];

function newSlab(): Slab {
  const index = unusedIndexes.pop() ?? slabs.length;
  const bytes = new Uint8Array(SLOT_BYTES * SLOTS_PER_SLAB);
  const free: number[] = [];
  for (let s = SLOTS_PER_SLAB - 1; s >= 0; s--) free.push(s);
  const slab: Slab = { index, bytes, words: new Int32Array(bytes.buffer), free };
  slabs[index] = slab;
  return slab;
}

/** A zeroed slot. Pair with releaseSlot(id), or use sessionSlot, which releases when `owner` is collected. */
export function takeSlot(): Slot {
  let slab = open.at(-1);
  if (slab === undefined) {
    slab = newSlab();
    open.push(slab);
  }
  const s = slab.free.pop();
  if (s === undefined) throw new Error('session memory: an open slab has no free slot');
  if (slab.free.length === 0) open.pop();
  return { bytes: slab.bytes, words: slab.words, base: s * SLOT_BYTES, id: slab.index * SLOTS_PER_SLAB + s };
}

/** Gives a slot back (zeroed). Exported for the finalizer and for tests; sessions never call it. */
export function releaseSlot(id: number): void {
  const slab = slabs[Math.floor(id / SLOTS_PER_SLAB)];
  const s = id % SLOTS_PER_SLAB;
  if (!slab || slab.free.includes(s)) throw new Error(`session memory: slot ${id} is not in use`);
  slab.bytes.fill(0, s * SLOT_BYTES, (s + 1) * SLOT_BYTES);
  slab.free.push(s);
  if (slab.free.length === 1) open.push(slab);
  if (slab.free.length === SLOTS_PER_SLAB && open.length > 1) {
    open.splice(open.indexOf(slab), 1);
    slabs[slab.index] = null;
    unusedIndexes.push(slab.index);
  }
}

const finalizer = new FinalizationRegistry<number>(releaseSlot);

/** A slot that returns to its slab once `owner` has been garbage-collected. */
export function sessionSlot(owner: object): Slot {
  const slot = takeSlot();
  finalizer.register(owner, slot.id);
  return slot;
}

/**
 * Slabs allocated and slots in use (for tests and the status line).
 * @testOnly how many slab slots are in use, for the tests that prove slots return.
 */
export function slotUsage(): { slabs: number; used: number } {
  let n = 0;
  let used = 0;
  for (const slab of slabs) {
    if (!slab) continue;
    n++;
    used += SLOTS_PER_SLAB - slab.free.length;
  }
  return { slabs: n, used };
}
