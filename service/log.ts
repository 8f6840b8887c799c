// witnessd's logger: pino JSON lines on stdout. Each line starts with a syslog priority prefix
// (<3> error, <4> warn, <6> info, <7> debug) when --log-format journal is chosen, so that
// `journalctl -p err` works under systemd; journald strips the prefix.
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../store/log-levels.ts';

export type LogFormat = 'json' | 'journal';

const PRIORITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

export function makeServiceLogger(level: LogLevel = 'info', format: LogFormat = 'json', fd = 1): Logger {
  return pino(
    {
      name: 'witnessd',
      level,
      base: { pid: process.pid },
      ...(format === 'journal'
        ? {
            hooks: {
              streamWrite: (s: string): string => {
                const m = /"level":(\d+)/.exec(s);
                return `<${PRIORITY[Number(m?.[1])] ?? 6}>${s}`;
              },
            },
          }
        : {}),
    },
    pino.destination({ fd, sync: false }),
  );
}
