// The environment an agent runs in: OCF_RESKEY_* parameters (Pacemaker does NOT export
// meta-data defaults, so every getter applies its own), the action, probe detection, HA_RSCTMP.

export function action(argv: readonly string[] = process.argv): string | undefined {
  // ocf-tester and some tools set __OCF_ACTION; Pacemaker passes the action as the first argument.
  return argv[2] ?? process.env['__OCF_ACTION'];
}

export function param(name: string, dflt: string): string {
  const v = process.env[`OCF_RESKEY_${name}`];
  return v === undefined || v === '' ? dflt : v;
}

export function paramSet(name: string): boolean {
  const v = process.env[`OCF_RESKEY_${name}`];
  return v !== undefined && v !== '';
}

export function instance(): string {
  return process.env['OCF_RESOURCE_INSTANCE'] ?? 'witnessd';
}

/** Milliseconds of the current operation's timeout (OCF_RESKEY_CRM_meta_timeout), or a default. */
export function timeoutMs(dflt: number): number {
  const v = Number(process.env['OCF_RESKEY_CRM_meta_timeout']);
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

/** A probe is a monitor with no interval: it asks "is it running here?" and must not shout. */
export function isProbe(act: string | undefined): boolean {
  if (act !== 'monitor') return false;
  const v = process.env['OCF_RESKEY_CRM_meta_interval'];
  return v === undefined || v === '' || v === '0';
}

/** Per-node runtime state directory (tmpfs, cleared at boot). */
export function rscTmp(): string {
  return process.env['HA_RSCTMP'] ?? '/run/resource-agents';
}

export function checkLevel(): number {
  const v = Number(process.env['OCF_CHECK_LEVEL'] ?? '0');
  return Number.isFinite(v) ? v : 0;
}
