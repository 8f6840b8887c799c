// Shared by the authentication benchmarks (bench/register-storm.ts, bench/fanout.ts --auth): an
// account file made with witnessctl, and CPU time of a process tree from /proc.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ntHash } from '../service/auth/crypto/md4.ts';
import type { ClientAuth } from '../test/helpers/rpc-client.ts';
import { ROOT } from '../test/peers/peers.ts';

export const BENCH_DOMAIN = 'WORKGROUP';
export const BENCH_USER = 'benchuser';
export const BENCH_PASSWORD = 'Bench-Pass.42';

/** An account file under `dir` holding DOMAIN\user, made the way an administrator does (witnessctl user add, password on stdin). */
export function makeAccountFile(dir: string, domain = BENCH_DOMAIN, user = BENCH_USER, password = BENCH_PASSWORD): string {
  const file = path.join(dir, 'accounts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'service/ctl/main.ts'), 'user', 'add', `${domain}\\${user}`, '--accounts', file], { cwd: ROOT, encoding: 'utf8', input: `${password}\n`, timeout: 30_000 });
  if (r.status !== 0) throw new Error(`witnessctl user add: ${r.stdout}${r.stderr}`);
  return file;
}

/** Client credentials with the NT hash computed once (the load generator's MD4 is not what is measured). */
export function benchCredentials(level: number, domain = BENCH_DOMAIN, user = BENCH_USER, password = BENCH_PASSWORD): ClientAuth {
  return { user, domain, password, ntHash: ntHash(password), level, workstation: 'BENCH' };
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

function statFields(pid: number): string[] | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU time (user + system, ms) a process has used, all its threads, from /proc/PID/stat. */
export function cpuMs(pid: number): number {
  const f = statFields(pid);
  if (!f) return NaN;
  // After the name: state(0) ppid(1) ... utime(11) stime(12)
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

/** CPU time (ms) of these processes and all their live descendants (processes gone by now are not counted). */
export function treeCpuMs(roots: number[]): { total: number; pids: Map<number, number> } {
  const parent = new Map<number, number>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const f = statFields(Number(e));
    if (f) parent.set(Number(e), Number(f[1]));
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, n = 0; p > 1 && n < 64; n++) {
      if (roots.includes(p)) return true;
      const up = parent.get(p);
      if (up === undefined) return false;
      p = up;
    }
    return false;
  };
  const pids = new Map<number, number>();
  let total = 0;
  for (const pid of parent.keys()) {
    if (!inTree(pid)) continue;
    const ms = cpuMs(pid);
    if (!Number.isFinite(ms)) continue;
    pids.set(pid, ms);
    total += ms;
  }
  return { total, pids };
}

/** CPU used by a tree between two snapshots, counting processes present in the second (new ones from zero). */
export function treeCpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let d = 0;
  for (const [pid, ms] of after) d += ms - (before.get(pid) ?? 0);
  return d;
}

export function quantile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}

/** The soft limit on open files (ulimit -n) of this process, from /proc. */
export function openFileLimit(): number {
  const m = /Max open files\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return m?.[1] === 'unlimited' ? Infinity : Number(m?.[1] ?? 1024);
}

/** CPU time (ms) the whole machine has spent busy (all CPUs, everything but idle and iowait), from /proc/stat. */
export function machineBusyMs(): number {
  const f = (fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) * TICK_MS;
}

const guarded = new Set<number>();
let hooked = false;

/**
 * Kills `pid` (SIGKILL) if this process exits while it still runs: an exception, Ctrl-C, a closed
 * pipe on stdout. The normal path stops it itself and then calls the returned release function.
 */
export function killOnExit(pid: number | undefined): () => void {
  if (pid === undefined) return () => undefined;
  guarded.add(pid);
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const p of guarded) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone
        }
      }
    });
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, () => { process.exit(130); });
    process.stdout.on('error', () => { process.exit(1); });
  }
  return () => { guarded.delete(pid); };
}

/**
 * CPU time (ms, nanosecond resolution) of all of a process's threads, from /proc/PID/task/TID/schedstat:
 * finer than /proc/PID/stat's 10 ms ticks, for one fan-out of a few hundred milliseconds.
 */
export function threadsCpuMs(pid: number): number {
  return threadsCpuSplit(pid).total;
}

/** threadsCpuMs, and the part of it the main thread (the one whose id is the pid) used. */
export function threadsCpuSplit(pid: number): { total: number; main: number } {
  let ns = 0;
  let mainNs = 0;
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        const v = Number((fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]) ?? 0);
        ns += v;
        if (t === String(pid)) mainNs = v;
      } catch {
        // thread gone
      }
    }
  } catch {
    return { total: NaN, main: NaN };
  }
  return { total: ns / 1e6, main: mainNs / 1e6 };
}
