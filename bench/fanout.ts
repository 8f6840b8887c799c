// Benchmark: notification fan-out. N clients, each on its own connection with a registration and
// an AsyncNotify pending, one cluster event written to the store the way the agent writes it, and
// the time until every client has its reply. Also the single-client latency from the event's
// commit to the reply, memory per connection + registration + pending call (witnessd's RSS), and
// an admin move applied to every registration (none may be lost). Prints figures, asserts nothing.
// The fan-out is timed twice: with this process asleep between replies and busy-polling (see run()).
// With --auth seal (or both, the default) the same run is repeated with every client authenticated
// by NTLMSSP at privacy (bind + AUTH3 against a local account file, every request and reply
// sealed): the replies are unsealed and their signatures checked once all have arrived, and the
// fan-out time and memory per client are printed next to the unauthenticated ones.
//   node --import tsx bench/fanout.ts [N ...] [--auth none|seal|both]   (default: 1 1000 10000, both)

import { performance } from 'node:perf_hooks';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { diffViews } from '../agent/diff.ts';
import { openStore } from '../store/index.ts';
import { decodeAsyncNotifyResponse, decodeHandleAndStatus, encodeRegisterEx } from '../service/swn/codec.ts';
import { MessageType, Opnum, WitnessVersion } from '../service/swn/constants.ts';
import { parsePdu, PFC, PType, serializePdu } from '../service/rpc/pdu.ts';
import { AuthLevel } from '../service/auth/context.ts';
import { RawClient, stubOf, type ClientAuth } from '../test/helpers/rpc-client.ts';
import { ip, ROOT, startWitnessd, twoNodeView, type Witnessd } from '../test/peers/peers.ts';
import { benchCredentials, killOnExit, machineBusyMs, makeAccountFile, threadsCpuMs, threadsCpuSplit } from './auth-common.ts';
import { settledStatusOf, waitPending } from './witnessd-probe.ts';
import os from 'node:os';
import { commitSync } from '../store/view.ts';

const argv = process.argv.slice(2);
const authAt = argv.indexOf('--auth');
const AUTH = authAt >= 0 ? argv[authAt + 1] ?? 'both' : 'both';
if (!['none', 'seal', 'both'].includes(AUTH)) throw new Error(`--auth ${AUTH}: none, seal or both`);
const sizes = argv.filter((_, i) => authAt < 0 || (i !== authAt && i !== authAt + 1)).map(Number).filter((n) => n > 0);
const NS = sizes.length > 0 ? sizes : [1, 1000, 10000];

function q(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}
const fmt = (xs: number[]): string => `p50 ${q(xs, 0.5).toFixed(1)} ms, p99 ${q(xs, 0.99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

let epoch = 100;
/** Where 127.0.0.2 is (twoNodeView starts it on n2). */
let vipOn = 'n2';
/** Moves 127.0.0.2 to the other node through the agent's own commit path; returns the commit time. */
function moveVip(db: string): number {
  const node = vipOn === 'n1' ? 'n2' : 'n1';
  vipOn = node;
  const s = openStore(db);
  try {
    const t = performance.timeOrigin + performance.now();
    commitSync(s, twoNodeView(++epoch, { ips: [ip('127.0.0.1', 'n1', 'vip1'), ip('127.0.0.2', node, 'vip2')] }), diffViews);
    return t;
  } finally {
    s.close();
  }
}

interface Client {
  c: RawClient;
  handle: Buffer;
  n: number;
  /** The reply being waited for: when its first bytes arrived, and the bytes. */
  wait: { callId: number; at: number; chunks: Buffer[]; done: () => void } | null;
}

let callIds = 1000;
async function connectAll(w: Witnessd, n: number, auth: ClientAuth | null): Promise<Client[]> {
  const out: Client[] = [];
  const batch = 200;
  for (let i = 0; i < n; i += batch) {
    const part = await Promise.all(Array.from({ length: Math.min(batch, n - i) }, async (_, j) => {
      const c = await RawClient.connect(w.port);
      await c.bind(0, false, auth);
      const reg = decodeHandleAndStatus(stubOf(await c.call(Opnum.RegisterEx, encodeRegisterEx({
        version: WitnessVersion.V2, netName: 'FILESRV', shareName: null, ipAddress: '127.0.0.2', clientName: `bench-${i + j}`, flags: 0, keepAliveSec: 600,
      }))));
      if (reg.status !== 0) throw new Error(`RegisterEx failed: ${reg.status}`);
      // From here on this client is driven raw (armAll): the 'data' handler only takes a
      // timestamp and keeps the bytes, so 10,000 replies arriving at once are timed as they
      // arrive, not after the benchmark has parsed the ones before them.
      const cl: Client = { c, handle: reg.handle, n: i + j, wait: null };
      c.socket.removeAllListeners('data');
      c.socket.on('data', (d: Buffer) => {
        const w = cl.wait;
        if (!w) return;
        if (w.chunks.length === 0) w.at = performance.timeOrigin + performance.now();
        w.chunks.push(d);
        const all = w.chunks.length === 1 ? d : Buffer.concat(w.chunks);
        if (all.length >= 10 && all.length >= all.readUInt16LE(8)) w.done();
      });
      return cl;
    }));
    out.push(...part);
  }
  return out;
}

/**
 * Issues AsyncNotify on every client; resolves per client with the arrival time of its reply.
 * Replies are parsed only once all have arrived, so the benchmark's own work does not delay
 * reading the later ones.
 */
async function armAll(clients: Client[]): Promise<{ at: number; type: number | null; status: number }[]> {
  const waits = await Promise.all(clients.map((cl) => {
    const callId = ++callIds;
    return new Promise<NonNullable<Client['wait']>>((resolve) => {
      const w: NonNullable<Client['wait']> = { callId, at: 0, chunks: [], done: () => { resolve(w); } };
      cl.wait = w;
      // Unauthenticated: exactly the PDU this benchmark always sent; sealed: the client seals it.
      cl.c.write(cl.c.level === AuthLevel.NONE
        ? serializePdu({ ptype: PType.REQUEST, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId, allocHint: cl.handle.length, contextId: 0, opnum: Opnum.AsyncNotify, object: null, stub: cl.handle, auth: null })
        : cl.c.request(callId, Opnum.AsyncNotify, cl.handle));
    });
  }));
  for (const cl of clients) cl.wait = null;
  // witnessd's CPU time now, when the last reply has arrived: before this process parses (or
  // unseals) any of them, so that the sealed run's longer opening does not lengthen the window
  // in which witnessd's own later work (its journal's write of the audit rows) is counted.
  const at = cpuPid > 0 ? threadsCpuSplit(cpuPid) : { total: NaN, main: NaN };
  lastArrivedCpuMs = at.total;
  lastArrivedMainMs = at.main;
  const u0 = performance.now();
  const out = waits.map((w, i) => {
    // Sealed: unsealed in place and its signature checked (throws if it does not verify).
    const c = clients[i]?.c;
    const pdu = c ? c.open(Buffer.concat(w.chunks)) : parsePdu(Buffer.concat(w.chunks));
    if (pdu.callId !== w.callId) throw new Error(`reply to call ${pdu.callId}, expected ${w.callId}`);
    const r = decodeAsyncNotifyResponse(stubOf(pdu));
    return { at: w.at, type: r.type, status: r.status };
  });
  lastOpenMs = performance.now() - u0;
  return out;
}
/** How long the last armAll took to parse (and, sealed, unseal and verify) all its replies. */
let lastOpenMs = 0;
/** witnessd's pid, and its CPU time (all threads) when the last armAll's last reply arrived. */
let cpuPid = 0;
let lastArrivedCpuMs = NaN;
let lastArrivedMainMs = NaN;

/** What one run measured, for the sealed-versus-unauthenticated comparison. */
interface Summary {
  firstMs: number;
  asleepMedianMs: number;
  spinMedianMs: number;
  /** witnessd's CPU time (all threads) per warm event, from the commit to the last reply's arrival. */
  cpuMs: number[];
  /** The same from the commit to 300 ms after the last reply: the whole event, its journal write included. */
  wholeCpuMs: number[];
  /** The main thread's part of cpuMs (the rest: V8's compiler and garbage-collector helpers, libuv's pool). */
  mainCpuMs: number[];
  /** CPU time the machine's other processes used during each warm event (the machine is shared). */
  otherMs: number[];
  rssKb: number;
  gcRssKb: number;
  heapKb: number;
  openMs: number[];
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** `accounts`: an account file; the clients then authenticate with NTLMSSP at privacy (sealed). */
async function run(n: number, accounts: string | null): Promise<Summary> {
  vipOn = 'n2'; // a fresh store: twoNodeView puts 127.0.0.2 on n2
  const sealed = accounts !== null;
  const N = sealed ? `${n} sealed` : `${n}`; // how lines name the run
  const summary: Summary = { firstMs: NaN, asleepMedianMs: NaN, spinMedianMs: NaN, cpuMs: [], wholeCpuMs: [], mainCpuMs: [], otherMs: [], rssKb: NaN, gcRssKb: NaN, heapKb: NaN, openMs: [] };
  // The re-registration workaround would drop every registration 5 s after the first event; off here.
  const w = await startWitnessd({
    nodeArgs: ['--expose-gc', ...(process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean)],
    extra: ['--log-level', process.env['BENCH_LOG'] ?? 'info', '--force-unregister-after', '0'],
    ...(sealed ? { auth: ['--accounts', accounts] } : {}),
  });
  const release = killOnExit(w.proc.pid);
  cpuPid = w.proc.pid ?? 0;
  try {
    const base = rssKb(w.proc.pid ?? 0);
    const baseGc = await settledStatusOf(w);
    const clients = await connectAll(w, n, sealed ? benchCredentials(AuthLevel.PRIVACY) : null);
    stage = 'arm1';
    let replies = armAll(clients);
    await waitPending(w.db, n);
    const loaded = rssKb(w.proc.pid ?? 0);
    const loadedGc = await settledStatusOf(w);
    summary.rssKb = (loaded - base) / n;
    summary.gcRssKb = (loadedGc.rss - baseGc.rss) / n;
    summary.heapKb = (loadedGc.heapUsed - baseGc.heapUsed) / n;
    console.log(`N=${N}: memory per ${sealed ? 'sealed ' : ''}connection + registration + pending call: ${summary.rssKb.toFixed(2)} KB of witnessd RSS as it runs; after a full GC ${summary.gcRssKb.toFixed(2)} KB of RSS, of which JS heap ${summary.heapKb.toFixed(2)} KB`);
    // 1. One event, every client told; ROUNDS times, because the first event after start runs
    //    cold code (V8 compiles the notification path on first use) and a daemon lives for months.
    //    Then ROUNDS more with the benchmark's event loop busy-polling. Why both: over loopback the
    //    kernel runs the receiving side of every reply in witnessd's write() (TCP receive, then
    //    waking the reader), so when this process sleeps in epoll between replies, witnessd's CPU
    //    pays for waking it, ~10,000 times. Real clients are other machines: their TCP receive and
    //    wake-ups cost the witness node nothing. With this process polling (never asleep), the
    //    wake-ups go away but the receive path stays in witnessd's write(): still more than a
    //    real network costs witnessd, and the closer of the two to it.
    const ROUNDS = 5;
    const modes = [
      { name: 'clients asleep between replies (witnessd pays their wake-ups)', spin: false },
      { name: 'clients busy-polling (no wake-ups; closer to remote clients)', spin: true },
    ];
    let round = 0;
    for (const mode of modes) {
      const allReplied: number[] = [];
      for (let k = 1; k <= ROUNDS; k++) {
        round++;
        stage = `move${round}`;
        if (round > 1) {
          replies = armAll(clients);
          await waitPending(w.db, n);
        }
        let spinning = mode.spin;
        const spin = (): void => {
          if (spinning) setImmediate(spin); // a pending immediate makes libuv poll with timeout 0
        };
        spin();
        const split0 = threadsCpuSplit(w.proc.pid ?? 0);
        const cpu0 = split0.total;
        const busy0 = machineBusyMs();
        const self0 = process.cpuUsage();
        const t0 = moveVip(w.db);
        const got = await replies;
        const cpu = lastArrivedCpuMs - cpu0;
        const self = process.cpuUsage(self0);
        const other = Math.max(0, machineBusyMs() - busy0 - cpu - (self.user + self.system) / 1000);
        if (round > 1) {
          summary.cpuMs.push(cpu);
          summary.mainCpuMs.push(lastArrivedMainMs - split0.main);
          summary.otherMs.push(other);
        }
        spinning = false;
        summary.openMs.push(lastOpenMs);
        const lat = got.map((g) => g.at - t0);
        const ok = got.filter((g) => g.type === MessageType.RESOURCE_CHANGE).length;
        allReplied.push(Math.max(...lat));
        await new Promise((r) => setTimeout(r, 300)); // pino writes asynchronously
        if (round > 1) summary.wholeCpuMs.push(threadsCpuMs(w.proc.pid ?? 0) - cpu0);
        const told = /"lagMs":(\d+),"queueMs":(\d+),"writtenMs":(\d+)/.exec(w.logs().split('\n').filter((l) => l.includes('"events told"')).at(-1) ?? '');
        const which = `${mode.spin ? 'busy-polling' : 'asleep'}, event ${round}${round === 1 ? ' (the first after start)' : ''}`;
        if (told) console.log(`N=${N}, ${which}: witnessd's own account: picked it up ${told[1]} ms after its commit, queued it for every registration in ${told[2]} ms, all replies handed to the kernel ${told[3]} ms after the commit`);
        console.log(`N=${N}, ${which}: fan-out of one ip_moved event: all ${ok}/${n} replied${sealed ? ' (unsealed and verified after the last arrived)' : ''} within ${Math.max(...lat).toFixed(1)} ms of the commit; per client ${fmt(lat)}; witnessd used ${cpu.toFixed(0)} ms of CPU meanwhile, other processes ~${other.toFixed(0)} ms`);
        // The second half of the move (AVAILABLE) is queued; collect it so the next round starts clean.
        await armAll(clients);
      }
      const first = mode.spin ? [] : allReplied.slice(0, 1);
      const warm = (mode.spin ? allReplied : allReplied.slice(1)).sort((a, b) => a - b);
      const head = first.length > 0 ? `event 1 (cold) ${first[0]?.toFixed(1) ?? '?'} ms; ` : '';
      if (mode.spin) summary.spinMedianMs = median(warm);
      else {
        summary.firstMs = first[0] ?? NaN;
        summary.asleepMedianMs = median(warm);
      }
      console.log(`N=${N}, ${mode.name}: all replied within: ${head}warm events median ${(warm[Math.floor(warm.length / 2)] ?? NaN).toFixed(1)} ms, best ${(warm[0] ?? NaN).toFixed(1)} ms, worst ${(warm.at(-1) ?? NaN).toFixed(1)} ms`);
    }
    // 2. Single-client latency, repeated (on the first client).
    stage = 'single';
    // Single-client latency: only with one client (every move would queue notifications for all).
    if (n === 1) {
      const single: number[] = [];
      const first = clients[0];
      for (let i = 0; first && i < 200; i++) {
        const pending = armAll([first]);
        await new Promise((r) => setTimeout(r, 2));
        const t = moveVip(w.db);
        const [r1] = await pending;
        single.push((r1?.at ?? NaN) - t);
        await armAll([first]); // the AVAILABLE half
      }
      console.log(`N=${N}: single-client latency, event commit → reply, 200 runs: ${fmt(single)}`);
    }
    // 3. An admin move of every registration: none may be lost.
    stage = 'admin';
    replies = armAll(clients);
    await waitPending(w.db, n);
    const ta = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'service/ctl/main.ts'), 'client-move', '--apply-to-all', '--to-node', 'n1', '--db', w.db, '--wait-ms', '60000'], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    const moved = (await replies).filter((g) => g.type === MessageType.CLIENT_MOVE).length;
    console.log(`N=${N}: admin client-move --apply-to-all: ${moved}/${n} clients got CLIENT_MOVE (${n - moved} lost) in ${Date.now() - ta} ms including witnessctl's start-up`);
    await Promise.all(clients.map((c) => c.c.close()));
    return summary;
  } catch (err) {
    console.error(w.logs().split('\n').filter((l) => /"level":(4|5)0|closing/.test(l)).slice(-5).join('\n'));
    throw err;
  } finally {
    if (process.env['BENCH_DUMP']) fs.writeFileSync(process.env['BENCH_DUMP'], w.logs());
    await w.stop();
    release();
  }
}

let stage = '';
process.on('unhandledRejection', (e) => { console.error('unhandled in stage', stage, e); process.exit(1); });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-fanout-'));
try {
  const accounts = AUTH === 'none' ? null : makeAccountFile(dir);
  for (const n of NS) {
    const plain = AUTH === 'seal' ? null : await run(n, null);
    const sealed = accounts === null ? null : await run(n, accounts);
    if (!plain || !sealed) continue;
    const ratio = (a: number, b: number): string => `${a.toFixed(1)} vs ${b.toFixed(1)} ms (${(a / b).toFixed(2)}×)`;
    console.log(`N=${n}, sealed (NTLMSSP privacy) vs unauthenticated, all replied within: first event ${ratio(sealed.firstMs, plain.firstMs)}; warm, clients asleep, median ${ratio(sealed.asleepMedianMs, plain.asleepMedianMs)}; warm, busy-polling, median ${ratio(sealed.spinMedianMs, plain.spinMedianMs)}`);
    console.log(`N=${n}, witnessd's CPU time per warm event (commit → last reply arrived), median, sealed vs unauthenticated: ${ratio(median(sealed.cpuMs), median(plain.cpuMs))} (main thread ${ratio(median(sealed.mainCpuMs), median(plain.mainCpuMs))}); the machine's other processes meanwhile, median ${median(sealed.otherMs).toFixed(0)} and ${median(plain.otherMs).toFixed(0)} ms per event; the whole event (commit → 300 ms after the last reply, the journal's write of its audit rows included) ${ratio(median(sealed.wholeCpuMs), median(plain.wholeCpuMs))}`);
    console.log(`N=${n}, memory per client, sealed vs unauthenticated: ${sealed.rssKb.toFixed(2)} vs ${plain.rssKb.toFixed(2)} KB RSS as it runs; after a full GC ${sealed.gcRssKb.toFixed(2)} vs ${plain.gcRssKb.toFixed(2)} KB RSS, JS heap ${sealed.heapKb.toFixed(2)} vs ${plain.heapKb.toFixed(2)} KB`);
    console.log(`N=${n}, this process unsealing and verifying all ${n} replies after they arrived (not in the figures above): median ${median(sealed.openMs).toFixed(1)} ms per event`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
