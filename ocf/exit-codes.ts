// OCF exit codes (OCF 1.1 resource agent API; /usr/lib/ocf/lib/heartbeat/ocf-returncodes).
export const OCF = {
  SUCCESS: 0,
  ERR_GENERIC: 1,
  ERR_ARGS: 2,
  ERR_UNIMPLEMENTED: 3,
  ERR_PERM: 4,
  ERR_INSTALLED: 5,
  ERR_CONFIGURED: 6,
  NOT_RUNNING: 7,
  RUNNING_PROMOTED: 8,
  FAILED_PROMOTED: 9,
  DEGRADED: 190,
  DEGRADED_PROMOTED: 191,
} as const;

export type OcfExitCode = (typeof OCF)[keyof typeof OCF];

/** An action's failure: the exit code plus the exit reason Pacemaker shows in crm_mon / pcs status. */
export class OcfError extends Error {
  readonly code: OcfExitCode;
  constructor(code: OcfExitCode, reason: string) {
    super(reason);
    this.name = 'OcfError';
    this.code = code;
  }
}
