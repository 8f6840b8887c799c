// Logging the OCF way (as ocf-shellfuncs and ocf.py do): syslog through logger(1) with the tag
// "witnessd(<instance>)[<pid>]" when HA_LOGFACILITY names a facility, HA_LOGFILE/HA_DEBUGLOG
// appended when set, stderr when it is a terminal; debug only with HA_debug=1. Exit reasons go to
// stderr prefixed with OCF_EXIT_REASON_PREFIX, where Pacemaker picks them up.

import { childProcess } from './child-process.ts';
import fs from 'node:fs';
import { instance } from './env.ts';

export type OcfLogLevel = 'debug' | 'info' | 'notice' | 'warning' | 'err' | 'crit';

const debugOn = (): boolean => process.env['HA_debug'] === '1';

export function ocfLog(level: OcfLogLevel, msg: string): void {
  if (level === 'debug' && !debugOn()) return;
  const tag = `witnessd(${instance()})[${process.pid}]`;
  const facility = process.env['HA_LOGFACILITY'];
  if (facility !== undefined && facility !== '' && facility !== 'none') {
    childProcess().spawnSync('logger', ['-t', tag, '-p', `${facility}.${level}`, '--', msg], { stdio: 'ignore', timeout: 2000 });
  }
  const line = `${new Date().toISOString()} ${tag}: ${level.toUpperCase()}: ${msg}\n`;
  for (const f of [process.env['HA_LOGFILE'], level === 'debug' ? process.env['HA_DEBUGLOG'] : undefined]) {
    if (f !== undefined && f !== '') {
      try {
        fs.appendFileSync(f, line);
      } catch {
        // A log file we cannot write (meta-data runs as nobody) must not fail the action.
      }
    }
  }
  if (process.stderr.isTTY) process.stderr.write(line);
}

/** Writes the exit reason Pacemaker shows as "exit-reason" (not for probes: they are expected to fail). */
export function exitReason(msg: string, probe: boolean): void {
  if (probe) return;
  const prefix = process.env['OCF_EXIT_REASON_PREFIX'] ?? 'ocf-exit-reason:';
  process.stderr.write(`${prefix}${msg}\n`);
}
