// Group names for Kerberos clients. A ticket's PAC gives the account's groups as SIDs only; the
// allow-list's `@group` entries may name a group (DOMAIN\group or group), as they do for NTLM
// clients, whose groups winbind names at logon. So when the allow-list names groups and witnessd
// uses winbind, a Kerberos identity's groups are named the way NTLM's are on the same path:
// - winbindd's privileged socket: the PAC's SIDs, named with LOOKUPSID through the same client and
//   the same bounded cache (service/auth/winbind/source.ts: 10,000 names, 5 minutes);
// - the ntlm_auth helpers (no access to the socket): the account's groups asked of winbindd with
//   wbinfo by its name (service/auth/winbind/wbinfo-groups.ts: 10,000 users, 5 minutes), beside the PAC's.
// With the account file a Kerberos identity carries SIDs only, and the start-up log says which
// entries only match by SID.
import type { Logger } from 'pino';
import type { Identity } from '../context.ts';
import type { NtlmCredentialSource } from '../credentials.ts';
import { helperGroupsOf } from '../winbind/open.ts';
import { WinbindDirectSource } from '../winbind/source.ts';

/** An identity's groups for the allow-list: the PAC's SIDs, then the names (and SIDs) winbind adds. */
export type GroupNamer = (id: Identity) => Promise<string[]>;

const SID_ENTRY = /^@S-1-[0-9-]+$/i;

/** The namer for Kerberos identities, or undefined when none is needed or none can be had (logged). */
export function kerberosGroupNamer(source: NtlmCredentialSource, allow: readonly string[], logger: Logger): GroupNamer | undefined {
  const named = allow.filter((a) => a.startsWith('@') && !SID_ENTRY.test(a));
  if (named.length === 0) return undefined;
  if (source instanceof WinbindDirectSource) {
    logger.info({ entries: named, path: 'winbindd-direct' }, 'Kerberos clients\' group SIDs (from the PAC) are named through winbindd for the allow-list');
    return (id) => source.nameGroups(id.groups);
  }
  const helper = helperGroupsOf(source);
  if (helper !== undefined) {
    logger.info({ entries: named, path: 'wbinfo' }, 'Kerberos clients\' groups are asked of winbindd with wbinfo for the allow-list');
    return async (id) => {
      try {
        return [...new Set([...id.groups, ...(await helper.of(id.domain, id.user))])];
      } catch (err) {
        logger.warn({ user: `${id.domain}\\${id.user}`, error: (err as Error).message }, 'winbind: cannot tell the groups of a Kerberos client; @group entries match its PAC\'s SIDs only');
        return id.groups;
      }
    };
  }
  logger.warn({ entries: named, source: source.name }, 'Kerberos clients\' groups are SIDs only (group names need winbind): these allow-list entries match NTLM clients only; name the groups by SID (@S-1-5-21-…) for Kerberos clients');
  return undefined;
}
