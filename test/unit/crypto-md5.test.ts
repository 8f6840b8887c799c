// crypto/md5.ts's MD5 and HMAC-MD5 must be node:crypto's for every input: lengths across MD5's
// block and padding boundaries, inputs given in several parts (split anywhere), keys shorter than,
// as long as and longer than a block (RFC 2104 hashes those first), and the RFC 1321 / RFC 2202
// test vectors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fc from 'fast-check';
import { hmacMd5, md5 } from '../../service/auth/crypto/md5.ts';
import { prng } from '../helpers/prng.ts';

const nodeMd5 = (...parts: Uint8Array[]): string => parts.reduce((h, p) => h.update(p), crypto.createHash('md5')).digest('hex');
const nodeHmac = (key: Uint8Array, ...parts: Uint8Array[]): string => parts.reduce((h, p) => h.update(p), crypto.createHmac('md5', key)).digest('hex');

describe('crypto/md5', () => {
  it('RFC 1321 §A.5 test suite', () => {
    const suite: [string, string][] = [
      ['', 'd41d8cd98f00b204e9800998ecf8427e'],
      ['a', '0cc175b9c0f1b6a831c399e269772661'],
      ['abc', '900150983cd24fb0d6963f7d28e17f72'],
      ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
      ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
      ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'd174ab98d277d9f5a5611c2c9f419d9f'],
      ['1234567890'.repeat(8), '57edf4a22be3c955ac49da2e2107b67a'],
    ];
    for (const [text, hex] of suite) assert.equal(md5(Buffer.from(text, 'latin1')).toString('hex'), hex, JSON.stringify(text));
  });

  it('RFC 2202 §2 HMAC-MD5 test cases 1, 2, 6 and 7 (keys of 16, 4 and 80 bytes)', () => {
    const cases: [Buffer, Buffer, string][] = [
      [Buffer.alloc(16, 0x0b), Buffer.from('Hi There'), '9294727a3638bb1c13f48ef8158bfc9d'],
      [Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'), '750c783e6ab0b503eaa86e310a5db738'],
      [Buffer.alloc(80, 0xaa), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First'), '6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd'],
      [Buffer.alloc(80, 0xaa), Buffer.from('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data'), '6f630fad67cda0ee1fb1f562db3aa53e'],
    ];
    for (const [key, data, hex] of cases) assert.equal(hmacMd5(key, data).toString('hex'), hex);
  });

  it('equals node:crypto for every length from 0 to 300 bytes, whole and in three parts', () => {
    const rand = prng(0x6d64_3521);
    const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    const key = bytes(16);
    for (let len = 0; len <= 300; len++) {
      const m = bytes(len);
      const a = Math.floor(rand() * (len + 1));
      const b = a + Math.floor(rand() * (len - a + 1));
      const parts = [m.subarray(0, a), m.subarray(a, b), m.subarray(b)];
      assert.equal(md5(m).toString('hex'), nodeMd5(m), `md5, length ${len}`);
      assert.equal(md5(...parts).toString('hex'), nodeMd5(m), `md5 in parts ${a}/${b}, length ${len}`);
      assert.equal(hmacMd5(key, ...parts).toString('hex'), nodeHmac(key, m), `hmac in parts ${a}/${b}, length ${len}`);
    }
  });

  it('property: any key and any parts give node:crypto\'s HMAC-MD5 and MD5', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 150 }), fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 5 }), (key, parts) => {
        assert.equal(hmacMd5(key, ...parts).toString('hex'), nodeHmac(key, ...parts));
        assert.equal(md5(...parts).toString('hex'), nodeMd5(...parts));
      }),
      { seed: 0x6d35, numRuns: 400 },
    );
  });
});
