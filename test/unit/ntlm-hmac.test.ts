// NtlmSession computes HMAC-MD5 itself for short messages (the key's pads hashed once per session:
// createHmac costs more per call than the hashing of a typical PDU) and with node:crypto above
// 768 bytes. Its signatures must be node:crypto's HMAC-MD5 for every length, across MD5's block
// and padding boundaries and the switch-over.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { NegotiateFlag } from '../../service/auth/ntlm/constants.ts';
import { signKey } from '../../service/auth/ntlm/keys.ts';
import { NtlmSession } from '../../service/auth/ntlm/session.ts';
import { prng } from '../helpers/prng.ts';

describe('NtlmSession HMAC-MD5', () => {
  it('equals node:crypto for messages of 0 to 2,100 bytes (no key exchange: the checksum is the HMAC itself)', () => {
    const rand = prng(0x484d_4143);
    const key = Buffer.from(Array.from({ length: 16 }, () => Math.floor(rand() * 256)));
    const s = new NtlmSession(key, NegotiateFlag.EXTENDED_SESSIONSECURITY | NegotiateFlag.SIGN | NegotiateFlag.NEGOTIATE_128);
    const sk = signKey(key, 'server-to-client');
    for (let len = 0; len <= 2100; len++) {
      const msg = Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)));
      const seq = Buffer.alloc(4);
      seq.writeUInt32LE(len);
      const expected = crypto.createHmac('md5', sk).update(seq).update(msg).digest().subarray(0, 8);
      const sig = s.sign(msg);
      assert.equal(sig.subarray(4, 12).toString('hex'), expected.toString('hex'), `length ${len}`);
      assert.equal(sig.readUInt32LE(12), len);
    }
  });
});
