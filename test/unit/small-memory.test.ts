// The compact per-connection tables (service/rpc/small-collections.ts) behave as Map and Set do for
// what the RPC layer uses, and NTLMSSP session slots (service/auth/ntlm/session-memory.ts) are
// handed out, zeroed on release, reused, and whole slabs dropped when empty.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SmallMap, SmallSet } from '../../service/rpc/small-collections.ts';
import { releaseSlot, SLOT_BYTES, SLOTS_PER_SLAB, slotUsage, takeSlot, type Slot } from '../../service/auth/ntlm/session-memory.ts';
import { prng } from '../helpers/prng.ts';

describe('SmallMap and SmallSet', () => {
  it('agree with Map and Set over seeded random operations', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const next = prng(seed);
      const int = (n: number): number => Math.floor(next() * n);
      const small = new SmallMap<number, number>();
      const ref = new Map<number, number>();
      const sset = new SmallSet<number>();
      const rset = new Set<number>();
      for (let step = 0; step < 200; step++) {
        const k = int(4); // few keys: the one-entry and spilled forms both get exercised
        switch (int(5)) {
          case 0: case 1:
            small.set(k, step); ref.set(k, step); sset.add(k); rset.add(k);
            break;
          case 2:
            assert.equal(small.delete(k), ref.delete(k)); assert.equal(sset.delete(k), rset.delete(k));
            break;
          case 3:
            if (int(10) === 0) { small.clear(); ref.clear(); }
            break;
          default:
            assert.equal(small.get(k), ref.get(k)); assert.equal(small.has(k), ref.has(k)); assert.equal(sset.has(k), rset.has(k));
        }
        assert.equal(small.size, ref.size, `seed ${seed} step ${step}`);
        assert.deepEqual(small.keys(), [...ref.keys()]);
        assert.deepEqual(small.values(), [...ref.values()]);
        assert.equal(sset.size, rset.size);
        assert.deepEqual(sset.values(), [...rset]);
      }
    }
  });

  it('values() is a snapshot: deleting while iterating visits every entry once', () => {
    const m = new SmallMap<number, string>().set(1, 'a').set(2, 'b').set(3, 'c');
    const seen: string[] = [];
    for (const v of m.values()) { seen.push(v); m.clear(); }
    assert.deepEqual(seen, ['a', 'b', 'c']);
    assert.equal(m.size, 0);
  });
});

describe('NTLMSSP session slots', () => {
  it('hands out distinct zeroed slots, zeroes and reuses released ones, and drops an empty slab when another has room', () => {
    const before = slotUsage();
    const n = 3 * SLOTS_PER_SLAB + 5;
    const slots: Slot[] = [];
    for (let i = 0; i < n; i++) {
      const s = takeSlot();
      assert.ok(s.bytes.subarray(s.base, s.base + SLOT_BYTES).every((b) => b === 0), 'a new slot is zeroed');
      s.bytes.fill(0xaa, s.base, s.base + SLOT_BYTES);
      slots.push(s);
    }
    assert.equal(new Set(slots.map((s) => s.id)).size, n, 'no slot handed out twice');
    const used = slotUsage();
    assert.equal(used.used - before.used, n);
    // No two live slots overlap.
    for (const s of slots) assert.ok(s.bytes.subarray(s.base, s.base + SLOT_BYTES).every((b) => b === 0xaa));
    const first = slots[0];
    assert.ok(first);
    releaseSlot(first.id);
    assert.ok(first.bytes.subarray(first.base, first.base + SLOT_BYTES).every((b) => b === 0), 'released keys are wiped');
    assert.throws(() => { releaseSlot(first.id); }, /not in use/);
    const again = takeSlot();
    assert.equal(again.id, first.id, 'the freed slot is used first');
    slots[0] = again;
    for (const s of slots) releaseSlot(s.id);
    const after = slotUsage();
    assert.equal(after.used, before.used);
    assert.ok(after.slabs <= before.slabs + 1, `empty slabs are dropped (${after.slabs} slabs, ${before.slabs} before)`);
  });
});
