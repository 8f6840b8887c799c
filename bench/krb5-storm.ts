// Benchmark: Kerberos registrations per second next to NTLM's, and what one Kerberos accept costs
// on witnessd's event loop. Needs the AD test domain (test/domain; hold /tmp/pw-peers.lock).
//
// 1. In-process, MIT's GSS-API through gss.node, both sides here: the acceptor's two DCE-style
//    accept steps (AP-REQ → AP-REP, then the client's AP-REP), a MIC and a sealed 256-byte
//    PDU (wrap_iov + unwrap_iov), timed per call: what witnessd's event loop spends (and is blocked
//    for) per Kerberos client. The keytab and replay cache are real files (MIT's defaults).
// 2. A storm against witnessd: N clients, W at a time, each: TCP connect → bind with auth type 16 at
//    integrity (AP-REQ) → bind_ack (AP-REP) → AUTH3 (the client's AP-REP) → RegisterEx signed with a
//    MIC (the response's MIC checked) → close. The same with NTLMSSP (account file), in the same
//    run. Prints registrations/s and witnessd's CPU ms per registration (from /proc), which does not
//    depend on the load generator sharing the 2 cores.
//
//   node --import tsx bench/krb5-storm.ts [--n 2000] [--window 50] [--runs 2]

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { AuthLevel, AuthType } from '../service/auth/context.ts';
import { KeytabCredentials } from '../service/auth/krb5/keytab.ts';
import { gss, type GssCtx } from '../service/auth/krb5/native.ts';
import { Deframer } from '../service/rpc/framing.ts';
import { AUTH_PAD_ALIGN } from '../service/rpc/negotiation.ts';
import { parseFragment, PFC, PType, SEC_TRAILER_SIZE, serializePdu } from '../service/rpc/pdu.ts';
import { NDR20 } from '../service/rpc/syntaxes.ts';
import { decodeHandleAndStatus, encodeRegisterEx } from '../service/swn/codec.ts';
import { Opnum, WITNESS_INTERFACE, WitnessVersion } from '../service/swn/constants.ts';
import { startDomain } from '../test/domain/domain.ts';
import { RawClient } from '../test/helpers/rpc-client.ts';
import { startWitnessd, twoNodeView } from '../test/peers/peers.ts';
import { benchCredentials, makeAccountFile, quantile, treeCpuMs } from './auth-common.ts';

function option(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const N = option('n', 2000);
const WINDOW = option('window', 50);
const RUNS = option('runs', 2);
const TARGET = 'cifs/filesrv.witness.test@WITNESS.TEST';

const d = await startDomain();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-krb5-bench-'));
try {
  const k = d.kinit(d.user, d.password, 'krb5-bench');
  if (k.run.code !== 0) throw new Error(`kinit: ${k.run.stderr}`);
  const kv = d.inMember(['kvno', 'cifs/filesrv.witness.test'], { env: d.krbEnv('krb5-bench') });
  if (kv.code !== 0) throw new Error(`kvno: ${kv.stderr}`);
  // The initiator here reads the cache with the service ticket; no KDC is reachable from here.
  process.env.KRB5_CONFIG = d.krb5Conf;
  process.env.KRB5CCNAME = k.ccache;
  const api = gss();
  const F = api.flags;
  const REQ = F.MUTUAL | F.REPLAY | F.SEQUENCE | F.INTEG | F.CONF | F.DCE_STYLE;

  // ── 1. per-call costs, in process ─────────────────────────────────────────────────────────
  const creds = KeytabCredentials.open(d.keytab, pino({ level: 'silent' }));
  const M = 2000;
  const t = { init1: [] as number[], accept1: [] as number[], init2: [] as number[], accept2: [] as number[], mic: [] as number[], verify: [] as number[], wrap: [] as number[], unwrap: [] as number[] };
  const pdu = Buffer.alloc(256 + 24 + 8, 7);
  for (let i = 0; i < M; i++) {
    let t0 = performance.now();
    const c1 = api.init(TARGET, null, null, REQ);
    t.init1.push(performance.now() - t0);
    t0 = performance.now();
    const a1 = api.accept(creds.current(), null, c1.token ?? Buffer.alloc(0));
    t.accept1.push(performance.now() - t0);
    t0 = performance.now();
    const c2 = api.init(TARGET, c1.ctx, a1.token, REQ);
    t.init2.push(performance.now() - t0);
    t0 = performance.now();
    api.accept(creds.current(), a1.ctx, c2.token ?? Buffer.alloc(0));
    t.accept2.push(performance.now() - t0);
    t0 = performance.now();
    const mic = api.getMic(a1.ctx, pdu);
    t.mic.push(performance.now() - t0);
    t0 = performance.now();
    api.verifyMic(c1.ctx, pdu, mic);
    t.verify.push(performance.now() - t0);
    const m = Buffer.from(pdu);
    t0 = performance.now();
    const sig = api.wrap(a1.ctx, m, 24, 24 + 256);
    t.wrap.push(performance.now() - t0);
    t0 = performance.now();
    api.unwrap(c1.ctx, m, 24, 24 + 256, sig);
    t.unwrap.push(performance.now() - t0);
    api.release(a1.ctx);
    api.release(c1.ctx);
  }
  console.log(`per call, in process (${M} contexts; µs: median / p99 / max):`);
  for (const [name, xs] of Object.entries(t)) {
    console.log(`  ${name.padEnd(8)} ${(quantile(xs, 0.5) * 1000).toFixed(0).padStart(6)} ${(quantile(xs, 0.99) * 1000).toFixed(0).padStart(6)} ${(Math.max(...xs) * 1000).toFixed(0).padStart(7)}`);
  }

  // Native memory per established acceptor context (what gss.node reports to V8 per context).
  {
    const held: GssCtx[] = [];
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < M; i++) {
      const c1 = api.init(TARGET, null, null, REQ);
      const a1 = api.accept(creds.current(), null, c1.token ?? Buffer.alloc(0));
      const c2 = api.init(TARGET, c1.ctx, a1.token, REQ);
      api.accept(creds.current(), a1.ctx, c2.token ?? Buffer.alloc(0));
      held.push(a1.ctx);
      api.release(c1.ctx); // only the acceptor's side is witnessd's
    }
    global.gc?.();
    const perCtx = (process.memoryUsage().rss - rss0) / M;
    console.log(`RSS per established acceptor context: ${(perCtx / 1024).toFixed(1)} KiB (${M} held)`);
    for (const c of held) api.release(c);
  }

  // ── 2. the storm ──────────────────────────────────────────────────────────────────────────
  const accounts = makeAccountFile(tmp);
  const w = await startWitnessd({ view: twoNodeView(), auth: ['--accounts', accounts, '--keytab', d.keytab], extra: ['--log-level', 'info'] });
  try {
    const register = encodeRegisterEx({ version: WitnessVersion.V2, netName: 'FILESRV', shareName: null, ipAddress: '127.0.0.2', clientName: 'BENCH', flags: 0, keepAliveSec: 60 });
    const one = { kerberos: () => krb5Registration(w.port, register), ntlm: () => ntlmRegistration(w.port, register) };
    for (let run = 1; run <= RUNS; run++) {
      for (const mode of ['kerberos', 'ntlm'] as const) {
        const before = treeCpuMs([w.proc.pid ?? 0]).total;
        const t0 = performance.now();
        let next = 0;
        let failed = 0;
        const worker = async (): Promise<void> => {
          while (next < N) {
            next++;
            try {
              await one[mode]();
            } catch {
              failed++;
            }
          }
        };
        await Promise.all(Array.from({ length: WINDOW }, worker));
        const ms = performance.now() - t0;
        const cpu = treeCpuMs([w.proc.pid ?? 0]).total - before;
        console.log(`run ${run} ${mode.padEnd(8)} N=${N} window=${WINDOW}: ${((N / ms) * 1000).toFixed(0)} registrations/s, witnessd CPU ${(cpu / N).toFixed(3)} ms per registration (${(N / (cpu / 1000)).toFixed(0)}/s of witnessd CPU), ${failed} failed`);
      }
    }
  } finally {
    await w.stop();
  }

  function krb5Registration(port: number, stub: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
      const deframer = new Deframer(1 << 16);
      let ctx: GssCtx | null = null;
      let state = 0;
      const fail = (e: Error): void => {
        s.destroy();
        if (ctx) api.release(ctx);
        reject(e);
      };
      s.on('error', fail);
      s.on('connect', () => {
        const c1 = api.init(TARGET, null, null, REQ);
        ctx = c1.ctx;
        s.write(serializePdu({
          ptype: PType.BIND, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG | PFC.SUPPORT_HEADER_SIGN, callId: 1, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0,
          contexts: [{ contextId: 0, abstract: { uuid: WITNESS_INTERFACE.uuid, version: WITNESS_INTERFACE.versionMajor, minor: WITNESS_INTERFACE.versionMinor }, transfers: [NDR20] }],
          auth: { type: AuthType.KERBEROS, level: AuthLevel.INTEGRITY, pad: Buffer.alloc(0), contextId: 0, value: c1.token ?? Buffer.alloc(0) },
        }));
      });
      s.on('data', (chunk: Buffer) => {
        try {
          for (const f of deframer.push(chunk)) {
            const { pdu, layout } = parseFragment(f);
            if (state === 0) {
              if (pdu.ptype !== PType.BIND_ACK || !pdu.auth || !ctx) throw new Error(`bind answered with PDU type ${pdu.ptype}`);
              const c2 = api.init(TARGET, ctx, Buffer.from(pdu.auth.value), REQ);
              s.write(serializePdu({ ptype: PType.AUTH3, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId: 1, auth: { type: AuthType.KERBEROS, level: AuthLevel.INTEGRITY, pad: Buffer.alloc(0), contextId: 0, value: c2.token ?? Buffer.alloc(0) } }));
              const micSize = api.sizes(ctx, 16).mic;
              const pad = (AUTH_PAD_ALIGN - (stub.length % AUTH_PAD_ALIGN)) % AUTH_PAD_ALIGN;
              const req = serializePdu({
                ptype: PType.REQUEST, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId: 2, allocHint: stub.length, contextId: 0, opnum: Opnum.RegisterEx, object: null, stub,
                auth: { type: AuthType.KERBEROS, level: AuthLevel.INTEGRITY, pad: Buffer.alloc(pad), contextId: 0, value: Buffer.alloc(micSize) },
              });
              const authStart = 24 + stub.length + pad + SEC_TRAILER_SIZE;
              api.getMic(ctx, req.subarray(0, authStart)).copy(req, authStart);
              s.write(req);
              state = 1;
            } else {
              if (pdu.ptype !== PType.RESPONSE || !pdu.auth || !ctx) throw new Error(`RegisterEx answered with PDU type ${pdu.ptype}`);
              api.verifyMic(ctx, f.subarray(0, layout.authStart), Buffer.from(pdu.auth.value));
              if (decodeHandleAndStatus(pdu.stub).status !== 0) throw new Error('RegisterEx refused');
              s.destroy();
              api.release(ctx);
              resolve();
            }
          }
        } catch (e) {
          fail(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
  }

  async function ntlmRegistration(port: number, stub: Buffer): Promise<void> {
    const c = await RawClient.connect(port);
    try {
      const ack = await c.bind(0, false, benchCredentials(AuthLevel.INTEGRITY));
      if (ack.ptype !== PType.BIND_ACK) throw new Error('bind refused');
      const p = await c.call(Opnum.RegisterEx, stub);
      if (p.ptype !== PType.RESPONSE || decodeHandleAndStatus(p.stub).status !== 0) throw new Error('RegisterEx refused');
    } finally {
      await c.close();
    }
  }
} finally {
  await d.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}
