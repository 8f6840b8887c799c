// A long-running child the agent starts, finds again and stops: pidfile under HA_RSCTMP (per
// node, tmpfs), identity checked through /proc/PID/cmdline (the PID space may be shared — test
// clusters in namespaces share it — so "kill -0 works" does not mean "it is ours").

import { childProcess } from './child-process.ts';
import fs from 'node:fs';
import path from 'node:path';

export interface DaemonSpec {
  /** Name for messages, e.g. "witness-agent watch". */
  name: string;
  pidfile: string;
  /** Created by the daemon once it is ready (it is removed before start). */
  readyFile: string;
  command: string;
  args: string[];
  cwd: string;
  logFile: string;
  /** Every one of these must appear in /proc/PID/cmdline. */
  marks: string[];
  /** The daemon's environment: the agent's own (Pacemaker's OCF_* variables included) when absent. */
  env?: NodeJS.ProcessEnv;
}

export type DaemonState = { state: 'running'; pid: number } | { state: 'stopped' } | { state: 'crashed'; pid: number };

function cmdline(pid: number): string[] | null {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return null;
  }
}

function isZombie(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

export function readPid(file: string): number | null {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : null;
  } catch {
    return null;
  }
}

function isOurs(spec: DaemonSpec, pid: number): boolean {
  const args = cmdline(pid);
  if (!args || isZombie(pid)) return false;
  const joined = args.join(' ');
  return spec.marks.every((m) => joined.includes(m));
}

export function daemonState(spec: DaemonSpec): DaemonState {
  const pid = readPid(spec.pidfile);
  if (pid === null) return { state: 'stopped' };
  return isOurs(spec, pid) ? { state: 'running', pid } : { state: 'crashed', pid };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts the daemon detached (it outlives the agent) and waits for its ready file. */
export async function startDaemon(spec: DaemonSpec, waitMs: number): Promise<number> {
  fs.mkdirSync(path.dirname(spec.pidfile), { recursive: true });
  fs.mkdirSync(path.dirname(spec.logFile), { recursive: true, mode: 0o700 });
  fs.rmSync(spec.readyFile, { force: true });
  const log = fs.openSync(spec.logFile, 'a', 0o600);
  let pid: number | undefined;
  try {
    const child = childProcess().spawn(spec.command, spec.args, { cwd: spec.cwd, detached: true, stdio: ['ignore', log, log], env: spec.env ?? process.env });
    pid = child.pid;
    child.unref();
  } finally {
    fs.closeSync(log);
  }
  if (pid === undefined) throw new Error(`cannot start ${spec.name} (${spec.command})`);
  fs.writeFileSync(spec.pidfile, `${pid}\n`);
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (fs.existsSync(spec.readyFile)) return pid;
    if (!isOurs(spec, pid)) throw new Error(`${spec.name} exited during start; see ${spec.logFile}`);
    await sleep(50);
  }
  throw new Error(`${spec.name} (pid ${pid}) did not become ready within ${Math.round(waitMs / 1000)} s; see ${spec.logFile}`);
}

/** SIGTERM, wait, SIGKILL when the wait runs out; idempotent. */
export async function stopDaemon(spec: DaemonSpec, waitMs: number): Promise<void> {
  const pid = readPid(spec.pidfile);
  if (pid !== null && isOurs(spec, pid)) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + waitMs;
    while (isOurs(spec, pid) && Date.now() < deadline) await sleep(50);
    if (isOurs(spec, pid)) {
      process.kill(pid, 'SIGKILL');
      while (isOurs(spec, pid)) await sleep(20);
    }
  }
  fs.rmSync(spec.pidfile, { force: true });
  fs.rmSync(spec.readyFile, { force: true });
}
