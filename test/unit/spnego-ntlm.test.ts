// SPNEGO over the real NTLMSSP acceptor, driven by the captured sessions (test/fixtures/spnego/README.md):
// with the server challenge and timestamp pinned to Samba's, and the test password Swn-Pass1, our
// acceptor's replies are Samba's replies byte for byte (the CHALLENGE, then accept-completed with
// the server's mechListMIC); the client's mechListMIC verifies; and every signed or sealed call
// after that verifies, decrypts and is re-produced exactly, which is only so when the RC4 handles
// are reset after the mechListMICs and the sequence numbers are not (MS-SPNG §3.3.5.1).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NtlmCredentialSource } from '../../service/auth/credentials.ts';
import { SecurityError } from '../../service/auth/context.ts';
import { ntHash } from '../../service/auth/crypto/md4.ts';
import { NtlmAcceptor } from '../../service/auth/ntlm/acceptor.ts';
import { verifyNtlmv2WithNtHash } from '../../service/auth/ntlm/verify.ts';
import { SpnegoAcceptor } from '../../service/auth/spnego/acceptor.ts';
import { NegState, Oid, buildNegTokenResp, parseInitialToken, parseNegTokenResp } from '../../service/auth/spnego/tokens.ts';
import { SESSIONS, capturedPdu, capturedToken } from '../fixtures/spnego/captures.ts';

const FILETIME_UNIX_EPOCH = 116444736000000000n;

/** The server challenge and the MsvAvTimestamp (as ms since the epoch) of Samba's CHALLENGE. */
function sambaChallenge(set: string): { challenge: Buffer; nowMs: number } {
  const msg = parseNegTokenResp(capturedToken(`${set}-bind-ack`)).responseToken;
  assert.ok(msg && msg.readUInt32LE(8) === 2);
  const challenge = Buffer.from(msg.subarray(24, 32));
  const infoLen = msg.readUInt16LE(40);
  const infoOff = msg.readUInt32LE(44);
  for (let p = infoOff; p + 4 <= infoOff + infoLen; ) {
    const id = msg.readUInt16LE(p);
    const len = msg.readUInt16LE(p + 2);
    if (id === 7) {
      const ticks = msg.readBigUInt64LE(p + 4) - FILETIME_UNIX_EPOCH;
      const whole = ticks / 10000n;
      return { challenge, nowMs: Number(whole) + Number(ticks - whole * 10000n) / 10000 };
    }
    p += 4 + len;
  }
  throw new Error(`${set}: no timestamp in the CHALLENGE`);
}

/** A credential source that knows one password, checked with the NT hash as the account file would. */
function passwordSource(password: string): NtlmCredentialSource {
  const hash = ntHash(password);
  return {
    name: 'test',
    verify: (check) => Promise.resolve({ sessionBaseKey: verifyNtlmv2WithNtHash(hash, check), identity: { domain: check.domain, user: check.user, workstation: check.workstation, groups: [] } }),
    close: () => Promise.resolve(),
  };
}

function spnegoFor(set: string, password = 'Swn-Pass1'): SpnegoAcceptor {
  const { challenge, nowMs } = sambaChallenge(set);
  const opts = {
    source: passwordSource(password),
    netbiosComputer: 'SWNPEER',
    netbiosDomain: 'SWNPEER',
    dnsComputer: '',
    dnsDomain: '',
    now: () => nowMs,
    random: (n: number) => {
      assert.equal(n, 8);
      return Buffer.from(challenge);
    },
  };
  return new SpnegoAcceptor({ mechs: [{ oid: Oid.NTLMSSP, name: 'ntlmssp', create: () => new NtlmAcceptor(opts) }] });
}

/** Runs the captured handshake of `set` through a fresh acceptor, checking each reply against Samba's. */
async function handshake(set: string, last = 'alter'): Promise<SpnegoAcceptor> {
  const spnego = spnegoFor(set);
  const first = await spnego.step(capturedToken(`${set}-bind`));
  assert.equal(first.complete, false);
  assert.equal(first.token?.toString('hex'), capturedToken(`${set}-bind-ack`).toString('hex'), `${set}: our first reply is Samba's`);
  const second = await spnego.step(capturedToken(`${set}-${last}`));
  assert.equal(second.complete, true);
  if (last === 'alter') assert.equal(second.token?.toString('hex'), capturedToken(`${set}-alter-resp`).toString('hex'), `${set}: our last reply, mechListMIC included, is Samba's`);
  return spnego;
}

/** Where signing and sealing apply in a captured request or response PDU (no object UUID). */
function layout(pdu: Buffer): { signed: Buffer; stubStart: number; trailerStart: number; signature: Buffer } {
  const authLength = pdu.readUInt16LE(10);
  const authStart = pdu.length - authLength;
  assert.equal(pdu[3]! & 0x80, 0, 'no object UUID');
  return { signed: Buffer.from(pdu.subarray(0, authStart)), stubStart: 24, trailerStart: authStart - 8, signature: pdu.subarray(authStart) };
}

const CALLS = [2, 3, 4, 5, 6];

describe('SPNEGO + NTLMSSP over the captured sessions', () => {
  for (const set of SESSIONS) {
    it(`${set}: our replies equal Samba's byte for byte; the identity is the client's`, async () => {
      const spnego = await handshake(set);
      assert.equal(spnego.complete, true);
      assert.deepEqual(spnego.identity, { domain: '', user: 'swnuser', workstation: 'SWNPEER', groups: [] });
      assert.equal(spnego.signatureSize, 16);
      assert.equal(spnego.signsWholePdu, true);
    });
  }

  it('auth3: the client sends its mechListMIC in AUTH3; it verifies, and ours has nowhere to go', async () => {
    const spnego = await handshake('auth3', 'auth3');
    assert.equal(spnego.complete, true);
  });

  it('sign: every request verifies and every response signature is reproduced (sequence 1 onwards, fresh RC4)', async () => {
    const spnego = await handshake('sign');
    for (const n of CALLS) {
      const q = layout(capturedPdu(`sign-request-${n}`));
      spnego.verifyMic(q.signed, q.signature);
      assert.equal(q.signature.readUInt32LE(12), n - 1, 'sequence number');
      const r = layout(capturedPdu(`sign-response-${n}`));
      assert.equal(spnego.getMic(r.signed).toString('hex'), r.signature.toString('hex'), `response ${n}`);
    }
  });

  for (const set of ['seal', 'ifl'] as const) {
    it(`${set}: every request decrypts and verifies; every response is re-sealed to the captured bytes`, async () => {
      const calls = set === 'seal' ? CALLS : [2];
      // Pass 1 learns each response's plaintext: RC4 is its own inverse, so wrapping the captured
      // ciphertext yields the plaintext while the key stream advances exactly as Samba's did.
      const plaintexts = new Map<number, Buffer>();
      const first = await handshake(set);
      for (const n of calls) {
        const q = layout(capturedPdu(`${set}-request-${n}`));
        first.unwrap(q.signed, q.stubStart, q.trailerStart, q.signature);
        if (n === 2) assert.equal(q.signed.readUInt16LE(22), 0, 'GetInterfaceList is opnum 0');
        const r = layout(capturedPdu(`${set}-response-${n}`));
        first.wrap(r.signed, r.stubStart, r.trailerStart);
        plaintexts.set(n, r.signed);
      }
      // GetInterfaceList's answer names the interface group (UTF-16LE), readable now.
      assert.ok(plaintexts.get(2)?.includes(Buffer.from('swnpeer', 'utf16le')), 'the decrypted GetInterfaceList response names swnpeer');
      // Pass 2: a fresh session seals those plaintexts into exactly the captured bytes.
      const second = await handshake(set);
      for (const n of calls) {
        const q = layout(capturedPdu(`${set}-request-${n}`));
        const plainRequest = Buffer.from(q.signed);
        second.unwrap(plainRequest, q.stubStart, q.trailerStart, q.signature);
        const captured = capturedPdu(`${set}-response-${n}`);
        const r = layout(captured);
        const msg = Buffer.from(plaintexts.get(n)!);
        const signature = second.wrap(msg, r.stubStart, r.trailerStart);
        assert.equal(Buffer.concat([msg, signature]).toString('hex'), captured.toString('hex'), `response ${n}`);
      }
    });
  }

  it('the crypto reset is what makes the first call verify', async () => {
    // The same session with resetCrypto disabled: the first sealed request no longer verifies.
    const { challenge, nowMs } = sambaChallenge('sign');
    const opts = { source: passwordSource('Swn-Pass1'), netbiosComputer: 'SWNPEER', netbiosDomain: 'SWNPEER', dnsComputer: '', dnsDomain: '', now: () => nowMs, random: () => Buffer.from(challenge) };
    const spnego = new SpnegoAcceptor({
      mechs: [
        {
          oid: Oid.NTLMSSP,
          name: 'ntlmssp',
          create: () => {
            const inner = new NtlmAcceptor(opts);
            Object.defineProperty(inner, 'resetCrypto', { value: undefined });
            return inner;
          },
        },
      ],
    });
    await spnego.step(capturedToken('sign-bind'));
    const done = await spnego.step(capturedToken('sign-alter'));
    assert.equal(done.token?.toString('hex'), capturedToken('sign-alter-resp').toString('hex'), 'the mechListMICs themselves do not depend on it');
    const q = layout(capturedPdu('sign-request-2'));
    assert.throws(() => {
      spnego.verifyMic(q.signed, q.signature);
    }, (e: unknown) => e instanceof SecurityError && e.code === 'integrity');
  });
});

describe('SPNEGO + NTLMSSP refusals', () => {
  it('a wrong password is a logon failure, and the context is dead', async () => {
    const spnego = spnegoFor('sign', 'not-the-password');
    await spnego.step(capturedToken('sign-bind'));
    await assert.rejects(spnego.step(capturedToken('sign-alter')), (e: unknown) => e instanceof SecurityError && e.code === 'logon-failure');
    assert.equal(spnego.complete, false);
    await assert.rejects(spnego.step(capturedToken('sign-alter')), SecurityError);
  });

  it("a mechListMIC altered in the client's last token is an integrity failure", async () => {
    const spnego = spnegoFor('sign');
    await spnego.step(capturedToken('sign-bind'));
    const last = parseNegTokenResp(capturedToken('sign-alter'));
    assert.ok(last.mechListMIC);
    last.mechListMIC[5] = (last.mechListMIC[5] ?? 0) ^ 0x01;
    await assert.rejects(spnego.step(buildNegTokenResp(last)), (e: unknown) => e instanceof SecurityError && e.code === 'integrity' && /mechListMIC does not verify/.test(e.message));
  });

  it("a mechListMIC from another session (another key) doesn't verify", async () => {
    const spnego = spnegoFor('sign');
    await spnego.step(capturedToken('sign-bind'));
    const last = parseNegTokenResp(capturedToken('sign-alter'));
    last.mechListMIC = parseNegTokenResp(capturedToken('seal-alter')).mechListMIC;
    await assert.rejects(spnego.step(buildNegTokenResp(last)), (e: unknown) => e instanceof SecurityError && e.code === 'integrity');
  });

  it('the MIC-less last token from a client whose MIC is optional completes without one', async () => {
    const spnego = spnegoFor('sign');
    await spnego.step(capturedToken('sign-bind'));
    const last = parseNegTokenResp(capturedToken('sign-alter'));
    last.mechListMIC = null;
    const r = await spnego.step(buildNegTokenResp(last));
    assert.equal(r.complete, true);
    assert.ok(r.token);
    const reply = parseNegTokenResp(r.token);
    assert.equal(reply.negState, NegState.ACCEPT_COMPLETED);
    assert.equal(reply.mechListMIC, null);
    assert.deepEqual(parseInitialToken(capturedToken('sign-bind')).mechTypes, [Oid.NTLMSSP]);
  });
});
