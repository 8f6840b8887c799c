// Golden-byte tests for bugs the round-trip properties (test/unit/properties-*.test.ts) found, one
// per bug, so each stays fixed even if a property's generator changes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { summarizeApReq } from '../../service/auth/krb5/ap-req.ts';
import { decodeOid, der, encodeOid, tlv } from '../../service/auth/spnego/der.ts';
import { parseFragment, PType } from '../../service/rpc/pdu.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('regressions found by the properties', () => {
  it('parseFragment: a shutdown whose auth_length cannot fit (parsePdu ignores it there) gives a layout without auth, not a RangeError', () => {
    // rpc_vers 5.0, ptype 17 (shutdown), flags 0, drep LE, frag_length 16, auth_length 11, call_id 0.
    const shutdown = hex('05001100 10000000 10000b00 00000000');
    const { pdu, layout } = parseFragment(shutdown);
    assert.equal(pdu.ptype, PType.SHUTDOWN);
    assert.deepEqual(layout, { bytes: shutdown, stubStart: 16, padStart: 16, trailerStart: 16, authStart: 16 });
    // A fault with an auth_length that does fit: still no auth layout, as parsePdu read none.
    const fault = hex('05000300 10000000 28000800 07000000 00000000 00000000 05000000 00000000 0000 0000 00000000');
    assert.equal(parseFragment(fault).layout.padStart, fault.length);
  });

  it('encodeOid: an OID whose first subidentifier (2 * 40 + second arc) passes 2^53 is refused, not encoded as another OID', () => {
    // 80 + 9007199254740991 rounds to 2^53 + 80: the bytes 90 80 80 80 80 80 80 50 were written before.
    assert.throws(() => encodeOid('2.9007199254740991'), RangeError);
    assert.throws(() => encodeOid('2.9007199254740912'), RangeError);
    // The largest second arc that fits, and any later arc up to 2^53 - 1, still round-trip.
    assert.deepEqual(encodeOid('2.9007199254740911'), Buffer.from('8fffffffffffff7f', 'hex'));
    assert.equal(decodeOid(encodeOid('1.2.9007199254740991')), '1.2.9007199254740991');
  });

  it('summarizeApReq: a kvno from 2^31 up (UInt32, five DER octets) is read, not the whole summary lost', () => {
    const int = (hex: string): Buffer => tlv(0x02, Buffer.from(hex, 'hex'));
    const apReq = (kvno: string): Buffer => {
      const enc = der.sequence([der.context(0, int('12')), der.context(1, int(kvno)), der.context(2, der.octetString(Buffer.alloc(4)))]);
      const sname = der.sequence([der.context(0, int('02')), der.context(1, der.sequence([der.generalString('cifs'), der.generalString('filesrv')]))]);
      const ticket = tlv(0x61, der.sequence([der.context(0, int('05')), der.context(1, der.generalString('WITNESS.TEST')), der.context(2, sname), der.context(3, enc)]));
      return tlv(0x6e, der.sequence([der.context(0, int('05')), der.context(1, int('0e')), der.context(2, der.bitString(Buffer.alloc(5))), der.context(3, ticket), der.context(4, der.sequence([]))]));
    };
    assert.equal(summarizeApReq(apReq('0080000001'))?.kvno, 0x80000001);
    assert.equal(summarizeApReq(apReq('00ffffffff'))?.kvno, 0xffffffff);
    assert.equal(summarizeApReq(apReq('7fffffff'))?.kvno, 0x7fffffff);
    assert.equal(summarizeApReq(apReq('02'))?.service, 'cifs/filesrv@WITNESS.TEST');
  });
});
