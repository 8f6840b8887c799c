// MD4 and RC4 (service/auth/crypto), our own because OpenSSL 3's default provider has neither.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { md4, ntHash } from '../../service/auth/crypto/md4.ts';
import { Rc4, rc4Once } from '../../service/auth/crypto/rc4.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('MD4', () => {
  it('matches the RFC 1320 §A.5 test suite', () => {
    const suite: [string, string][] = [
      ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
      ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
      ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
      ['message digest', 'd9130a8164549fe818874806e1c7014b'],
      ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
      ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
      ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', 'e33b4ddc9c38f2199c3e7b164fcc0536'],
    ];
    for (const [input, digest] of suite) assert.equal(hex(md4(Buffer.from(input, 'latin1'))), digest, JSON.stringify(input));
  });

  it('pads correctly around the 56-byte boundary (one and two blocks)', () => {
    // 55 bytes fit one block with the length; 56..63 need a second block. Both must differ and be stable.
    const digests = new Set<string>();
    for (let n = 54; n <= 65; n++) digests.add(hex(md4(Buffer.alloc(n, 0x61))));
    assert.equal(digests.size, 12);
  });

  it('ntHash("Password") is NTOWFv1 of MS-NLMP §4.2.2.1.2', () => {
    assert.equal(hex(ntHash('Password')), 'a4f49c406510bdcab6824ee7c30fd852');
  });

  it('ntHash encodes the password as UTF-16LE (the captures\' Swn-Pass1 and a non-ASCII one)', () => {
    assert.equal(hex(ntHash('Swn-Pass1')), hex(md4(Buffer.from('Swn-Pass1', 'utf16le'))));
    assert.equal(hex(ntHash('pässwörd')), hex(md4(Buffer.from([0x70, 0, 0xe4, 0, 0x73, 0, 0x73, 0, 0x77, 0, 0xf6, 0, 0x72, 0, 0x64, 0]))));
  });
});

describe('RC4', () => {
  it('matches RFC 6229 keystreams (40-bit and 128-bit keys, offsets 0 and 16)', () => {
    const zeros = Buffer.alloc(32);
    assert.equal(hex(rc4Once(Buffer.from('0102030405', 'hex'), zeros)), 'b2396305f03dc027ccc3524a0a1118a8' + '6982944f18fc82d589c403a47a0d0919');
    assert.equal(hex(rc4Once(Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex'), zeros)), '9ac7cc9a609d1ef7b2932899cde41b97' + '5248c4959014126a6e8a84f11d1a9e1c');
  });

  it('matches the classic ARCFOUR examples', () => {
    assert.equal(hex(rc4Once(Buffer.from('Key'), Buffer.from('Plaintext'))), 'bbf316e8d940af0ad3');
    assert.equal(hex(rc4Once(Buffer.from('Wiki'), Buffer.from('pedia'))), '1021bf0420');
    assert.equal(hex(rc4Once(Buffer.from('Secret'), Buffer.from('Attack at dawn'))), '45a01f645fc35b383552544b9bf5');
  });

  it('keeps one continuous keystream across update calls, in place', () => {
    const key = Buffer.from('0102030405', 'hex');
    const whole = rc4Once(key, Buffer.alloc(40));
    const r = new Rc4(key);
    const a = Buffer.alloc(7);
    const same = r.update(a);
    assert.equal(same, a, 'update returns the buffer it was given');
    const b = r.update(Buffer.alloc(33));
    assert.equal(hex(Buffer.concat([a, b])), hex(whole));
  });

  it('transform leaves its input alone; decrypting is encrypting again', () => {
    const key = Buffer.from('secret key');
    const plain = Buffer.from('attack at dawn');
    const copy = Buffer.from(plain);
    const cipher = new Rc4(key).transform(plain);
    assert.deepEqual(plain, copy);
    assert.deepEqual(new Rc4(key).update(cipher), plain);
  });

  it('refuses empty and oversized keys', () => {
    assert.throws(() => new Rc4(Buffer.alloc(0)), RangeError);
    assert.throws(() => new Rc4(Buffer.alloc(257)), RangeError);
  });
});
