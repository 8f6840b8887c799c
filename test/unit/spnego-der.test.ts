// The DER reader and writer: shortest definite lengths only, bounded nesting, OIDs both ways.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SecurityError } from '../../service/auth/context.ts';
import { DerReader, MAX_DEPTH, Tag, checkDer, decodeInteger, decodeOid, der, encodeInteger, encodeOid, tlv } from '../../service/auth/spnego/der.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function refuses(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof SecurityError, `not a SecurityError: ${String(e)}`);
    assert.equal(e.code, 'malformed');
    assert.match(e.message, pattern);
    return true;
  });
}

const readOne = (b: Buffer): Buffer => {
  const r = new DerReader(b);
  const el = r.read();
  r.expectEnd('the element');
  return el.value;
};

describe('DER lengths', () => {
  it('reads the short form and the shortest long forms', () => {
    assert.equal(readOne(hex('04 00')).length, 0);
    assert.equal(readOne(hex('04 7f' + '00'.repeat(127))).length, 127);
    assert.equal(readOne(Buffer.concat([hex('04 81 80'), Buffer.alloc(128)])).length, 128);
    assert.equal(readOne(Buffer.concat([hex('04 82 01 00'), Buffer.alloc(256)])).length, 256);
  });
  it('writes the shortest form, and reads back what it writes', () => {
    for (const n of [0, 1, 127, 128, 255, 256, 65535, 65536, 70000]) {
      const b = tlv(Tag.OCTET_STRING, Buffer.alloc(n, 7));
      const headerLen = n < 128 ? 2 : n < 256 ? 3 : n < 65536 ? 4 : 5;
      assert.equal(b.length, headerLen + n, `length ${n}`);
      assert.equal(readOne(b).length, n);
    }
  });
  it('refuses the indefinite form', () => {
    refuses(() => readOne(hex('30 80 04 00 00 00')), /indefinite length/);
  });
  it('refuses the long form below 128 and leading zero octets', () => {
    refuses(() => readOne(hex('04 81 05 0102030405')), /long form for a length below 128/);
    refuses(() => readOne(Buffer.concat([hex('04 82 00 80'), Buffer.alloc(128)])), /leading zero octet/);
  });
  it('refuses more than 4 length octets and the reserved 0xff', () => {
    refuses(() => readOne(hex('04 85 0000000001 00')), /5-octet length/);
    refuses(() => readOne(hex('04 ff')), /127-octet length/);
  });
  it('refuses a length pointing past the end, without allocating it', () => {
    refuses(() => readOne(hex('04 05 010203')), /claims 5 octets, only 3 remain/);
    refuses(() => readOne(hex('04 84 7fffffff 00')), /claims 2147483647 octets, only 1 remain/);
    // An inner length may not reach past its parent either, even when the buffer goes on.
    const outer = new DerReader(hex('30 03 04 05 01 0203040506'));
    const seq = outer.read('outer');
    refuses(() => outer.enter(seq, 'outer').read('inner'), /claims 5 octets, only 1 remain/);
  });
  it('refuses truncation in the identifier or length octets', () => {
    refuses(() => readOne(hex('04')), /truncated in its length/);
    refuses(() => readOne(hex('04 82 01')), /truncated in its length/);
    refuses(() => new DerReader(Buffer.alloc(0)).read('token'), /token missing/);
  });
  it('refuses the high tag number form', () => {
    refuses(() => readOne(hex('1f 21 00')), /high tag number form/);
  });
  it('refuses trailing octets', () => {
    refuses(() => { checkDer(hex('04 01 00 00'), 'token'); }, /1 unexpected octets/);
  });
});

describe('DER nesting', () => {
  const nest = (depth: number): Buffer => {
    let b = der.octetString(Buffer.from('x'));
    for (let i = 0; i < depth; i++) b = der.sequence([b]);
    return b;
  };
  it(`accepts ${MAX_DEPTH} levels and refuses one more`, () => {
    checkDer(nest(MAX_DEPTH), 'token');
    refuses(() => { checkDer(nest(MAX_DEPTH + 1), 'token'); }, new RegExp(`nested deeper than ${MAX_DEPTH} levels`));
  });
  it('refuses 100,000 levels without recursion, quickly', () => {
    // Headers computed from the inside out, so the test itself stays linear.
    const inner = der.octetString(Buffer.from('x'));
    const lengthOctets = (n: number): number[] => {
      if (n < 128) return [n];
      const o: number[] = [];
      for (let v = n; v > 0; v = Math.floor(v / 256)) o.unshift(v % 256);
      return [0x80 | o.length, ...o];
    };
    const headers: Buffer[] = [];
    let size = inner.length;
    for (let i = 0; i < 100_000; i++) {
      const h = Buffer.from([Tag.SEQUENCE, ...lengthOctets(size)]);
      headers.push(h);
      size += h.length;
    }
    const deep = Buffer.concat([...headers.reverse(), inner]);
    const t0 = Date.now();
    refuses(() => { checkDer(deep, 'token'); }, /nested deeper/);
    assert.ok(Date.now() - t0 < 1000);
  });
  it('checks primitive contents are not descended into', () => {
    // An OCTET STRING holding bytes that would be a bad encoding is fine: it is opaque.
    checkDer(der.sequence([der.octetString(hex('30 80 ff ff'))]), 'token');
  });
  it('refuses to enter a primitive element', () => {
    const r = new DerReader(hex('04 02 30 00'));
    const el = r.read();
    refuses(() => r.enter(el, 'mechToken'), /not constructed/);
  });
});

describe('OBJECT IDENTIFIER', () => {
  const known: [string, string][] = [
    ['1.3.6.1.5.5.2', '2b0601050502'],
    ['1.3.6.1.4.1.311.2.2.10', '2b06010401823702020a'],
    ['1.3.6.1.4.1.311.2.2.30', '2b06010401823702021e'],
    ['1.2.840.113554.1.2.2', '2a864886f712010202'],
    ['1.2.840.48018.1.2.2', '2a864882f712010202'],
    ['2.999.3', '883703'],
    ['0.0', '00'],
  ];
  it('encodes and decodes the mechanisms SPNEGO meets', () => {
    for (const [oid, enc] of known) {
      assert.equal(encodeOid(oid).toString('hex'), enc, oid);
      assert.equal(decodeOid(Buffer.from(enc, 'hex')), oid, oid);
    }
  });
  it('round-trips large arcs up to 2^53 - 1', () => {
    for (const oid of ['1.2.3.4294967295', `2.5.${Number.MAX_SAFE_INTEGER}`]) assert.equal(decodeOid(encodeOid(oid)), oid);
  });
  it('refuses empty, non-minimal, truncated and oversized encodings', () => {
    refuses(() => decodeOid(Buffer.alloc(0)), /empty OBJECT IDENTIFIER/);
    refuses(() => decodeOid(hex('2b 80 01')), /shortest form/);
    refuses(() => decodeOid(hex('2b 86')), /truncated/);
    refuses(() => decodeOid(hex('2b ffffffffffffffff7f')), /arc too large/);
  });
  it('encodeOid refuses what is not an OID', () => {
    for (const bad of ['', '1', '1.', '3.1', '1.40', '1.2.-3', '1.02', 'a.b']) assert.throws(() => encodeOid(bad), RangeError, bad);
  });
});

describe('INTEGER / ENUMERATED', () => {
  it('encodes minimally and decodes', () => {
    for (const [n, enc] of [[0, '00'], [3, '03'], [127, '7f'], [128, '0080'], [-1, 'ff'], [-129, 'ff7f'], [65536, '010000']] as const) {
      assert.equal(encodeInteger(n).toString('hex'), enc);
      assert.equal(decodeInteger(Buffer.from(enc, 'hex'), 'n'), n);
    }
  });
  it('refuses empty, non-minimal and long encodings', () => {
    refuses(() => decodeInteger(Buffer.alloc(0), 'negState'), /empty negState/);
    refuses(() => decodeInteger(hex('0001'), 'negState'), /shortest form/);
    refuses(() => decodeInteger(hex('ff80'), 'negState'), /shortest form/);
    refuses(() => decodeInteger(hex('0100000000'), 'negState'), /longer than 4 octets/);
  });
});

describe('DerReader fields', () => {
  it('expect and optional check identifiers', () => {
    const r = new DerReader(hex('a0 03 0a 01 01 a2 02 04 00'));
    assert.equal(r.optional(0xa1, '[1]'), null);
    const f0 = r.expect(0xa0, 'negState');
    assert.equal(f0.bytes.toString('hex'), 'a0030a0101');
    refuses(() => r.expect(0xa3, 'mechListMIC'), /expected mechListMIC \(\[3\]\), found \[2\]/);
    r.read();
    refuses(() => r.expect(0xa3, 'mechListMIC'), /mechListMIC missing/);
  });
});
