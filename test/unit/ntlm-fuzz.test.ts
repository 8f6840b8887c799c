// Seeded fuzzing of the NTLMSSP acceptor: mutated AUTHENTICATE and NEGOTIATE messages (synthetic
// and captured), garbage tokens, and mutated signatures and sealed regions. Whatever comes in,
// only SecurityError may come out of step / verifyMic / unwrap, and nothing may hang.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SecurityError } from '../../service/auth/context.ts';
import { NtlmAcceptor } from '../../service/auth/ntlm/acceptor.ts';
import { authenticateMessage, ClientSession, CLIENT_SEAL_FLAGS, negotiateMessage } from '../fixtures/ntlm/client.ts';
import { loadSession, sessionTokens } from '../fixtures/ntlm/sessions.ts';
import { TableSource } from '../fixtures/ntlm/source.ts';
import { prng } from '../helpers/prng.ts';

const SERVER_CHALLENGE = Buffer.from('8899aabbccddeeff', 'hex');
const NOW = 1_790_000_000_000;

function acceptor(random = SERVER_CHALLENGE, now = NOW, netbios = 'WITNESS1'): NtlmAcceptor {
  return new NtlmAcceptor({
    source: new TableSource({ alice: 'Secret-1', swnuser: 'Swn-Pass1' }),
    netbiosComputer: netbios,
    netbiosDomain: netbios,
    dnsComputer: '',
    dnsDomain: '',
    random: () => Buffer.from(random),
    now: () => now,
  });
}

/** One to three mutations of `base`, chosen by `rnd`. */
function mutate(base: Buffer, rnd: () => number): Buffer {
  let m = Buffer.from(base);
  const int = (n: number): number => Math.floor(rnd() * n);
  const interesting = (len: number): number => [0, 1, 2, 8, 15, 16, 24, 64, 72, 88, len - 1, len, len + 1, 0x7fff, 0xffff, 0xffffffff, int(0x100000000)][int(17)] ?? 0;
  const rounds = 1 + int(3);
  for (let r = 0; r < rounds; r++) {
    switch (int(6)) {
      case 0: // flip bits
        for (let i = 0, n = 1 + int(8); i < n && m.length > 0; i++) {
          const at = int(m.length);
          m[at] = (m[at] ?? 0) ^ (1 << int(8));
        }
        break;
      case 1: // random bytes
        for (let i = 0, n = 1 + int(4); i < n && m.length > 0; i++) m[int(m.length)] = int(256);
        break;
      case 2: {
        // a header length or offset (or the flags) set to an interesting value
        if (m.length < 64) break;
        const slot = int(13);
        const v = interesting(m.length);
        if (slot === 12) m.writeUInt32LE(v >>> 0, 60);
        else if (slot % 2 === 0) m.writeUInt16LE(v & 0xffff, 12 + (slot / 2) * 8);
        else m.writeUInt32LE(v >>> 0, 16 + ((slot - 1) / 2) * 8);
        break;
      }
      case 3: // truncate
        m = m.subarray(0, int(m.length + 1));
        break;
      case 4: // append
        m = Buffer.concat([m, Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256)))]);
        break;
      default: {
        // overwrite a slice
        if (m.length === 0) break;
        const at = int(m.length);
        const n = Math.min(m.length - at, 1 + int(32));
        for (let i = 0; i < n; i++) m[at + i] = int(256);
      }
    }
  }
  return m;
}

async function onlySecurityErrors(run: () => Promise<unknown>, what: string, codes: Map<string, number>): Promise<void> {
  try {
    await run();
    codes.set('ok', (codes.get('ok') ?? 0) + 1);
  } catch (e) {
    if (!(e instanceof SecurityError)) assert.fail(`${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
  }
}

describe('NTLMSSP acceptor fuzz (seeded)', () => {
  it('mutated synthetic AUTHENTICATE messages: only SecurityError escapes', async () => {
    const negotiate = negotiateMessage(CLIENT_SEAL_FLAGS);
    const first = acceptor();
    const challenge = (await first.step(negotiate)).token;
    assert.ok(challenge);
    const good = authenticateMessage({ negotiate, challenge, user: 'alice', domain: 'WITNESS1', password: 'Secret-1' }).message;
    const codes = new Map<string, number>();
    for (let seed = 1; seed <= 2000; seed++) {
      const m = mutate(good, prng(seed));
      const a = acceptor();
      await a.step(negotiate);
      await onlySecurityErrors(() => a.step(m), `seed ${seed}`, codes);
    }
    if (process.env.NTLM_FUZZ_STATS) console.log(JSON.stringify([...codes]));
    // The mutations reach every kind of refusal a client can cause.
    for (const code of ['malformed', 'logon-failure', 'integrity']) assert.ok((codes.get(code) ?? 0) > 0, `no ${code} in ${JSON.stringify([...codes])}`);
  });

  it('mutated captured AUTHENTICATE (rpcclient, 03) and NEGOTIATE messages: only SecurityError escapes', async () => {
    const t = sessionTokens(loadSession('03-rpcclient-ntlmssp-sign'));
    const captured = Buffer.from(t.challenge.subarray(24, 32));
    const codes = new Map<string, number>();
    for (let seed = 1; seed <= 1000; seed++) {
      const rnd = prng(0x5eed0000 + seed);
      const a = acceptor(captured, NOW, 'SWNPEER');
      await a.step(t.negotiate);
      await onlySecurityErrors(() => a.step(mutate(t.authenticate, rnd)), `AUTHENTICATE seed ${seed}`, codes);
      await onlySecurityErrors(() => acceptor().step(mutate(t.negotiate, rnd)), `NEGOTIATE seed ${seed}`, codes);
    }
    assert.ok((codes.get('malformed') ?? 0) > 0);
  });

  it('random garbage as any token: only SecurityError escapes', async () => {
    const rnd = prng(42);
    const codes = new Map<string, number>();
    const negotiate = negotiateMessage(CLIENT_SEAL_FLAGS);
    for (let i = 0; i < 1000; i++) {
      const len = Math.floor(rnd() * 200);
      const junk = Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256)));
      // Half of them wear the NTLMSSP signature and a message type, to get past the first check.
      if (i % 2 === 0 && len >= 12) {
        junk.write('NTLMSSP\0', 0, 'latin1');
        junk.writeUInt32LE(1 + (i % 3), 8);
      }
      await onlySecurityErrors(() => acceptor().step(junk), `garbage ${i} as first token`, codes);
      const a = acceptor();
      await a.step(negotiate);
      await onlySecurityErrors(() => a.step(junk), `garbage ${i} as second token`, codes);
    }
  });

  it('mutated signatures, messages and regions on an established sealed session: only SecurityError escapes', async () => {
    const negotiate = negotiateMessage(CLIENT_SEAL_FLAGS);
    const rnd = prng(7);
    const codes = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const a = acceptor();
      const challenge = (await a.step(negotiate)).token;
      assert.ok(challenge);
      const auth = authenticateMessage({ negotiate, challenge, user: 'alice', domain: 'WITNESS1', password: 'Secret-1' });
      await a.step(auth.message);
      const client = new ClientSession(auth.exportedSessionKey, auth.flags);
      const pdu = Buffer.from(Array.from({ length: 24 + Math.floor(rnd() * 100) }, () => Math.floor(rnd() * 256)));
      const sig = client.seal(pdu, 24, pdu.length);
      const badSig = rnd() < 0.5 ? mutate(sig, rnd) : sig;
      const badPdu = rnd() < 0.5 ? mutate(pdu, rnd) : Buffer.from(pdu);
      const start = rnd() < 0.8 ? 24 : Math.floor(rnd() * 300) - 50;
      const end = rnd() < 0.8 ? badPdu.length : Math.floor(rnd() * 300) - 50;
      await onlySecurityErrors(() => Promise.resolve().then(() => { a.unwrap(badPdu, start, end, badSig); }), `unwrap ${i}`, codes);
      await onlySecurityErrors(() => Promise.resolve().then(() => { a.verifyMic(mutate(pdu, rnd), mutate(sig, rnd)); }), `verifyMic ${i}`, codes);
    }
    assert.ok((codes.get('integrity') ?? 0) > 0);
  });
});
