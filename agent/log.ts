// pino JSON on stderr for the agent's long-running and CLI commands (stdout stays for output).
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../store/log-levels.ts';

export function makeLogger(name: string, level: LogLevel = 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
