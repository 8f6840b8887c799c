// Golden vectors from real sessions (test/fixtures/ntlm/README.md): Samba 4.22's witness server and
// its clients, user swnuser, password Swn-Pass1. Our acceptor is put in the server's place: given
// the server challenge and timestamp Samba chose, it must answer the captured NEGOTIATE with
// Samba's CHALLENGE byte for byte, accept the captured AUTHENTICATE (whose MIC covers that
// CHALLENGE), verify and decrypt every request the client sent, and reproduce every response
// signature and ciphertext the server sent, in sequence.
//
// What the captures show (and these tests pin down):
// - the signature covers the whole PDU up to the auth_value: header, body, auth padding and
//   sec_trailer (frag_length - auth_length bytes), for NTLMSSP (auth_type 10) and SPNEGO (9);
// - sealing encrypts the stub AND the auth padding (everything between the 24-byte request /
//   response header and the sec_trailer), not the header or the sec_trailer;
// - one sequence number per direction, from 0, one per PDU: request n and its response both
//   carry n (one call at a time);
// - in SPNEGO sessions the mechListMICs use sequence number 0 of each direction; afterwards the
//   RC4 handles start afresh while the sequence numbers go on at 1 (NtlmAcceptor.resetCrypto).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SecurityError } from '../../service/auth/context.ts';
import { filetimeFromMs, msFromFiletime, parseAvPairs } from '../../service/auth/ntlm/avpairs.ts';
import { AvId, NegotiateFlag } from '../../service/auth/ntlm/constants.ts';
import { exportedSessionKey } from '../../service/auth/ntlm/keys.ts';
import { parseAuthenticate } from '../../service/auth/ntlm/messages.ts';
import { NtlmAcceptor } from '../../service/auth/ntlm/acceptor.ts';
import { verifyNtlmv2WithNtHash } from '../../service/auth/ntlm/verify.ts';
import { ntHash } from '../../service/auth/crypto/md4.ts';
import { ClientSession } from '../fixtures/ntlm/client.ts';
import { loadSession, pduParts, PTYPE, sessionTokens, type CapturedSession } from '../fixtures/ntlm/sessions.ts';
import { TableSource } from '../fixtures/ntlm/source.ts';

const PASSWORD = 'Swn-Pass1';
/** The verification trailer magic (MS-RPCE §2.2.2.13), which Samba's clients put at the start of their first request's stub. */
const VERIFICATION_TRAILER = '8ae3137102f43671';

function isSecurityError(code: SecurityError['code']) {
  return (e: unknown): boolean => e instanceof SecurityError && e.code === code;
}

/** An acceptor that will pick the server challenge and timestamp Samba picked in this session. */
function acceptorFor(s: CapturedSession, source = new TableSource({ swnuser: PASSWORD })): { acceptor: NtlmAcceptor; source: TableSource } {
  const { challenge } = sessionTokens(s);
  const serverChallenge = Buffer.from(challenge.subarray(24, 32));
  const ti = parseAvPairs(challenge, challenge.readUInt32LE(44), challenge.readUInt32LE(44) + challenge.readUInt16LE(40));
  const ts = ti.find((p) => p.id === AvId.TIMESTAMP)?.value;
  assert.ok(ts, 'captured CHALLENGE has MsvAvTimestamp');
  const ms = msFromFiletime(ts);
  assert.deepEqual(filetimeFromMs(ms), ts, 'timestamp survives ms conversion');
  const acceptor = new NtlmAcceptor({
    source,
    netbiosComputer: 'SWNPEER',
    netbiosDomain: 'SWNPEER',
    dnsComputer: '',
    dnsDomain: '',
    random: (n) => {
      assert.equal(n, 8);
      return Buffer.from(serverChallenge);
    },
    now: () => ms,
  });
  return { acceptor, source };
}

/** The client's view of the keys, computed independently of the acceptor (to decrypt what the server sent). */
function clientSessionFor(s: CapturedSession, firstSeq: number): ClientSession {
  const { challenge, authenticate } = sessionTokens(s);
  const a = parseAuthenticate(authenticate);
  const sbk = verifyNtlmv2WithNtHash(ntHash(PASSWORD), {
    domain: a.domain,
    user: a.user,
    workstation: a.workstation,
    serverChallenge: challenge.subarray(24, 32),
    ntResponse: a.ntResponse,
    lmResponse: a.lmResponse,
  });
  return new ClientSession(exportedSessionKey(sbk, a.flags, a.encryptedRandomSessionKey), a.flags, firstSeq);
}

async function authenticate(name: string): Promise<{ s: CapturedSession; acceptor: NtlmAcceptor }> {
  const s = loadSession(name);
  const t = sessionTokens(s);
  const { acceptor } = acceptorFor(s);
  const first = await acceptor.step(t.negotiate);
  assert.equal(first.complete, false);
  assert.equal(first.token?.toString('hex'), t.challenge.toString('hex'), 'our CHALLENGE is Samba\'s, byte for byte');
  const second = await acceptor.step(t.authenticate);
  assert.deepEqual(second, { token: null, complete: true });
  assert.equal(acceptor.complete, true);
  assert.equal(acceptor.clientSentMic, true, 'the client sent a MIC and it verified');
  return { s, acceptor };
}

/**
 * Replays every request and response of the session through the acceptor; returns what was
 * checked. `firstSeq`: 0 for NTLMSSP, 1 after SPNEGO's mechListMICs. `trailer`: the first request
 * starts with a verification trailer (Samba's clients send one with bind-time features).
 */
function replayCalls(s: CapturedSession, acceptor: NtlmAcceptor, firstSeq = 0, trailer = true): { requests: number; responses: number; sequence: number[] } {
  const client = clientSessionFor(s, firstSeq);
  let requests = 0;
  let responses = 0;
  const sequence: number[] = [];
  for (const p of s.pdus) {
    const parts = pduParts(p.bytes);
    if (parts.ptype !== PTYPE.REQUEST && parts.ptype !== PTYPE.RESPONSE) continue;
    assert.equal(parts.authLength, 16, `frame ${p.frame}: a 16-byte NTLMSSP signature`);
    sequence.push(parts.authValue.readUInt32LE(12));
    // The signed region: everything before the auth_value.
    const signedEnd = parts.fragLength - parts.authLength;
    const sealed = parts.authLevel === 6;
    if (p.from === 'client') {
      requests++;
      const pdu = Buffer.from(p.bytes);
      if (sealed) {
        acceptor.unwrap(pdu.subarray(0, signedEnd), parts.stubStart, parts.trailerStart, parts.authValue);
        assert.notDeepEqual(pdu, p.bytes, `frame ${p.frame}: the stub was decrypted in place`);
        if (requests === 1 && trailer) assert.equal(pdu.subarray(parts.stubStart, parts.stubStart + 8).toString('hex'), VERIFICATION_TRAILER);
        assert.deepEqual(pdu.subarray(parts.trailerStart - parts.authPadLength, parts.trailerStart), Buffer.alloc(parts.authPadLength), `frame ${p.frame}: auth padding decrypts to zeros`);
      } else {
        acceptor.verifyMic(pdu.subarray(0, signedEnd), parts.authValue);
        if (requests === 1 && trailer) assert.equal(pdu.subarray(parts.stubStart, parts.stubStart + 8).toString('hex'), VERIFICATION_TRAILER);
      }
    } else {
      responses++;
      if (sealed) {
        // Recover the plaintext as the client would, then seal it again as the server.
        const plain = Buffer.from(p.bytes.subarray(0, signedEnd));
        assert.ok(client.unseal(plain, parts.stubStart, parts.trailerStart, parts.authValue), `frame ${p.frame}: the client's view decrypts and verifies`);
        const signature = acceptor.wrap(plain, parts.stubStart, parts.trailerStart);
        assert.equal(plain.toString('hex'), p.bytes.subarray(0, signedEnd).toString('hex'), `frame ${p.frame}: our ciphertext is Samba's`);
        assert.equal(signature.toString('hex'), parts.authValue.toString('hex'), `frame ${p.frame}: our signature is Samba's`);
      } else {
        const signature = acceptor.getMic(Buffer.from(p.bytes.subarray(0, signedEnd)));
        assert.equal(signature.toString('hex'), parts.authValue.toString('hex'), `frame ${p.frame}: our signature is Samba's`);
      }
    }
  }
  return { requests, responses, sequence };
}

describe('captured plain NTLMSSP sessions (auth_type 10, rpcclient, AUTH3)', () => {
  it('03: integrity — CHALLENGE reproduced, MIC verified, 5 requests verified and 5 responses signed exactly', async () => {
    const { s, acceptor } = await authenticate('03-rpcclient-ntlmssp-sign');
    assert.deepEqual(acceptor.identity, { domain: 'SWNPEER', user: 'swnuser', workstation: 'SWNPEER', groups: [] });
    assert.equal(acceptor.negotiateFlags & NegotiateFlag.SEAL, 0);
    assert.notEqual(acceptor.negotiateFlags & NegotiateFlag.SIGN, 0);
    const r = replayCalls(s, acceptor);
    assert.deepEqual([r.requests, r.responses], [5, 5]);
    assert.deepEqual(r.sequence, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  });

  it('04: privacy — 5 requests decrypted and verified, 5 responses sealed to Samba\'s exact ciphertext and signature', async () => {
    const { s, acceptor } = await authenticate('04-rpcclient-ntlmssp-seal');
    assert.notEqual(acceptor.negotiateFlags & NegotiateFlag.SEAL, 0);
    const r = replayCalls(s, acceptor);
    assert.deepEqual([r.requests, r.responses], [5, 5]);
    assert.deepEqual(r.sequence, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  });

  it('05: packet level (auth_level 4) signs exactly like integrity', async () => {
    const { s, acceptor } = await authenticate('05-rpcclient-ntlmssp-packet');
    const r = replayCalls(s, acceptor, 0, false);
    assert.deepEqual([r.requests, r.responses], [1, 1]);
  });

  it('a captured request whose signature is replayed is refused (sequence number)', async () => {
    const { s, acceptor } = await authenticate('03-rpcclient-ntlmssp-sign');
    const req = s.pdus.find((p) => p.from === 'client' && pduParts(p.bytes).ptype === PTYPE.REQUEST);
    assert.ok(req);
    const parts = pduParts(req.bytes);
    const signed = req.bytes.subarray(0, parts.fragLength - parts.authLength);
    acceptor.verifyMic(signed, parts.authValue);
    assert.throws(() => { acceptor.verifyMic(signed, parts.authValue); }, isSecurityError('integrity'));
  });

  it('05: connect level (no SIGN): authenticates, but refuses to sign', async () => {
    const s = loadSession('05-rpcclient-ntlmssp-connect');
    const t = sessionTokens(s);
    const { acceptor } = acceptorFor(s);
    assert.equal((await acceptor.step(t.negotiate)).token?.toString('hex'), t.challenge.toString('hex'));
    assert.equal((await acceptor.step(t.authenticate)).complete, true);
    assert.equal(acceptor.clientSentMic, false, 'no MsvAvFlags MIC bit from this client');
    assert.equal(acceptor.identity?.user, 'swnuser');
    assert.equal(acceptor.canSign, false);
    assert.throws(() => acceptor.getMic(Buffer.alloc(10)), isSecurityError('policy'));
  });

  it('05: anonymous AUTHENTICATE completes with an empty identity and no session key', async () => {
    const s = loadSession('05-rpcclient-ntlmssp-anonymous');
    const t = sessionTokens(s);
    const { acceptor, source } = acceptorFor(s);
    await acceptor.step(t.negotiate);
    assert.deepEqual(await acceptor.step(t.authenticate), { token: null, complete: true });
    assert.equal(source.calls, 0, 'the credential source is not asked about anonymous');
    assert.equal(acceptor.isAnonymous, true);
    assert.deepEqual(acceptor.identity, { domain: '', user: '', workstation: 'SWNPEER', groups: [] });
    // Samba accepted this client's signed request; we refuse to sign or verify without a key.
    const req = s.pdus.find((p) => p.from === 'client' && pduParts(p.bytes).ptype === PTYPE.REQUEST);
    assert.ok(req);
    const parts = pduParts(req.bytes);
    assert.throws(() => { acceptor.verifyMic(req.bytes.subarray(0, parts.fragLength - 16), parts.authValue); }, isSecurityError('policy'));
    assert.throws(() => acceptor.getMic(Buffer.alloc(24)), isSecurityError('policy'));
    assert.throws(() => acceptor.wrap(Buffer.alloc(48), 24, 40), isSecurityError('policy'));
    assert.throws(() => { acceptor.resetCrypto(); }, isSecurityError('policy'));
  });

  it('05: the wrong password and an unknown user are logon failures', async () => {
    for (const name of ['05-rpcclient-ntlmssp-wrong-pass', '05-rpcclient-ntlmssp-no-user']) {
      const s = loadSession(name);
      const t = sessionTokens(s);
      const { acceptor } = acceptorFor(s);
      await acceptor.step(t.negotiate);
      await assert.rejects(acceptor.step(t.authenticate), isSecurityError('logon-failure'), name);
      assert.equal(acceptor.complete, false);
      assert.equal(acceptor.identity, null);
      await assert.rejects(acceptor.step(t.authenticate), isSecurityError('malformed'), 'a failed context takes no more tokens');
    }
  });
});

describe('captured SPNEGO sessions (auth_type 9, python3-samba, alter_context); NTLMSSP dug out of the DER', () => {
  async function spnego(name: string): Promise<{ s: CapturedSession; acceptor: NtlmAcceptor }> {
    const { s, acceptor } = await authenticate(name);
    const t = sessionTokens(s);
    assert.ok(t.mechTypeList && t.clientMechListMic && t.serverMechListMic);
    // The mechListMIC exchange SPNEGO does on top: client's first (seq 0), then ours (seq 0).
    acceptor.verifyMic(t.mechTypeList, t.clientMechListMic);
    assert.equal(acceptor.getMic(t.mechTypeList).toString('hex'), t.serverMechListMic.toString('hex'), 'our mechListMIC is Samba\'s');
    acceptor.resetCrypto();
    return { s, acceptor };
  }

  it('01: integrity — mechListMICs, then 5 requests and 5 responses with sequence numbers from 1', async () => {
    const { s, acceptor } = await spnego('01-python-spnego-sign');
    const r = replayCalls(s, acceptor, 1);
    assert.deepEqual([r.requests, r.responses], [5, 5]);
    assert.deepEqual(r.sequence, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
  });

  it('02: privacy — the same, sealed', async () => {
    const { s, acceptor } = await spnego('02-python-spnego-seal');
    const r = replayCalls(s, acceptor, 1);
    assert.deepEqual([r.requests, r.responses], [5, 5]);
    assert.deepEqual(r.sequence, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
  });

  it('05: another SPNEGO client\'s mechListMIC exchange', async () => {
    await spnego('05-spnego-integrity-alter');
  });

  it('without resetCrypto after the mechListMICs, the first request does not verify', async () => {
    const { s, acceptor } = await authenticate('01-python-spnego-sign');
    const t = sessionTokens(s);
    assert.ok(t.mechTypeList && t.clientMechListMic);
    acceptor.verifyMic(t.mechTypeList, t.clientMechListMic);
    acceptor.getMic(t.mechTypeList);
    assert.throws(() => replayCalls(s, acceptor, 1), isSecurityError('integrity'));
  });
});
