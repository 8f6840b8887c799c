// Benchmark: a registration storm. N new clients at once (a failover sends every client of the
// cluster to the surviving node), each: TCP connect → bind with NTLMSSP at integrity (NEGOTIATE in
// the bind, CHALLENGE in the bind_ack, AUTHENTICATE in an AUTH3) → RegisterEx (a signed request;
// the signed response is verified) → AsyncNotify, left pending. Timed from the first connect to
// the last AsyncNotify pending in witnessd's store. The same storm, in the same run, against
// witnessd with passwords from a local account file (--accounts FILE), through Samba's winbind
// (a private standalone Samba, test/helpers/samba-standalone.ts, when its packages are there) and
// without authentication (--auth none) for comparison. Prints figures, asserts nothing.
//
// The load generator (this process: 2 × N sockets' worth of TCP, the client half of NTLM, signing
// and verifying) runs on the same 2 cores as witnessd, so the rates are lower than witnessd alone
// could do; witnessd's own CPU time per registration (from /proc) is the figure that does not
// depend on that.
//
//   node --import tsx bench/register-storm.ts [--n 1000,5000] [--modes none,accounts,winbind]
//        [--runs 1] [--window N] [--winbind-window 250] [--winbind-helpers 2] [--warmup 200]
// Modes: none, accounts, winbind (witnessd asks winbindd over its privileged socket, the default
// path) and ntlm_auth (winbind through the ntlm_auth helpers: witnessd's winbindDirect false).
// --window: at most this many clients between connect and their AsyncNotify at a time (default:
// all N at once). Through winbind the default is 250: witnessd queues at most 256 password checks
// for its ntlm_auth helpers and refuses the rest as 'unavailable' (a larger window shows that).
// --winbind-helpers: witnessd's winbindHelpers setting (default 2): its connections to winbindd's
// privileged socket, or the ntlm_auth helpers in the ntlm_auth mode.
// --winbind-children N: the test Samba's `winbind max domain connections` (Samba's default 1): how
// many winbindd child processes check passwords side by side (one answers one logon at a time).

import { performance } from 'node:perf_hooks';
import { AuthLevel } from '../service/auth/context.ts';
import { decodeHandleAndStatus, encodeRegisterEx } from '../service/swn/codec.ts';
import { Opnum, WitnessVersion } from '../service/swn/constants.ts';
import { PType } from '../service/rpc/pdu.ts';
import { openStore } from '../store/index.ts';
import { countPendingRegistrations } from '../store/registrations.ts';
import { missingSambaPackages, startSambaStandalone, type SambaStandalone } from '../test/helpers/samba-standalone.ts';
import { RawClient, type ClientAuth } from '../test/helpers/rpc-client.ts';
import { startWitnessd, type Witnessd } from '../test/peers/peers.ts';
import { BENCH_PASSWORD, BENCH_USER, benchCredentials, killOnExit, machineBusyMs, makeAccountFile, openFileLimit, quantile, threadsCpuSplit, treeCpuDelta, treeCpuMs } from './auth-common.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

type Mode = 'none' | 'accounts' | 'winbind' | 'ntlm_auth';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const NS = (option('n') ?? '1000,5000').split(',').map(Number).filter((n) => n > 0);
const MODES = (option('modes') ?? 'none,accounts,winbind').split(',').filter((m): m is Mode => m === 'none' || m === 'accounts' || m === 'winbind' || m === 'ntlm_auth');
const RUNS = Math.max(1, Number(option('runs') ?? 1));
const WINDOW = option('window') !== undefined ? Number(option('window')) : null;
const WINBIND_WINDOW = Number(option('winbind-window') ?? 250);
const WARMUP = Number(option('warmup') ?? 200);
const WINBIND_HELPERS = option('winbind-helpers') !== undefined ? Number(option('winbind-helpers')) : null;
const WINBIND_CHILDREN = option('winbind-children') !== undefined ? Number(option('winbind-children')) : null;
/** Every storm ends within this, whatever happens. */
const STORM_DEADLINE_MS = 180_000;

const now = (): number => performance.now();

interface StormResult {
  n: number;
  ok: number;
  refused: Map<string, number>;
  /** First connect → last RegisterEx answered (and verified) and AsyncNotify sent. */
  registeredMs: number;
  /** First connect → the store shows every successful registration with its AsyncNotify pending. */
  pendingMs: number;
  latencies: number[];
  witnessdCpuMs: number;
  /** winbindd and its children, plus witnessd's children (ntlm_auth helpers). */
  helpersCpuMs: number;
  /** Of helpersCpuMs: winbindd's tree alone (the rest is witnessd's ntlm_auth helpers). */
  winbinddCpuMs: number;
  /** Of winbinddCpuMs: the main winbindd process (the rest is its children: the domain and idmap ones). */
  winbinddMainCpuMs: number;
  generatorCpuMs: number;
  /** CPU time the rest of the machine used meanwhile (other processes: the machine is shared). */
  otherCpuMs: number;
  /** The main thread's part of witnessdCpuMs, from schedstat (the rest: V8's compiler and GC helpers, libuv's pool). */
  witnessdMainCpuMs: number;
  /** witnessd's CPU time from schedstat, all threads (the same as witnessdCpuMs, without /proc/PID/stat's 10 ms ticks). */
  witnessdSchedCpuMs: number;
  clients: RawClient[];
}

function pendingCount(db: string): number {
  const s = openStore(db, { readonly: true });
  try {
    return countPendingRegistrations(s);
  } finally {
    s.close();
  }
}

/** One storm of `n` clients against a running witnessd. The clients stay connected (the caller closes them). */
async function storm(w: Witnessd, n: number, auth: ClientAuth | null, window: number, tag: string, helperRoots: number[]): Promise<StormResult> {
  const pid = w.proc.pid ?? 0;
  const basePending = pendingCount(w.db);
  const cpu0 = treeCpuMs([pid, ...helperRoots]);
  const threads0 = threadsCpuSplit(pid);
  const gen0 = process.cpuUsage();
  const busy0 = machineBusyMs();
  const clients: RawClient[] = [];
  const latencies: number[] = [];
  const refused = new Map<string, number>();
  const refuse = (why: string): void => { refused.set(why, (refused.get(why) ?? 0) + 1); };
  let next = 0;
  const deadline = now() + STORM_DEADLINE_MS;
  const t0 = now();
  const one = async (i: number): Promise<void> => {
    const ts = now();
    let c: RawClient;
    try {
      c = await RawClient.connect(w.port);
    } catch (err) {
      refuse(`connect: ${(err as Error).message}`);
      return;
    }
    clients.push(c);
    try {
      const ack = await c.bind(0, false, auth);
      if (ack.ptype !== PType.BIND_ACK) {
        refuse(`bind: PDU type ${ack.ptype}${ack.ptype === PType.BIND_NAK ? ` reason ${ack.reason}` : ''}`);
        return;
      }
      const r = await c.call(Opnum.RegisterEx, encodeRegisterEx({ version: WitnessVersion.V2, netName: 'FILESRV', shareName: null, ipAddress: '127.0.0.2', clientName: `${tag}-${i}`, flags: 0, keepAliveSec: 600 }));
      if (r.ptype !== PType.RESPONSE) {
        refuse(r.ptype === PType.FAULT ? `RegisterEx: fault 0x${r.status.toString(16)}` : `RegisterEx: PDU type ${r.ptype}`);
        return;
      }
      const reg = decodeHandleAndStatus(r.stub);
      if (reg.status !== 0) {
        refuse(`RegisterEx: status ${reg.status}`);
        return;
      }
      c.call(Opnum.AsyncNotify, reg.handle).catch(() => undefined); // left pending; rejected when closed
      latencies.push(now() - ts);
    } catch (err) {
      refuse((err as Error).message);
    }
  };
  const worker = async (): Promise<void> => {
    while (next < n && now() < deadline) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
  const registeredMs = now() - t0;
  const ok = latencies.length;
  for (;;) {
    const k = pendingCount(w.db) - basePending;
    if (k >= ok) break;
    if (now() > deadline) throw new Error(`${tag}: only ${k} of ${ok} AsyncNotify calls pending in the store`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const pendingMs = now() - t0;
  const gen = process.cpuUsage(gen0);
  const busy = machineBusyMs() - busy0;
  const cpu1 = treeCpuMs([pid, ...helperRoots]);
  const threads1 = threadsCpuSplit(pid);
  const witnessdCpuMs = (cpu1.pids.get(pid) ?? NaN) - (cpu0.pids.get(pid) ?? NaN);
  const all = treeCpuDelta(cpu0.pids, cpu1.pids);
  const winbindd0 = treeCpuMs(helperRoots);
  // Processes in winbindd's tree now, counted from the first snapshot (new ones from zero).
  const winbinddCpuMs = treeCpuDelta(new Map([...cpu0.pids].filter(([p]) => winbindd0.pids.has(p))), new Map([...cpu1.pids].filter(([p]) => winbindd0.pids.has(p))));
  const generatorCpuMs = (gen.user + gen.system) / 1000;
  const main = helperRoots[0];
  const winbinddMainCpuMs = main !== undefined ? (cpu1.pids.get(main) ?? 0) - (cpu0.pids.get(main) ?? 0) : 0;
  return { n, ok, refused, registeredMs, pendingMs, latencies, witnessdCpuMs, helpersCpuMs: all - witnessdCpuMs, winbinddCpuMs, winbinddMainCpuMs, generatorCpuMs, otherCpuMs: Math.max(0, busy - all - generatorCpuMs), witnessdMainCpuMs: threads1.main - threads0.main, witnessdSchedCpuMs: threads1.total - threads0.total, clients };
}

async function closeAll(clients: RawClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.close()));
}

function report(label: string, r: StormResult, withHelpers: boolean): string {
  const rate = (r.ok / r.pendingMs) * 1000;
  const refusedText = r.refused.size === 0 ? '' : `; REFUSED ${[...r.refused].map(([why, k]) => `${k} × ${why}`).join(', ')}`;
  const each = (ms: number): string => `${ms.toFixed(0)} ms (${(ms / Math.max(1, r.ok)).toFixed(3)} ms each)`;
  const helpers = withHelpers ? `, winbindd ${each(r.winbinddCpuMs)} (main process ${each(r.winbinddMainCpuMs)}, its children the rest), ntlm_auth helpers ${each(r.helpersCpuMs - r.winbinddCpuMs)}` : '';
  return `${label}: ${r.ok}/${r.n} registered${refusedText}; ${rate.toFixed(0)} registrations/s (first connect → last AsyncNotify pending in the store ${r.pendingMs.toFixed(0)} ms; → last RegisterEx answered ${r.registeredMs.toFixed(0)} ms); ` +
    `per registration, connect → RegisterEx answered: p50 ${quantile(r.latencies, 0.5).toFixed(1)} ms, p99 ${quantile(r.latencies, 0.99).toFixed(1)} ms; ` +
    `CPU: witnessd ${r.witnessdCpuMs.toFixed(0)} ms (${(r.witnessdCpuMs / Math.max(1, r.ok)).toFixed(3)} ms per registration → ${r.ok > 0 && r.witnessdCpuMs > 0 ? ((1000 * r.ok) / r.witnessdCpuMs).toFixed(0) : '?'}/s per core of witnessd alone; by thread: main ${r.witnessdMainCpuMs.toFixed(0)}, other threads ${(r.witnessdSchedCpuMs - r.witnessdMainCpuMs).toFixed(0)})${helpers}, load generator ${r.generatorCpuMs.toFixed(0)} ms, other processes on the machine ~${r.otherCpuMs.toFixed(0)} ms`;
}

interface Started {
  w: Witnessd;
  /** The clients' credentials for this witnessd (null: an unauthenticated bind). */
  auth: ClientAuth | null;
  /** Other processes whose CPU counts as the password checks' (winbindd; witnessd's ntlm_auth helpers are its children). */
  helperRoots: number[];
  stop: () => Promise<void>;
}

/** witnessd's stop(), with witnessd killed should this process die before calling it. */
function guardedStop(w: Witnessd): () => Promise<void> {
  const release = killOnExit(w.proc.pid);
  return async () => {
    await w.stop();
    release();
  };
}

interface ModeSetup {
  label: string;
  start: () => Promise<Started>;
  window: (n: number) => number;
}

function setups(dir: string): ModeSetup[] {
  const out: ModeSetup[] = [];
  const common = { extra: ['--log-level', process.env['BENCH_LOG'] ?? 'info'], nodeArgs: (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean) };
  for (const mode of MODES) {
    if (mode === 'none') {
      out.push({
        label: 'unauthenticated (--auth none)',
        window: (n) => WINDOW ?? n,
        start: async () => {
          const w = await startWitnessd({ ...common, auth: ['--auth', 'none'] });
          return { w, auth: null, helperRoots: [], stop: guardedStop(w) };
        },
      });
    } else if (mode === 'accounts') {
      const accounts = makeAccountFile(dir);
      out.push({
        label: 'NTLMSSP integrity, account file (--accounts)',
        window: (n) => WINDOW ?? n,
        start: async () => {
          const w = await startWitnessd({ ...common, auth: ['--accounts', accounts] });
          return { w, auth: benchCredentials(AuthLevel.INTEGRITY), helperRoots: [], stop: guardedStop(w) };
        },
      });
    } else {
      const missing = missingSambaPackages();
      if (missing.length > 0) {
        console.log(`winbind: skipped (the test Samba needs: ${missing.join(' ')})`);
        continue;
      }
      out.push({
        label: mode === 'winbind' ? `NTLMSSP integrity, winbind (--auth winbind, standalone Samba${WINBIND_CHILDREN !== null ? ` with winbind max domain connections = ${WINBIND_CHILDREN}` : ''}, winbindd's privileged socket, ${WINBIND_HELPERS ?? 2} connections)` : `NTLMSSP integrity, winbind through ntlm_auth (--auth winbind, winbindDirect false, standalone Samba, ${WINBIND_HELPERS ?? 2} ntlm_auth helpers)`,
        window: (n) => WINDOW ?? Math.min(n, WINBIND_WINDOW),
        start: async () => {
          const s: SambaStandalone = await startSambaStandalone({ users: [{ name: BENCH_USER, password: BENCH_PASSWORD }], winbindd: false });
          try {
            if (WINBIND_CHILDREN !== null) fs.appendFileSync(s.conf, `  winbind max domain connections = ${WINBIND_CHILDREN}\n`);
            await s.startWinbindd();
            const config: string[] = [];
            const settings = { ...(WINBIND_HELPERS !== null ? { winbindHelpers: WINBIND_HELPERS } : {}), ...(mode === 'ntlm_auth' ? { winbindDirect: false } : {}) };
            if (Object.keys(settings).length > 0) {
              const file = path.join(s.dir, 'witnessd.json');
              fs.writeFileSync(file, JSON.stringify(settings));
              config.push('--config', file);
            }
            const w = await startWitnessd({ ...common, auth: ['--auth', 'winbind', '--smb-conf', s.conf, ...config], env: s.env });
            // the path witnessd chose (it falls back to ntlm_auth, with a warning, when it cannot use winbindd's socket)
            const chosen = /"path":"(winbindd-direct|ntlm_auth)"/.exec(w.logs())?.[1];
            if (chosen !== (mode === 'winbind' ? 'winbindd-direct' : 'ntlm_auth')) {
              await w.stop();
              throw new Error(`witnessd checks passwords through ${chosen ?? '?'}, not as the ${mode} mode wants:\n${w.logs().split('\n').filter((l) => l.includes('winbind')).join('\n')}`);
            }
            return {
              w,
              // A standalone Samba's users log on in the domain named after its NetBIOS name.
              auth: benchCredentials(AuthLevel.INTEGRITY, s.domain),
              helperRoots: s.winbinddPid !== null ? [s.winbinddPid] : [],
              stop: async () => {
                await guardedStop(w)();
                await s.stop();
              },
            };
          } catch (err) {
            await s.stop();
            throw err;
          }
        },
      });
    }
  }
  return out;
}

async function main(): Promise<void> {
  const limit = openFileLimit();
  const need = Math.max(...NS) + WARMUP + 200;
  if (need > limit) {
    console.error(`ulimit -n is ${limit}: this process needs about ${need} descriptors (one per client), witnessd as many. Raise it first (ulimit -n ${need * 2}); Node cannot raise its own limit.`);
    process.exit(2);
  }
  console.log(`register-storm: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ulimit -n ${limit}. The load generator (this process) shares the CPUs with witnessd: registrations/s is for both together; witnessd's CPU ms per registration is its own cost.`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-storm-'));
  try {
    const modes = setups(dir);
    for (let run = 1; run <= RUNS; run++) {
      for (const n of NS) {
        for (const m of modes) {
          const { w, auth, helperRoots, stop } = await m.start();
          try {
            if (WARMUP > 0) {
              const warm = await storm(w, WARMUP, auth, Math.min(m.window(WARMUP), WARMUP), `warm-${run}-${n}`, helperRoots);
              console.log(`run ${run}, N=${n}, ${m.label}, warm-up storm on a fresh witnessd: ${report(`${WARMUP} clients`, warm, helperRoots.length > 0)}`);
              await closeAll(warm.clients);
              await new Promise((r) => setTimeout(r, 500));
            }
            const window = m.window(n);
            const r = await storm(w, n, auth, window, `storm-${run}-${n}`, helperRoots);
            console.log(`run ${run}, ${m.label}: ${report(`N=${n}${window < n ? ` (at most ${window} at a time)` : ' (all at once)'}`, r, helperRoots.length > 0)}`);
            await closeAll(r.clients);
          } catch (err) {
            console.error(w.logs().split('\n').filter((l) => /"level":(4|5)0/.test(l)).slice(-5).join('\n'));
            throw err;
          } finally {
            await stop();
          }
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
