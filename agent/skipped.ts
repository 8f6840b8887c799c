// Warnings about IP resources the agent leaves out of the view (an address a client cannot use:
// agent/placement.ts ipOf). Each is logged once, when it first appears, not on every sync: the
// watcher syncs on every CIB change, and a bad value would otherwise repeat for as long as it is
// configured. A resource is warned about again only after it was fixed (or removed) and broke
// again, or with another bad value; memory is bounded by what the current CIB skips.

import type { Logger } from 'pino';
import type { SkippedIp } from './placement.ts';

/** The warning's text: names the resource, the parameter and its value, and what was done. */
export function describeSkipped(s: SkippedIp): string {
  if (s.param === null || s.value === null) return `IP resource ${s.resource} (${s.agent}) skipped: it has no address parameter`;
  const what = `${s.param}=${JSON.stringify(s.value)}`;
  if (s.zone !== undefined) {
    return `IP resource ${s.resource} skipped: ${what} is ${s.reason}; the zone is not stripped, as clients on other hosts and networks could not reach the address`;
  }
  return `IP resource ${s.resource} skipped: ${what} is not usable: ${s.reason}`;
}

export class SkippedIpLog {
  private readonly logger: Logger;
  /** resource, param, value of what the previous report skipped. */
  private current = new Set<string>();

  constructor(logger: Logger) {
    this.logger = logger;
  }

  /** Called after every sync with what it skipped; warns about each entry not skipped last time. */
  report(skipped: readonly SkippedIp[]): void {
    const next = new Set<string>();
    for (const s of skipped) {
      const key = JSON.stringify([s.resource, s.param, s.value]);
      next.add(key);
      if (this.current.has(key)) continue;
      this.logger.warn({ resource: s.resource, agent: s.agent, param: s.param, value: s.value, ...(s.zone !== undefined ? { zone: s.zone } : {}) }, describeSkipped(s));
    }
    this.current = next;
  }
}
