// The random pool behind NTLM server challenges and witness context handles: every byte handed
// out once (no two challenges alike across many refills of the 4 KB block), a request larger than
// the pool refused, and handles that are version 4 GUIDs in wire order.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInto } from '../../service/bytes/random-pool.ts';
import { newHandle } from '../../service/swn/handles.ts';
import { uuidFromWire } from '../../service/rpc/uuid.ts';

describe('random pool', () => {
  it('hands out fresh bytes across refills: 20,000 challenges of 8 bytes, all different', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(randomBytes(8).toString('hex'));
    assert.equal(seen.size, 20_000);
  });

  it('fills odd sizes straddling the end of the block, and refuses more than the block', () => {
    const dst = Buffer.alloc(4096 + 10);
    for (let i = 0; i < 50; i++) randomInto(dst, 3, 4000);
    assert.notEqual(dst.subarray(3, 4003).toString('hex'), Buffer.alloc(4000).toString('hex'));
    assert.equal(dst[0], 0);
    assert.equal(dst[4003], 0);
    assert.throws(() => { randomInto(dst, 0, 4097); }, /more than the pool holds/);
  });

  it('context handles: attributes 0, a version 4 variant 1 GUID, never the same twice', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const h = newHandle();
      assert.equal(h.length, 20);
      assert.equal(h.readUInt32LE(0), 0);
      const guid = uuidFromWire(h.subarray(4));
      assert.match(guid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(guid);
    }
    assert.equal(seen.size, 5000);
  });
});
