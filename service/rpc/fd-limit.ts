// How many connections the process can hold: the soft limit on open descriptors (RLIMIT_NOFILE,
// read from /proc, which Node does not expose otherwise) less room for what else the process
// opens — the store and its WAL, logs, the CIB helper's pipes, helpers such as ntlm_auth.

import fs from 'node:fs';

/** Descriptors kept back from client connections: a fixed floor, plus a share of the limit. */
const HEADROOM_FIXED = 64;
const HEADROOM_SHARE = 0.05;

/** The soft limit on open files, or null when it cannot be read (then nothing is derived). */
export function openFilesLimit(limitsFile = '/proc/self/limits'): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(fs.readFileSync(limitsFile, 'utf8'));
    if (!m || m[1] === 'unlimited') return null;
    return Number(m[1]);
  } catch {
    return null;
  }
}

/** Connections the process may accept in all, given its descriptor limit (null: no limit known). */
export function connectionsAllowedBy(fdLimit: number | null): number | null {
  if (fdLimit === null) return null;
  return Math.max(1, Math.floor(fdLimit - HEADROOM_FIXED - fdLimit * HEADROOM_SHARE));
}
