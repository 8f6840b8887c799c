// One log line per kind per second, with how many were suppressed: a hostile or broken client
// that hits a limit thousands of times a second must not flood the log.

import type { Logger } from 'pino';

export class LimitLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  warn(kind: string, obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const e = this.last.get(kind);
    if (e && now - e.at < 1000) {
      e.suppressed++;
      return;
    }
    this.last.set(kind, { at: now, suppressed: 0 });
    this.logger.warn(Object.assign({}, obj, { limit: kind, suppressedSinceLast: e?.suppressed ?? 0 }), msg);
  }
}
