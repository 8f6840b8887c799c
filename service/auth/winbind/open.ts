// Which way witnessd asks winbind: directly over winbindd's privileged socket when it can (the
// interface version is one we know, the socket is there and ours to use), else through the pool of
// ntlm_auth helpers (ntlm-auth.ts), with a log line that says why.

import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import type { NtlmCredentialSource } from '../credentials.ts';
import { WinbindSource } from './ntlm-auth.ts';
import { WinbindGroups } from './wbinfo-groups.ts';
import { WinbindClient, WinbindUnsupported } from './client.ts';
import { WinbindDirectSource } from './source.ts';

export interface OpenWinbindOptions {
  logger: Logger;
  smbConf: string | null;
  /** Try winbindd's socket first (default true); false: ntlm_auth helpers only. */
  direct?: boolean;
  /** winbindd's socket directory; default: smb.conf's `winbindd socket directory` (testparm). */
  socketDir?: string | null;
  /** The direct path's connections to winbindd; the fallback's ntlm_auth helpers. */
  concurrency: number;
  timeoutMs: number;
  maxQueue?: number;
  ntlmAuth?: string;
  /** Identities carry group SIDs and names (an allow-list has @group entries). */
  groups: boolean;
  /** For the fallback's helpers and wbinfo (tests: nss_wrapper's). */
  env?: Record<string, string>;
}

/** smb.conf's `winbindd socket directory` (Samba's default when unset), or null when testparm fails. */
export function winbinddSocketDir(smbConf: string | null): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('testparm', ['-s', '--parameter-name=winbindd socket directory', ...(smbConf !== null ? [smbConf] : [])], { timeout: 10_000, encoding: 'utf8' }, (err, stdout) => {
      const dir = stdout.trim().split('\n').pop() ?? '';
      resolve(err || !dir.startsWith('/') ? null : dir);
    });
  });
}

export async function openWinbindSource(o: OpenWinbindOptions): Promise<NtlmCredentialSource> {
  const log = o.logger;
  if (o.direct !== false) {
    const socketDir = o.socketDir ?? (await winbinddSocketDir(o.smbConf));
    try {
      if (socketDir === null) throw new WinbindUnsupported(`testparm could not tell winbindd's socket directory${o.smbConf !== null ? ` from ${o.smbConf}` : ''}`);
      const client = await WinbindClient.open({ socketDir, logger: log, connections: o.concurrency, timeoutMs: o.timeoutMs, ...(o.maxQueue !== undefined ? { maxQueue: o.maxQueue } : {}) });
      log.info({ path: 'winbindd-direct', interfaceVersion: client.version, socket: client.privPath, connections: o.concurrency, timeoutMs: o.timeoutMs }, 'winbind: passwords are checked by winbindd over its privileged socket');
      return new WinbindDirectSource({ client, logger: log, groupNames: o.groups });
    } catch (err) {
      if (!(err instanceof WinbindUnsupported)) throw err;
      log.warn({ path: 'ntlm_auth', reason: err.message }, `winbind: cannot talk to winbindd directly (${err.message}); checking passwords through ntlm_auth helpers instead`);
    }
  }
  const source: NtlmCredentialSource = await WinbindSource.start({ ...(o.ntlmAuth !== undefined ? { ntlmAuth: o.ntlmAuth } : {}), smbConf: o.smbConf, helpers: o.concurrency, timeoutMs: o.timeoutMs, logger: log, ...(o.env !== undefined ? { env: o.env } : {}) });
  log.info({ path: 'ntlm_auth', helpers: o.concurrency }, 'winbind: passwords are checked by ntlm_auth helpers');
  // ntlm_auth's answer has no groups: they are asked of winbindd with wbinfo after the logon.
  if (!o.groups) return source;
  const groups = new WinbindGroups({ logger: log.child({ source: 'winbind-groups' }), ...(o.env !== undefined ? { env: o.env } : {}) });
  const decorated = groups.decorate(source);
  helperGroups.set(decorated, groups);
  return decorated;
}

/** The helper path's group lookups, by the source they decorate. */
const helperGroups = new WeakMap<NtlmCredentialSource, WinbindGroups>();

/**
 * The wbinfo group lookups of a source openWinbindSource made on the ntlm_auth path with groups
 * (undefined otherwise): for identities that did not come from its logons (a Kerberos ticket's).
 */
export function helperGroupsOf(source: NtlmCredentialSource): WinbindGroups | undefined {
  return helperGroups.get(source);
}
