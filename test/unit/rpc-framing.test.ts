import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { DecodeError } from '../../service/bytes/decode-error.ts';
import { fragmentResponse, Reassembler } from '../../service/rpc/fragments.ts';
import { Deframer } from '../../service/rpc/framing.ts';
import { parsePdu, PFC, PType, serializePdu, type RequestPdu } from '../../service/rpc/pdu.ts';

const fixture = (name: string): Buffer => Buffer.from(fs.readFileSync(new URL(`../fixtures/rpc/${name}.hex`, import.meta.url), 'utf8').trim(), 'hex');
const frags = ['epm-bind-features', 'getinterfacelist-request-sealed', 'co-cancel', 'getinterfacelist-response-sealed', 'fault-cancel'].map(fixture);
const stream = Buffer.concat(frags);

describe('deframing', () => {
  it('gives back the same fragments whatever the split point, one or two cuts', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new Deframer(65535);
      const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      assert.deepEqual(got, frags, `cut at ${cut}`);
      assert.equal(d.bufferedBytes, 0);
    }
    for (let a = 0; a < stream.length; a += 7) {
      for (let b = a; b <= stream.length; b += 13) {
        const d = new Deframer(65535);
        const got = [...d.push(stream.subarray(0, a)), ...d.push(stream.subarray(a, b)), ...d.push(stream.subarray(b))];
        assert.equal(got.length, frags.length, `cuts at ${a}, ${b}`);
      }
    }
  });
  it('one byte at a time', () => {
    const d = new Deframer(65535);
    const got: Buffer[] = [];
    for (const byte of stream) got.push(...d.push(Buffer.from([byte])));
    assert.deepEqual(got, frags);
  });
  it('refuses a fragment over the limit, a short frag_length and a non-RPC stream before buffering them', () => {
    const big = Buffer.from(frags[3] ?? Buffer.alloc(0));
    assert.throws(() => new Deframer(1000).push(big.subarray(0, 16)), new DecodeError(`frag_length ${big.length} exceeds the 1000-byte limit`));
    const short = Buffer.from(frags[0] ?? Buffer.alloc(0));
    short.writeUInt16LE(8, 8);
    assert.throws(() => new Deframer(65535).push(short), new DecodeError('frag_length 8 is shorter than the header'));
    assert.throws(() => new Deframer(65535).push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), new DecodeError('not a DCE/RPC fragment: rpc_vers 71'));
  });
});

describe('fragmented calls', () => {
  const req = (flags: number, stub: string, callId = 5): RequestPdu => ({ ptype: PType.REQUEST, versionMinor: 0, flags, callId, allocHint: 0, contextId: 0, opnum: 4, object: null, stub: Buffer.from(stub), auth: null });
  it('reassembles a request from its fragments', () => {
    const r = new Reassembler(1024);
    assert.equal(r.push(req(PFC.FIRST_FRAG, 'abc')), null);
    assert.equal(r.push(req(0, 'def')), null);
    assert.equal(r.push(req(PFC.LAST_FRAG, 'g'))?.stub.toString(), 'abcdefg');
  });
  it('refuses oversized, orphan and interleaved fragments', () => {
    const r = new Reassembler(5);
    r.push(req(PFC.FIRST_FRAG, 'abc'));
    assert.throws(() => r.push(req(0, 'def')), new DecodeError('call 5: request larger than 5 bytes'));
    assert.throws(() => new Reassembler(99).push(req(PFC.LAST_FRAG, 'x', 9)), new DecodeError('call 9: a fragment without a first fragment'));
    const t = new Reassembler(99);
    t.push(req(PFC.FIRST_FRAG, 'a'));
    assert.throws(() => t.push({ ...req(PFC.LAST_FRAG, 'b'), opnum: 3 }), new DecodeError('call 5: fragments disagree on opnum or context'));
  });
  it('fragments a long response at max_xmit_frag and the pieces reassemble to the stub', () => {
    const stub = Buffer.from(Array.from({ length: 8852 }, (_, i) => i & 0xff)); // 16 interfaces
    const out = fragmentResponse(3, 0, stub, 2048);
    assert.ok(out.length > 1);
    const parts = out.map((f) => parsePdu(f));
    for (const f of out) assert.ok(f.length <= 2048);
    assert.equal(parts[0]?.flags, PFC.FIRST_FRAG);
    assert.equal(parts.at(-1)?.flags, PFC.LAST_FRAG);
    assert.deepEqual(Buffer.concat(parts.map((p) => (p.ptype === PType.RESPONSE ? p.stub : Buffer.alloc(0)))), stub);
    const single = fragmentResponse(3, 0, Buffer.alloc(10), 5840);
    assert.equal(single.length, 1);
    assert.equal(parsePdu(single[0] ?? Buffer.alloc(0)).flags, PFC.FIRST_FRAG | PFC.LAST_FRAG);
    assert.equal(serializePdu(parsePdu(single[0] ?? Buffer.alloc(0))).length, 34);
  });
});
