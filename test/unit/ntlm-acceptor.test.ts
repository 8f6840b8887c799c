// NtlmAcceptor against a test NTLMSSP client (test/fixtures/ntlm/client.ts): the flags it grants,
// the state machine, protection round trips, and every refusal with its SecurityError code.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SecurityError, type SecurityErrorCode } from '../../service/auth/context.ts';
import type { NtlmCredentialSource } from '../../service/auth/credentials.ts';
import { msFromFiletime, parseAvPairs } from '../../service/auth/ntlm/avpairs.ts';
import { AvId, NegotiateFlag as F } from '../../service/auth/ntlm/constants.ts';
import { NtlmAcceptor, type NtlmAcceptorOptions } from '../../service/auth/ntlm/acceptor.ts';
import { authenticateMessage, ClientSession, CLIENT_SEAL_FLAGS, CLIENT_SIGN_FLAGS, negotiateMessage, readChallenge, type AuthenticateOptions } from '../fixtures/ntlm/client.ts';
import { TableSource } from '../fixtures/ntlm/source.ts';

const NOW = Date.UTC(2026, 10, 24, 5, 49, 52) + 0.5;
const CHALLENGE = Buffer.from('0011223344556677', 'hex');

function refusedWith(code: SecurityErrorCode, pattern?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof SecurityError, `a SecurityError, not ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

function makeAcceptor(over: Partial<NtlmAcceptorOptions> = {}): { acceptor: NtlmAcceptor; source: TableSource } {
  const source = new TableSource({ alice: 'Secret-1', swnuser: 'Swn-Pass1' }, 'WITNESS1');
  const acceptor = new NtlmAcceptor({
    source,
    netbiosComputer: 'WITNESS1',
    netbiosDomain: 'WITNESS1',
    dnsComputer: 'witness1.example.test',
    dnsDomain: 'example.test',
    now: () => NOW,
    random: (n) => Buffer.from(CHALLENGE.subarray(0, n)),
    ...over,
  });
  return { acceptor, source };
}

/** NEGOTIATE → CHALLENGE on a fresh acceptor; returns what the client needs for AUTHENTICATE. */
async function challenged(flags = CLIENT_SIGN_FLAGS, over: Partial<NtlmAcceptorOptions> = {}) {
  const { acceptor, source } = makeAcceptor(over);
  const negotiate = negotiateMessage(flags);
  const r = await acceptor.step(negotiate);
  assert.equal(r.complete, false);
  assert.ok(r.token);
  return { acceptor, source, negotiate, challenge: r.token };
}

async function established(flags = CLIENT_SIGN_FLAGS, auth: Partial<AuthenticateOptions> = {}) {
  const c = await challenged(flags);
  const a = authenticateMessage({ negotiate: c.negotiate, challenge: c.challenge, user: 'alice', domain: 'WITNESS1', password: 'Secret-1', ...auth });
  const r = await c.acceptor.step(a.message);
  assert.deepEqual(r, { token: null, complete: true });
  return { ...c, client: new ClientSession(a.exportedSessionKey, a.flags) };
}

describe('NtlmAcceptor: CHALLENGE', () => {
  it('grants what rpcclient asks for, plus TARGET_INFO and the target type (as Samba does)', async () => {
    assert.equal(readChallenge((await challenged(CLIENT_SIGN_FLAGS)).challenge).flags, 0x628a8215);
    assert.equal(readChallenge((await challenged(CLIENT_SEAL_FLAGS)).challenge).flags, 0x628a8235);
  });

  it('carries the server challenge, TargetName and the target info with MsvAvTimestamp from now()', async () => {
    const { challenge } = await challenged();
    const ch = readChallenge(challenge);
    assert.deepEqual(ch.serverChallenge, CHALLENGE);
    assert.equal(challenge.subarray(challenge.readUInt32LE(16), challenge.readUInt32LE(16) + challenge.readUInt16LE(12)).toString('utf16le'), 'WITNESS1');
    const text = (id: number): string | undefined => ch.targetInfo.find((p) => p.id === id)?.value.toString('utf16le');
    assert.deepEqual(ch.targetInfo.map((p) => p.id), [AvId.NB_DOMAIN_NAME, AvId.NB_COMPUTER_NAME, AvId.DNS_DOMAIN_NAME, AvId.DNS_COMPUTER_NAME, AvId.TIMESTAMP]);
    assert.equal(text(AvId.NB_COMPUTER_NAME), 'WITNESS1');
    assert.equal(text(AvId.DNS_COMPUTER_NAME), 'witness1.example.test');
    assert.equal(text(AvId.DNS_DOMAIN_NAME), 'example.test');
    const ts = ch.targetInfo.find((p) => p.id === AvId.TIMESTAMP)?.value;
    assert.ok(ts);
    assert.equal(msFromFiletime(ts), NOW);
    assert.deepEqual(challenge.subarray(48, 56), Buffer.from([6, 1, 0, 0, 0, 0, 0, 15]), 'Version');
  });

  it('a domain member names its domain (TARGET_TYPE_DOMAIN)', async () => {
    const { challenge } = await challenged(CLIENT_SIGN_FLAGS, { netbiosDomain: 'EXAMPLE' });
    const flags = readChallenge(challenge).flags;
    assert.equal(flags & (F.TARGET_TYPE_DOMAIN | F.TARGET_TYPE_SERVER), F.TARGET_TYPE_DOMAIN);
    assert.equal(challenge.subarray(56, 56 + challenge.readUInt16LE(12)).toString('utf16le'), 'EXAMPLE');
  });

  it('echoes only what was asked and never grants LM_KEY, DATAGRAM, IDENTIFY or a non-NT session key', async () => {
    const asked = F.UNICODE | F.NTLM | F.LM_KEY | F.DATAGRAM | F.IDENTIFY | F.REQUEST_NON_NT_SESSION_KEY | F.ANONYMOUS;
    const flags = readChallenge((await challenged(asked)).challenge).flags;
    assert.equal(flags, F.UNICODE | F.NTLM | F.TARGET_INFO, `got 0x${flags.toString(16)}`);
    const { challenge } = await challenged(asked);
    assert.equal(challenge.readUInt16LE(12), 0, 'no TargetName without REQUEST_TARGET');
    assert.deepEqual(challenge.subarray(48, 56), Buffer.alloc(8), 'Version zeros without NEGOTIATE_VERSION');
  });

  it('refuses clients without Unicode, and signing/sealing without extended session security or 128-bit keys', async () => {
    await assert.rejects(makeAcceptor().acceptor.step(negotiateMessage(F.OEM | F.NTLM)), refusedWith('policy', /Unicode/));
    await assert.rejects(makeAcceptor().acceptor.step(negotiateMessage(CLIENT_SIGN_FLAGS & ~F.EXTENDED_SESSIONSECURITY)), refusedWith('policy', /extended session security/));
    await assert.rejects(makeAcceptor().acceptor.step(negotiateMessage(CLIENT_SEAL_FLAGS & ~F.NEGOTIATE_128)), refusedWith('policy', /128-bit/));
  });
});

describe('NtlmAcceptor: state machine', () => {
  it('AUTHENTICATE first, a second NEGOTIATE, a CHALLENGE from the client, anything after completion: malformed', async () => {
    const c = await challenged();
    const a = authenticateMessage({ negotiate: c.negotiate, challenge: c.challenge, user: 'alice', domain: '', password: 'Secret-1' });
    await assert.rejects(makeAcceptor().acceptor.step(a.message), refusedWith('malformed', /before NEGOTIATE/));
    const again = await challenged();
    await assert.rejects(again.acceptor.step(again.negotiate), refusedWith('malformed', /where AUTHENTICATE was expected/));
    const bad = await challenged();
    await assert.rejects(bad.acceptor.step(bad.challenge), refusedWith('malformed'));
    await c.acceptor.step(a.message);
    assert.equal(c.acceptor.complete, true);
    await assert.rejects(c.acceptor.step(a.message), refusedWith('malformed', /after the context was complete/));
    await assert.rejects(c.acceptor.step(c.negotiate), refusedWith('malformed'));
    assert.equal(c.acceptor.complete, true, 'a stray token does not undo a complete context');
  });

  it('not an NTLMSSP token, or a short one: malformed', async () => {
    await assert.rejects(makeAcceptor().acceptor.step(Buffer.from('hello world, not ntlm')), refusedWith('malformed', /signature/));
    await assert.rejects(makeAcceptor().acceptor.step(Buffer.alloc(0)), refusedWith('malformed'));
    await assert.rejects(makeAcceptor().acceptor.step(negotiateMessage(CLIENT_SIGN_FLAGS).subarray(0, 14)), refusedWith('malformed'));
    await assert.rejects(makeAcceptor().acceptor.step(Buffer.concat([negotiateMessage(CLIENT_SIGN_FLAGS), Buffer.alloc(2000)])), refusedWith('malformed', /exceeds/));
  });

  it('a token while AUTHENTICATE is still with the credential source: malformed', async () => {
    let release: () => void = () => undefined;
    const slow: NtlmCredentialSource = {
      name: 'slow',
      verify: async (check) => {
        await new Promise<void>((r) => (release = r));
        return new TableSource({ alice: 'Secret-1' }).verify(check);
      },
      close: () => Promise.resolve(),
    };
    const c = await challenged(CLIENT_SIGN_FLAGS, { source: slow });
    const a = authenticateMessage({ negotiate: c.negotiate, challenge: c.challenge, user: 'alice', domain: 'WITNESS1', password: 'Secret-1' });
    const pending = c.acceptor.step(a.message);
    await new Promise((r) => setImmediate(r));
    await assert.rejects(c.acceptor.step(a.message), refusedWith('malformed', /still being checked/));
    release();
    await assert.rejects(pending, refusedWith('malformed'), 'the interrupted exchange does not complete either');
  });

  it('protection calls before completion are malformed', () => {
    const { acceptor } = makeAcceptor();
    assert.throws(() => acceptor.getMic(Buffer.alloc(4)), refusedWith('malformed', /before the context is complete/));
    assert.throws(() => { acceptor.verifyMic(Buffer.alloc(4), Buffer.alloc(16)); }, refusedWith('malformed'));
    assert.throws(() => acceptor.wrap(Buffer.alloc(4), 0, 4), refusedWith('malformed'));
    assert.throws(() => { acceptor.unwrap(Buffer.alloc(4), 0, 4, Buffer.alloc(16)); }, refusedWith('malformed'));
  });
});

describe('NtlmAcceptor: authentication', () => {
  it('a good NTLMv2 AUTHENTICATE with MIC completes with the source\'s identity', async () => {
    const { acceptor, source } = await established();
    assert.equal(source.calls, 1);
    assert.deepEqual(acceptor.identity, { domain: 'WITNESS1', user: 'alice', workstation: 'CLIENT', groups: [] });
    assert.equal(acceptor.clientSentMic, true);
    assert.equal(acceptor.canSign, true);
    assert.equal(acceptor.mechanism, 'ntlmssp');
    assert.equal(acceptor.signatureSize, 16);
    assert.equal(acceptor.signsWholePdu, true);
  });

  it('without a MIC (no MsvAvFlags) and without key exchange it completes too', async () => {
    const { acceptor, client } = await established(CLIENT_SIGN_FLAGS & ~F.KEY_EXCH, { mic: false });
    assert.equal(acceptor.clientSentMic, false);
    const msg = Buffer.from('hello');
    acceptor.verifyMic(msg, client.sign(msg));
  });

  it('wrong password, unknown user: logon-failure from the credential source', async () => {
    for (const [user, password] of [['alice', 'secret-1'], ['bob', 'Secret-1']] as const) {
      const c = await challenged();
      const a = authenticateMessage({ negotiate: c.negotiate, challenge: c.challenge, user, domain: 'WITNESS1', password });
      await assert.rejects(c.acceptor.step(a.message), refusedWith('logon-failure'));
      assert.equal(c.acceptor.identity, null);
      assert.throws(() => c.acceptor.getMic(Buffer.alloc(1)), refusedWith('malformed'));
    }
  });

  it('NTLMv1 is refused by default without asking the source; allowed, the source decides', async () => {
    const c = await challenged();
    const a = authenticateMessage({ negotiate: c.negotiate, challenge: c.challenge, user: 'alice', domain: 'WITNESS1', password: 'Secret-1', ntlmv1: true });
    await assert.rejects(c.acceptor.step(a.message), refusedWith('policy', /NTLMv1/));
    assert.equal(c.source.calls, 0);
    const v1 = await challenged(CLIENT_SIGN_FLAGS, { allowNtlmV1: true });
    const b = authenticateMessage({ negotiate: v1.negotiate, challenge: v1.challenge, user: 'alice', domain: 'WITNESS1', password: 'Secret-1', ntlmv1: true });
    await assert.rejects(v1.acceptor.step(b.message), refusedWith('logon-failure')); // this source only knows NTLMv2
    assert.equal(v1.source.calls, 1);
  });

  it('an LM-only response is refused (policy), an empty user with a response is a logon failure', async () => {
    const c = await challenged();
    const a = authenticateMessage({ negotiate: c.negotiate, challenge: c.challenge, user: 'alice', domain: 'WITNESS1', password: 'Secret-1', mic: false });
    // Empty the NT response: Len 0 (the LM response stays, 24 bytes).
    const lmOnly = Buffer.from(a.message);
    lmOnly.writeUInt16LE(0, 20);
    await assert.rejects(c.acceptor.step(lmOnly), refusedWith('policy', /LM-only/));
    const d = await challenged();
    const e = authenticateMessage({ negotiate: d.negotiate, challenge: d.challenge, user: '', domain: 'WITNESS1', password: 'Secret-1' });
    await assert.rejects(d.acceptor.step(e.message), refusedWith('logon-failure', /empty user/));
  });

  it('a wrong MIC is an integrity failure, after the password checked out', async () => {
    const c = await challenged();
    const a = authenticateMessage({ negotiate: c.negotiate, challenge: c.challenge, user: 'alice', domain: 'WITNESS1', password: 'Secret-1', micOverride: Buffer.alloc(16, 7) });
    await assert.rejects(c.acceptor.step(a.message), refusedWith('integrity', /MIC/));
    assert.equal(c.source.calls, 1);
    // A MIC made over a different NEGOTIATE (a downgrade attempt) fails the same way.
    const d = await challenged();
    const b = authenticateMessage({ negotiate: negotiateMessage(CLIENT_SIGN_FLAGS & ~F.SIGN), challenge: d.challenge, user: 'alice', domain: 'WITNESS1', password: 'Secret-1' });
    await assert.rejects(d.acceptor.step(b.message), refusedWith('integrity'));
  });

  it('anonymous: completes with an empty identity, no key, and every protection call refused (policy)', async () => {
    const c = await challenged();
    const anon = Buffer.alloc(72);
    anon.write('NTLMSSP\0', 0, 'latin1');
    anon.writeUInt32LE(3, 8);
    for (let i = 0; i < 6; i++) anon.writeUInt32LE(72, 16 + i * 8);
    anon.writeUInt32LE(F.UNICODE | F.NTLM | F.ANONYMOUS | F.SIGN | F.VERSION, 60);
    const withZ1 = Buffer.concat([anon, Buffer.from([0])]);
    withZ1.writeUInt16LE(1, 12); // LmChallengeResponse = Z(1)
    withZ1.writeUInt16LE(1, 14);
    const r = await c.acceptor.step(withZ1);
    assert.equal(r.complete, true);
    assert.equal(c.source.calls, 0);
    assert.deepEqual(c.acceptor.identity, { domain: '', user: '', workstation: '', groups: [] });
    assert.equal(c.acceptor.isAnonymous, true);
    assert.equal(c.acceptor.canSign, false);
    assert.throws(() => c.acceptor.getMic(Buffer.alloc(8)), refusedWith('policy', /anonymous/));
    assert.throws(() => { c.acceptor.unwrap(Buffer.alloc(8), 0, 8, Buffer.alloc(16)); }, refusedWith('policy'));
  });

  it('a credential source that fails with a non-SecurityError, or returns a bad key: unavailable', async () => {
    const broken: NtlmCredentialSource = { name: 'broken', verify: () => Promise.reject(new Error('socket closed')), close: () => Promise.resolve() };
    const c = await challenged(CLIENT_SIGN_FLAGS, { source: broken });
    const a = authenticateMessage({ negotiate: c.negotiate, challenge: c.challenge, user: 'alice', domain: 'WITNESS1', password: 'Secret-1' });
    await assert.rejects(c.acceptor.step(a.message), refusedWith('unavailable', /broken failed: socket closed/));
    const shortKey: NtlmCredentialSource = {
      name: 'short',
      verify: (check) => Promise.resolve({ sessionBaseKey: Buffer.alloc(15), identity: { domain: 'D', user: check.user, workstation: '', groups: [] } }),
      close: () => Promise.resolve(),
    };
    const d = await challenged(CLIENT_SIGN_FLAGS, { source: shortKey });
    const b = authenticateMessage({ negotiate: d.negotiate, challenge: d.challenge, user: 'alice', domain: 'WITNESS1', password: 'Secret-1' });
    await assert.rejects(d.acceptor.step(b.message), refusedWith('unavailable', /15-byte/));
  });

  it('a random source that does not give 8 bytes: unavailable', async () => {
    const { acceptor } = makeAcceptor({ random: () => Buffer.alloc(4) });
    await assert.rejects(acceptor.step(negotiateMessage(CLIENT_SIGN_FLAGS)), refusedWith('unavailable'));
  });

  it('flags: the client cannot add SEAL in AUTHENTICATE; dropping extended session security with SIGN is refused', async () => {
    const { acceptor } = await established(CLIENT_SIGN_FLAGS, { flags: CLIENT_SIGN_FLAGS | F.SEAL });
    assert.equal(acceptor.negotiateFlags & F.SEAL, 0);
    assert.throws(() => acceptor.wrap(Buffer.alloc(40), 24, 40), refusedWith('policy', /sealing was not negotiated/));
    const c = await challenged();
    const a = authenticateMessage({ negotiate: c.negotiate, challenge: c.challenge, user: 'alice', domain: 'WITNESS1', password: 'Secret-1', flags: CLIENT_SIGN_FLAGS & ~F.EXTENDED_SESSIONSECURITY });
    await assert.rejects(c.acceptor.step(a.message), refusedWith('policy', /extended session security/));
  });
});

describe('NtlmAcceptor: AUTHENTICATE bounds', () => {
  async function good(): Promise<{ acceptor: NtlmAcceptor; message: Buffer }> {
    const c = await challenged();
    const a = authenticateMessage({ negotiate: c.negotiate, challenge: c.challenge, user: 'alice', domain: 'WITNESS1', password: 'Secret-1' });
    return { acceptor: c.acceptor, message: a.message };
  }
  // Header slots of the six fields: LM 12, NT 20, Domain 28, User 36, Workstation 44, Key 52 (Len at +0, Offset at +4).
  const LM = 12;
  const NT = 20;
  const DOMAIN = 28;
  const USER = 36;
  const KEY = 52;

  it('truncated anywhere: malformed', async () => {
    const { message } = await good();
    for (const cut of [11, 12, 40, 63, 64, 71, 80, 87, 88, 100, message.length - 1]) {
      const { acceptor } = await good();
      await assert.rejects(acceptor.step(message.subarray(0, cut)), refusedWith('malformed'), `cut at ${cut}`);
    }
  });

  it('a field past the end, into the fixed part or over the MIC, or overlapping another: malformed', async () => {
    const cases: [string, (m: Buffer) => void, RegExp][] = [
      ['NT past the end', (m) => m.writeUInt32LE(m.length - 10, NT + 4), /runs past/],
      ['user offset huge', (m) => m.writeUInt32LE(0xfffffff0, USER + 4), /runs past/],
      ['domain inside the header', (m) => m.writeUInt32LE(8, DOMAIN + 4), /fixed part/],
      ['user over the MIC', (m) => m.writeUInt32LE(76, USER + 4), /fixed part/],
      ['user overlapping the domain', (m) => m.writeUInt32LE(m.readUInt32LE(DOMAIN + 4) + 2, USER + 4), /overlaps/],
      ['LM response too long', (m) => m.writeUInt16LE(200, LM), /exceeds/],
      ['NT response too long', (m) => m.writeUInt16LE(5000, NT), /exceeds/],
      ['NT response too short for NTLMv2', (m) => m.writeUInt16LE(30, NT), /NTLMv2 response of 30 bytes is shorter/],
      ['NT response neither v1 nor v2', (m) => m.writeUInt16LE(20, NT), /neither NTLMv1 nor NTLMv2/],
      ['odd-length user name', (m) => m.writeUInt16LE(m.readUInt16LE(USER) - 1, USER), /odd length/],
      ['key exchange without a 16-byte key', (m) => m.writeUInt16LE(8, KEY), /EncryptedRandomSessionKey/],
      ['NTLMv2 blob of the wrong type', (m) => m.writeUInt8(2, m.readUInt32LE(NT + 4) + 16), /RespType/],
    ];
    for (const [name, mutate, pattern] of cases) {
      const { acceptor, message } = await good();
      const m = Buffer.from(message);
      mutate(m);
      await assert.rejects(acceptor.step(m), refusedWith('malformed', pattern), name);
    }
  });

  it('AV pairs in the NTLMv2 blob that run past it: malformed', async () => {
    const { acceptor, message } = await good();
    const m = Buffer.from(message);
    const blob = m.readUInt32LE(NT + 4) + 16;
    m.writeUInt16LE(0x7fff, blob + 28 + 2); // first AV pair's AvLen
    await assert.rejects(acceptor.step(m), refusedWith('malformed', /AV pair/));
  });

  it('empty fields may point anywhere (clients put odd offsets there)', async () => {
    const c = await challenged();
    const a = authenticateMessage({ negotiate: c.negotiate, challenge: c.challenge, user: 'alice', domain: '', password: 'Secret-1', mic: false });
    const m = Buffer.from(a.message);
    m.writeUInt32LE(0, DOMAIN + 4); // empty domain at offset 0
    assert.equal((await c.acceptor.step(m)).complete, true);
  });
});

describe('NtlmAcceptor: signing and sealing', () => {
  it('sign/verify round trip both ways, sequence numbers per direction', async () => {
    const { acceptor, client } = await established();
    for (let i = 0; i < 3; i++) {
      const req = Buffer.from(`request ${i}`);
      acceptor.verifyMic(req, client.sign(req));
      const resp = Buffer.from(`response ${i}`);
      const sig = acceptor.getMic(resp);
      assert.equal(sig.readUInt32LE(12), i);
      assert.ok(client.verify(resp, sig));
    }
  });

  it('seal/unseal round trip: [start, end) encrypted in place, the rest signed only', async () => {
    const { acceptor, client } = await established(CLIENT_SEAL_FLAGS);
    const pdu = Buffer.from('HEADER--' + 'secret stub data' + 'TRAILER');
    const plain = Buffer.from(pdu);
    const sig = client.seal(pdu, 8, 24);
    assert.deepEqual(pdu.subarray(0, 8), plain.subarray(0, 8));
    assert.notDeepEqual(pdu.subarray(8, 24), plain.subarray(8, 24));
    acceptor.unwrap(pdu, 8, 24, sig);
    assert.deepEqual(pdu, plain);
    const out = Buffer.from('HDR-response body-TRL');
    const outPlain = Buffer.from(out);
    const outSig = acceptor.wrap(out, 4, 17);
    assert.ok(client.unseal(out, 4, 17, outSig));
    assert.deepEqual(out, outPlain);
  });

  it('a flipped bit in the signature or in the signed header: integrity; afterwards the receive side is unusable', async () => {
    const { acceptor, client } = await established(CLIENT_SEAL_FLAGS);
    const pdu = Buffer.from('HEADER--' + 'secret stub data' + 'TRAILER');
    const sig = client.seal(pdu, 8, 24);
    const badSig = Buffer.from(sig);
    badSig[6] = (badSig[6] ?? 0) ^ 0x01;
    assert.throws(() => { acceptor.unwrap(Buffer.from(pdu), 8, 24, badSig); }, refusedWith('integrity', /checksum/));
    assert.throws(() => { acceptor.unwrap(Buffer.from(pdu), 8, 24, sig); }, refusedWith('integrity', /unusable/));
    const { acceptor: a2, client: c2 } = await established(CLIENT_SEAL_FLAGS);
    const p2 = Buffer.from('HEADER--' + 'secret stub data' + 'TRAILER');
    const s2 = c2.seal(p2, 8, 24);
    p2[1] = (p2[1] ?? 0) ^ 0x80; // a header byte: not encrypted, but signed
    assert.throws(() => { a2.unwrap(p2, 8, 24, s2); }, refusedWith('integrity'));
  });

  it('a replayed or skipped sequence number is refused without disturbing the session', async () => {
    const { acceptor, client } = await established();
    const m0 = Buffer.from('zero');
    const s0 = client.sign(m0);
    acceptor.verifyMic(m0, s0);
    assert.throws(() => { acceptor.verifyMic(m0, s0); }, refusedWith('integrity', /sequence number 0, expected 1/));
    const m1 = Buffer.from('one');
    const s1 = client.sign(m1);
    const m2 = Buffer.from('two');
    const s2 = client.sign(m2);
    assert.throws(() => { acceptor.verifyMic(m2, s2); }, refusedWith('integrity', /sequence number 2, expected 1/));
    acceptor.verifyMic(m1, s1);
    acceptor.verifyMic(m2, s2);
  });

  it('bad signature shapes and sealed regions: malformed or integrity, never anything else', async () => {
    const { acceptor } = await established(CLIENT_SEAL_FLAGS);
    assert.throws(() => { acceptor.verifyMic(Buffer.alloc(8), Buffer.alloc(15)); }, refusedWith('malformed', /15 bytes/));
    const v2 = Buffer.alloc(16);
    v2.writeUInt32LE(2, 0);
    assert.throws(() => { acceptor.verifyMic(Buffer.alloc(8), v2); }, refusedWith('integrity', /version 2/));
    assert.throws(() => acceptor.wrap(Buffer.alloc(8), 4, 9), refusedWith('malformed', /not inside/));
    assert.throws(() => acceptor.wrap(Buffer.alloc(8), 5, 4), refusedWith('malformed'));
    assert.throws(() => { acceptor.unwrap(Buffer.alloc(8), -1, 4, Buffer.alloc(16)); }, refusedWith('malformed'));
    assert.throws(() => { acceptor.unwrap(Buffer.alloc(8), 0, 4.5, Buffer.alloc(16)); }, refusedWith('malformed'));
  });

  it('signing only (no SEAL): wrap refused, getMic fine', async () => {
    const { acceptor } = await established(CLIENT_SIGN_FLAGS);
    assert.throws(() => acceptor.wrap(Buffer.alloc(32), 8, 24), refusedWith('policy'));
    assert.equal(acceptor.getMic(Buffer.alloc(32)).length, 16);
  });

  it('resetCrypto re-keys the RC4 handles and keeps the sequence numbers', async () => {
    const key = Buffer.alloc(16, 0x42);
    const { acceptor } = await established(CLIENT_SIGN_FLAGS, { randomSessionKey: key });
    const data = Buffer.from('mechTypes');
    assert.equal(acceptor.getMic(data).readUInt32LE(12), 0);
    acceptor.resetCrypto();
    const next = acceptor.getMic(data);
    assert.equal(next.readUInt32LE(12), 1, 'the sequence number goes on');
    // A client whose handles are fresh and whose sequence numbers start at 1 agrees.
    assert.ok(new ClientSession(key, CLIENT_SIGN_FLAGS, 1).verify(data, next));
  });
});

describe('NtlmAcceptor: target info parse helpers', () => {
  it('parseAvPairs refuses a list without MsvAvEOL and stops at it', () => {
    assert.throws(() => parseAvPairs(Buffer.from('0100020041', 'hex')));
    assert.deepEqual(parseAvPairs(Buffer.from('010002004100' + '00000000' + 'ffff', 'hex')).map((p) => [p.id, p.value.toString('hex')]), [[1, '4100']]);
  });
});
