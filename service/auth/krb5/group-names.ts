// Group names for Kerberos clients. A ticket's PAC gives the account's groups as SIDs only; the
// allow-list's `@group` entries may name a group (DOMAIN\group or group), as they do for NTLM
// clients, whose groups winbind names at logon. So when the allow-list names groups and winbindd
// answers over its privileged socket, the PAC's SIDs are named with LOOKUPSID through the same
// client and the same bounded cache (service/auth/winbind/source.ts: 10,000 names, 5 minutes).
// Otherwise a Kerberos identity carries SIDs only, and the start-up log says which entries only
// NTLM clients can match.
import type { Logger } from 'pino';
import type { NtlmCredentialSource } from '../credentials.ts';
import { WinbindDirectSource } from '../winbind/source.ts';

/** Names a PAC's group SIDs: the SIDs, then DOMAIN\name for each winbindd knows. */
export type GroupNamer = (sids: string[]) => Promise<string[]>;

const SID_ENTRY = /^@S-1-[0-9-]+$/i;

/** The namer for Kerberos identities, or undefined when none is needed or none can be had (logged). */
export function kerberosGroupNamer(source: NtlmCredentialSource, allow: readonly string[], logger: Logger): GroupNamer | undefined {
  const named = allow.filter((a) => a.startsWith('@') && !SID_ENTRY.test(a));
  if (named.length === 0) return undefined;
  if (source instanceof WinbindDirectSource) {
    logger.info({ entries: named }, 'Kerberos clients\' group SIDs (from the PAC) are named through winbindd for the allow-list');
    return (sids) => source.nameGroups(sids);
  }
  logger.warn({ entries: named, source: source.name }, 'Kerberos clients\' groups are SIDs only (group names need winbindd\'s privileged socket): these allow-list entries match NTLM clients only; name the groups by SID (@S-1-5-21-…) for Kerberos clients');
  return undefined;
}
