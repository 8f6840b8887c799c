// Benchmark: what one protected PDU costs witnessd, in this process (no sockets): a response
// fragment built plain (fragmentResponse, as for --auth none), signed (integrity) and sealed
// (privacy) by service/rpc/protection.ts's protectResponse over a real NTLMSSP session, a signed
// and a sealed request checked (unprotectRequest), and the parts: HMAC-MD5 through node:crypto's
// createHmac, RC4 over the stub and over the 8-byte checksum. Also the memory one established
// NTLMSSP context (acceptor + session keys + RC4 states) keeps. Prints figures, asserts nothing.
//   node --import tsx bench/auth-pdu-cost.ts [iterations]      (default 200000)

import crypto from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import pino from 'pino';
import { AuthLevel, AuthType, type SecurityContext } from '../service/auth/context.ts';
import { Rc4 } from '../service/auth/crypto/rc4.ts';
import { NtlmAcceptor } from '../service/auth/ntlm/acceptor.ts';
import { NegotiateFlag } from '../service/auth/ntlm/constants.ts';
import { hmacMd5 } from '../service/auth/crypto/md5.ts';
import { NtlmSession } from '../service/auth/ntlm/session.ts';
import { verifyNtlmv2WithNtHash } from '../service/auth/ntlm/verify.ts';
import { ntHash } from '../service/auth/crypto/md4.ts';
import { fragmentResponse } from '../service/rpc/fragments.ts';
import { Negotiator, type AuthSession } from '../service/rpc/negotiation.ts';
import { parseFragment, PType, type RequestPdu } from '../service/rpc/pdu.ts';
import { protectResponse, unprotectRequest } from '../service/rpc/protection.ts';
import { encodeAsyncNotify } from '../service/swn/codec.ts';
import { ChangeType, MessageType, WinError } from '../service/swn/constants.ts';
import { encodeResourceChanges } from '../service/swn/messages.ts';
import { authenticateMessage, ClientSession, CLIENT_SEAL_FLAGS, CLIENT_SIGN_FLAGS, negotiateMessage } from '../test/fixtures/ntlm/client.ts';
import { BENCH_DOMAIN, BENCH_PASSWORD, BENCH_USER } from './auth-common.ts';

const ITER = Number(process.argv[2] ?? 200_000);
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const hash = ntHash(BENCH_PASSWORD);
const source = {
  name: 'bench',
  verify: (check: Parameters<typeof verifyNtlmv2WithNtHash>[1]) => Promise.resolve({ sessionBaseKey: verifyNtlmv2WithNtHash(hash, check), identity: { domain: check.domain, user: check.user, workstation: check.workstation, groups: [] } }),
  close: () => Promise.resolve(),
};

/** An established NTLMSSP context, and the client's half of it. */
async function establish(flags: number): Promise<{ ctx: NtlmAcceptor; client: ClientSession }> {
  const ctx = new NtlmAcceptor({ source, netbiosComputer: 'FILESRV', netbiosDomain: BENCH_DOMAIN, dnsComputer: 'filesrv', dnsDomain: '' });
  const negotiate = negotiateMessage(flags);
  const challenge = (await ctx.step(negotiate)).token;
  if (!challenge) throw new Error('no CHALLENGE');
  const a = authenticateMessage({ negotiate, challenge, user: BENCH_USER, domain: BENCH_DOMAIN, password: BENCH_PASSWORD, ntHash: hash });
  await ctx.step(a.message);
  return { ctx, client: new ClientSession(a.exportedSessionKey, a.flags) };
}

function negotiator(): Negotiator {
  const log = pino({ level: 'silent' });
  return new Negotiator({ findInterface: () => undefined, associate: () => 1, security: null, secondaryAddress: '1', log: () => log });
}

/** This process's CPU time (user + system), µs: on a shared machine, time spent descheduled does not count. */
function cpuNow(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU microseconds per call of `fn`, best of five rounds of `n` calls. */
function time(n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 20_000); i++) fn(i); // warm-up (JIT)
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = cpuNow();
    for (let i = 0; i < n; i++) fn(i);
    best = Math.min(best, (cpuNow() - t0) / n);
  }
  return best;
}

function session(ctx: SecurityContext, level: number): AuthSession {
  return { contextId: 0, type: AuthType.NTLMSSP, level, ctx, failed: null };
}

/** A request as the client sends it: signed or sealed over the whole PDU. */
function request(client: ClientSession, level: number, stub: Buffer): Buffer {
  const pad = (16 - (stub.length % 16)) % 16;
  const stubStart = 24;
  const trailerStart = stubStart + stub.length + pad;
  const authStart = trailerStart + 8;
  const frag = Buffer.alloc(authStart + 16);
  frag.set([5, 0, PType.REQUEST, 3, 0x10, 0, 0, 0]);
  frag.writeUInt16LE(frag.length, 8);
  frag.writeUInt16LE(16, 10);
  frag.writeUInt32LE(7, 12);
  frag.writeUInt32LE(stub.length, 16);
  frag.writeUInt16LE(8, 22); // opnum AsyncNotify
  stub.copy(frag, stubStart);
  frag.set([AuthType.NTLMSSP, level, pad, 0, 0, 0, 0, 0], trailerStart);
  const m = frag.subarray(0, authStart);
  const sig = level === AuthLevel.PRIVACY ? client.seal(m, stubStart, trailerStart) : client.sign(m);
  sig.copy(frag, authStart);
  return frag;
}

/**
 * NtlmSession's signatures (its own HMAC-MD5 up to 768 bytes, node:crypto's above) against the test
 * initiator's (node:crypto's createHmac throughout), both ways, signed and sealed, with and
 * without key exchange, every message length from 0 to 1,200 bytes and some up to 6,000.
 */
function crossCheck(): number {
  let n = 0;
  const lengths = [...Array.from({ length: 1201 }, (_, i) => i), 2047, 2048, 4000, 5840, 6000];
  for (const flags of [CLIENT_SEAL_FLAGS, CLIENT_SEAL_FLAGS & ~NegotiateFlag.KEY_EXCH]) {
    const exported = crypto.randomBytes(16);
    const server = new NtlmSession(exported, flags);
    const client = new ClientSession(exported, flags);
    for (const len of lengths) {
      const m = crypto.randomBytes(len);
      if (!client.verify(m, server.sign(m))) throw new Error(`server signature of a ${len}-byte message does not verify (flags 0x${flags.toString(16)})`);
      server.verify(m, client.sign(m)); // throws if not
      const plain = crypto.randomBytes(len);
      const sealed = Buffer.from(plain);
      const start = Math.min(len, 24);
      const sig = server.seal(sealed, start, len);
      if (!client.unseal(sealed, start, len, sig) || !sealed.equals(plain)) throw new Error(`server-sealed ${len}-byte message does not unseal`);
      const csig = client.seal(sealed, start, len);
      server.unseal(sealed, start, len, csig);
      if (!sealed.equals(plain)) throw new Error(`client-sealed ${len}-byte message unsealed wrong`);
      n += 4;
    }
  }
  return n;
}

async function main(): Promise<void> {
  console.log(`self-check: ${crossCheck()} signatures and sealed messages agree with node:crypto's HMAC-MD5 (test initiator), both ways`);
  // Memory: the session keys and RC4 states (NtlmSession alone), then a whole established context.
  const M = 5000;
  const kb = (a: number, b: number): string => ((b - a) / 1024 / M).toFixed(2);
  const sessions: NtlmSession[] = [];
  const exported = crypto.randomBytes(16);
  gc();
  gc();
  const s0 = process.memoryUsage();
  for (let i = 0; i < M; i++) sessions.push(new NtlmSession(exported, CLIENT_SEAL_FLAGS));
  gc();
  const s1 = process.memoryUsage();
  console.log(`one NtlmSession (signing and sealing keys, two RC4 states): ${kb(s0.heapUsed, s1.heapUsed)} KB JS heap + ${kb(s0.arrayBuffers, s1.arrayBuffers)} KB array buffers`);
  if (sessions.length !== M) throw new Error('unreachable');
  // Memory an established context keeps (acceptor, identity, session keys, RC4 states).
  const keep: NtlmAcceptor[] = [];
  gc();
  const m0 = process.memoryUsage();
  for (let i = 0; i < M; i++) keep.push((await establish(CLIENT_SEAL_FLAGS)).ctx);
  gc();
  gc();
  const m1 = process.memoryUsage();
  console.log(`one established sealed NTLMSSP context (${M} of them: NtlmAcceptor, its session, identity, and the NEGOTIATE and CHALLENGE it keeps): ${kb(m0.heapUsed, m1.heapUsed)} KB JS heap + ${kb(m0.arrayBuffers, m1.arrayBuffers)} KB array buffers (${kb(m0.external, m1.external)} KB external in all)`);
  if (keep.length !== M) throw new Error('unreachable');
  const stub = encodeAsyncNotify(WinError.SUCCESS, { type: MessageType.RESOURCE_CHANGE, count: 1, buffer: encodeResourceChanges([{ changeType: ChangeType.UNAVAILABLE, resourceName: '127.0.0.2' }]), summary: '', eventSeq: null, eventAt: null });
  const handle = crypto.randomBytes(20);
  const n = negotiator();
  console.log(`auth-pdu-cost: node ${process.version}, ${ITER} iterations per figure (CPU time, best of 5), AsyncNotify reply stub ${stub.length} bytes, request stub ${handle.length} bytes`);
  const plain = time(ITER, (i) => { fragmentResponse(i, 0, stub, 5840); });
  const signed = await establish(CLIENT_SIGN_FLAGS);
  const sealed = await establish(CLIENT_SEAL_FLAGS);
  const sSign = session(signed.ctx, AuthLevel.INTEGRITY);
  const sSeal = session(sealed.ctx, AuthLevel.PRIVACY);
  const sign = time(ITER, (i) => { protectResponse(n, sSign, i, 0, stub, 0); });
  const seal = time(ITER, (i) => { protectResponse(n, sSeal, i, 0, stub, 0); });
  // Requests: made by the client ahead of time (in order), checked in order.
  const k = Math.min(ITER, 100_000);
  const reqSign = Array.from({ length: k + 20_000 }, () => request(signed.client, AuthLevel.INTEGRITY, handle));
  const reqSeal = Array.from({ length: k + 20_000 }, () => request(sealed.client, AuthLevel.PRIVACY, handle));
  const parsedSign = reqSign.map((b) => parseFragment(b));
  const parsedSeal = reqSeal.map((b) => parseFragment(b));
  // Requests are checked once each, in the order the client made them (sequence numbers).
  const onceEach = (list: typeof parsedSign, s: AuthSession): number => {
    const neg = negotiator();
    neg.sessions.set(0, s);
    const warm = 20_000; // the first ones warm the code up, untimed
    for (const f of list.slice(0, warm)) unprotectRequest(neg, f.pdu as RequestPdu, f.layout);
    const t0 = cpuNow();
    for (const f of list.slice(warm)) unprotectRequest(neg, f.pdu as RequestPdu, f.layout);
    return (cpuNow() - t0) / (list.length - warm);
  };
  const vSign = onceEach(parsedSign, session(signed.ctx, AuthLevel.INTEGRITY));
  const vSeal = onceEach(parsedSeal, session(sealed.ctx, AuthLevel.PRIVACY));
  // The parts.
  const key = crypto.randomBytes(16);
  const seq = Buffer.alloc(4);
  const msg = Buffer.alloc(24 + stub.length + 8 + 8);
  const hmacNode = time(ITER, () => { crypto.createHmac('md5', key).update(seq).update(msg).digest(); });
  const hmac = time(ITER, () => { hmacMd5(key, seq, msg); });
  const rc4 = new Rc4(key);
  const body = Buffer.alloc(stub.length + ((16 - (stub.length % 16)) % 16));
  const rc4Body = time(ITER, () => { rc4.update(body); });
  const eight = Buffer.alloc(8);
  const rc4Eight = time(ITER, () => { rc4.update(eight); });
  const alloc = time(ITER, () => { Buffer.alloc(msg.length + 16); });
  console.log(`response fragment, µs each: plain ${plain.toFixed(2)}; signed ${sign.toFixed(2)} (+${(sign - plain).toFixed(2)}); sealed ${seal.toFixed(2)} (+${(seal - plain).toFixed(2)})`);
  console.log(`request fragment checked (unprotectRequest), µs each: signed ${vSign.toFixed(2)}, sealed (decrypted) ${vSeal.toFixed(2)}`);
  console.log(`parts, µs each: HMAC-MD5 over ${msg.length} bytes: createHmac ${hmacNode.toFixed(2)}, crypto/md5.ts (the handshake's) ${hmac.toFixed(2)}; RC4 over ${body.length} bytes ${rc4Body.toFixed(2)}; RC4 over 8 bytes ${rc4Eight.toFixed(2)}; Buffer.alloc(${msg.length + 16}) ${alloc.toFixed(2)}`);

  // The handshake, acceptor side: what each new client costs before its first call.
  const H = Math.max(2000, Math.floor(ITER / 20));
  const legs = { negotiate: 0, authenticate: 0 };
  for (let round = 0; round < 2; round++) {
    let neg = 0;
    let auth = 0;
    for (let i = 0; i < H; i++) {
      const ctx = new NtlmAcceptor({ source, netbiosComputer: 'FILESRV', netbiosDomain: BENCH_DOMAIN, dnsComputer: 'filesrv', dnsDomain: '' });
      const negotiate = negotiateMessage(CLIENT_SIGN_FLAGS);
      let t0 = cpuNow();
      const challenge = (await ctx.step(negotiate)).token;
      neg += cpuNow() - t0;
      if (!challenge) throw new Error('no CHALLENGE');
      const a = authenticateMessage({ negotiate, challenge, user: BENCH_USER, domain: BENCH_DOMAIN, password: BENCH_PASSWORD, ntHash: hash });
      t0 = cpuNow();
      await ctx.step(a.message);
      auth += cpuNow() - t0;
    }
    legs.negotiate = neg / H; // the second round, warm, is the one kept
    legs.authenticate = auth / H;
  }
  const exportedKey = crypto.randomBytes(16);
  const newSession = time(H, () => { new NtlmSession(exportedKey, CLIENT_SIGN_FLAGS); });
  console.log(`NTLMSSP handshake, acceptor side, µs each (CPU, warm): NEGOTIATE → CHALLENGE ${legs.negotiate.toFixed(1)}; AUTHENTICATE checked (NTLMv2 response against the NT hash, key exchange, MIC) and the session set up ${legs.authenticate.toFixed(1)}, of which the NtlmSession (signing and sealing keys, RC4 states, HMAC pads) ${newSession.toFixed(1)}`);

}

await main();
