// MS-NLMP §4.2 test vectors (protocol examples), NTLMv2 with extended session security and key
// exchange (§4.2.4). The values are copied from the specification's sections named at each test;
// the common inputs are those of §4.2.1.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ntHash } from '../../service/auth/crypto/md4.ts';
import { rc4Once } from '../../service/auth/crypto/rc4.ts';
import { SecurityError } from '../../service/auth/context.ts';
import { buildAvPairs } from '../../service/auth/ntlm/avpairs.ts';
import { AvId } from '../../service/auth/ntlm/constants.ts';
import { hmacMd5 } from '../../service/auth/crypto/md5.ts';
import { exportedSessionKey, keyExchangeKey, ntlmv2SessionBaseKey, ntowfv2, ntProofStr, sealKey, signKey } from '../../service/auth/ntlm/keys.ts';
import { NtlmSession } from '../../service/auth/ntlm/session.ts';
import { verifyNtlmv2WithNtHash } from '../../service/auth/ntlm/verify.ts';

const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const hex = (b: Buffer): string => b.toString('hex');

// §4.2.1 Common Values.
const USER = 'User';
const USER_DOM = 'Domain';
const PASSWD = 'Password';
const SERVER_NAME = 'Server';
const RANDOM_SESSION_KEY = h('55555555555555555555555555555555');
const TIME = h('0000000000000000');
const CLIENT_CHALLENGE = h('aaaaaaaaaaaaaaaa');
const SERVER_CHALLENGE = h('0123456789abcdef');
// §4.2.4 Challenge flags: 33 82 8a e2 (KEY_EXCH, 56, 128, VERSION, TARGET_INFO, ESS, TARGET_TYPE_SERVER, ALWAYS_SIGN, NTLM, SEAL, SIGN, OEM, UNICODE).
const FLAGS = 0xe28a8233;

// §4.2.4 target info: MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server", MsvAvEOL. The
// client's blob ("temp", §3.3.2) is 0x0101, Z(6), Time, ClientChallenge, Z(4), ServerName, Z(4).
const TARGET_INFO = buildAvPairs([
  { id: AvId.NB_DOMAIN_NAME, value: Buffer.from(USER_DOM, 'utf16le') },
  { id: AvId.NB_COMPUTER_NAME, value: Buffer.from(SERVER_NAME, 'utf16le') },
]);
const TEMP = Buffer.concat([h('0101000000000000'), TIME, CLIENT_CHALLENGE, h('00000000'), TARGET_INFO, h('00000000')]);

describe('MS-NLMP §4.2.4 NTLMv2 vectors', () => {
  const responseKeyNt = ntowfv2(ntHash(PASSWD), USER, USER_DOM);

  it('§4.2.4.1.1 NTOWFv2(): ResponseKeyNT', () => {
    assert.equal(hex(responseKeyNt), '0c868a403bfd7a93a3001ef22ef02e3f');
  });

  it('§4.2.4.2.1 LMv2 response (the LMOWFv2 key is the same as NTOWFv2)', () => {
    const lmv2 = Buffer.concat([hmacMd5(responseKeyNt, SERVER_CHALLENGE, CLIENT_CHALLENGE), CLIENT_CHALLENGE]);
    assert.equal(hex(lmv2), '86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa');
  });

  it('§4.2.4.2.2 NTLMv2 response: NTProofStr', () => {
    assert.equal(hex(ntProofStr(responseKeyNt, SERVER_CHALLENGE, TEMP)), '68cd0ab851e51c96aabc927bebef6a1c');
  });

  it('§4.2.4.1.2 Session Base Key, which is also the KeyExchangeKey (§3.4.5.1)', () => {
    const sbk = ntlmv2SessionBaseKey(responseKeyNt, ntProofStr(responseKeyNt, SERVER_CHALLENGE, TEMP));
    assert.equal(hex(sbk), '8de40ccadbc14a82f15cb0ad0de95ca3');
    const kx = keyExchangeKey({ ntlmv2: true, flags: FLAGS, sessionBaseKey: sbk, serverChallenge: SERVER_CHALLENGE, lmResponse: Buffer.alloc(24) });
    assert.equal(hex(kx), hex(sbk));
  });

  it('§4.2.4.2.3 Encrypted Session Key, decrypted back to the RandomSessionKey by key exchange', () => {
    const kx = h('8de40ccadbc14a82f15cb0ad0de95ca3');
    const encrypted = rc4Once(kx, RANDOM_SESSION_KEY);
    assert.equal(hex(encrypted), 'c5dad2544fc9799094ce1ce90bc9d03e');
    assert.equal(hex(exportedSessionKey(kx, FLAGS, encrypted)), hex(RANDOM_SESSION_KEY));
    assert.equal(hex(exportedSessionKey(kx, FLAGS & ~0x40000000, encrypted)), hex(kx), 'without KEY_EXCH the exported key is the KeyExchangeKey');
  });

  it('§4.2.4.4 SEALKEY and SIGNKEY (client-to-server)', () => {
    assert.equal(hex(sealKey(RANDOM_SESSION_KEY, FLAGS, 'client-to-server')), '59f600973cc4960a25480a7c196e4c58');
    assert.equal(hex(signKey(RANDOM_SESSION_KEY, 'client-to-server')), '4788dc861b4782f35d43fd98fe1a2d39');
  });

  it('§4.2.4.4 GSS_WrapEx example: the acceptor unseals the client\'s "Plaintext" and checks its signature', () => {
    const session = new NtlmSession(RANDOM_SESSION_KEY, FLAGS);
    const message = h('54e50165bf1936dc996020c1811b0f06fb5f');
    session.unseal(message, 0, message.length, h('01000000 7fb38ec5c55d4976 00000000'));
    assert.equal(message.toString('utf16le'), 'Plaintext');
    assert.equal(session.recvSeq, 1);
  });

  it('§4.2.4.4 checksum steps: HMAC_MD5(SigningKey, SeqNum || Message)[0..7], then RC4 with the sealing handle after the data', () => {
    const plaintext = Buffer.from('Plaintext', 'utf16le');
    const checksum = hmacMd5(h('4788dc861b4782f35d43fd98fe1a2d39'), h('00000000'), plaintext).subarray(0, 8);
    assert.equal(hex(checksum), '70352851f2564309');
    // The same RC4 handle seals the 18 data bytes, then encrypts the checksum.
    const stream = rc4Once(h('59f600973cc4960a25480a7c196e4c58'), Buffer.concat([plaintext, checksum]));
    assert.equal(hex(stream.subarray(0, 18)), '54e50165bf1936dc996020c1811b0f06fb5f');
    assert.equal(hex(stream.subarray(18)), '7fb38ec5c55d4976');
  });

  it('verifyNtlmv2WithNtHash: the §4.2.4 response gives the Session Base Key; any other password is a logon failure', () => {
    const check = {
      domain: USER_DOM,
      user: USER,
      workstation: 'COMPUTER',
      serverChallenge: SERVER_CHALLENGE,
      ntResponse: Buffer.concat([h('68cd0ab851e51c96aabc927bebef6a1c'), TEMP]),
      lmResponse: Buffer.alloc(24),
    };
    assert.equal(hex(verifyNtlmv2WithNtHash(ntHash(PASSWD), check)), '8de40ccadbc14a82f15cb0ad0de95ca3');
    // The user name is upper-cased by NTOWFv2, so its case does not matter; the domain's does.
    assert.equal(hex(verifyNtlmv2WithNtHash(ntHash(PASSWD), { ...check, user: 'uSER' })), '8de40ccadbc14a82f15cb0ad0de95ca3');
    const refused = (c: typeof check, hash = ntHash(PASSWD)): void => {
      assert.throws(() => verifyNtlmv2WithNtHash(hash, c), (e: unknown) => e instanceof SecurityError && e.code === 'logon-failure');
    };
    refused(check, ntHash('password'));
    refused({ ...check, domain: 'DOMAIN' });
    refused({ ...check, serverChallenge: h('0123456789abcdee') });
    refused({ ...check, ntResponse: Buffer.concat([h('68cd0ab851e51c96aabc927bebef6a1c'), TEMP.subarray(0, TEMP.length - 1)]) });
    refused({ ...check, ntResponse: Buffer.alloc(24) }, ntHash(PASSWD));
    refused(check, Buffer.alloc(15));
  });
});
