// Who may call the witness methods (MS-SWN §3.1.4: a server refuses calls below packet integrity
// with ERROR_ACCESS_DENIED). The endpoint mapper has no policy: clients resolve the witness
// endpoint before they authenticate (MS-RPCE; Windows' EnableAuthEpResolution is off by default).

import { AuthLevel, principalName, type CallAuth, type Identity, type Refusal } from './context.ts';

export type MinAuthLevel = 'connect' | 'integrity' | 'privacy';
export const MIN_AUTH_LEVELS: readonly MinAuthLevel[] = ['connect', 'integrity', 'privacy'];

const LEVEL_OF: Record<MinAuthLevel, number> = { connect: AuthLevel.CONNECT, integrity: AuthLevel.INTEGRITY, privacy: AuthLevel.PRIVACY };
const LEVEL_NAMES: Record<number, string> = { 1: 'none', 2: 'connect', 3: 'call', 4: 'packet', 5: 'integrity', 6: 'privacy' };

export interface AccessPolicy {
  /** The lowest auth level accepted (default integrity). Packet (4) is below integrity, as MS-SWN says. */
  minLevel: MinAuthLevel;
  /**
   * Who may call, when not empty: `DOMAIN\user`, `user` (in any domain) or `@group` (a group's SID,
   * DOMAIN\group or bare name, as winbind reports the user's groups), each case-insensitive.
   * Empty: any authenticated user.
   */
  allow: string[];
}

/** True when `id` is named by one of the allow-list entries. */
export function allowed(id: Identity, allow: readonly string[]): boolean {
  const full = principalName(id).toLowerCase();
  const user = id.user.toLowerCase();
  // A group is named by its SID, DOMAIN\group, or the bare group name.
  const groups = new Set(id.groups.flatMap((g) => [g.toLowerCase(), g.slice(g.lastIndexOf('\\') + 1).toLowerCase()]));
  return allow.some((entry) => {
    const e = entry.toLowerCase();
    if (e.startsWith('@')) return groups.has(e.slice(1));
    return e.includes('\\') ? e === full : e === user;
  });
}

/** The witness interface's authorize hook: null lets the call run, a Refusal says why not. */
export function accessCheck(p: AccessPolicy): (auth: CallAuth | null) => Refusal | null {
  const min = LEVEL_OF[p.minLevel];
  return (auth) => {
    if (!auth) return { code: 'unauthenticated', message: 'an unauthenticated call' };
    if (auth.level < min) return { code: 'level', message: `auth level ${LEVEL_NAMES[auth.level] ?? auth.level} is below the required ${p.minLevel}` };
    const id = auth.identity;
    if (!id || id.user === '') return { code: 'anonymous', message: 'an anonymous client' };
    if (p.allow.length > 0 && !allowed(id, p.allow)) return { code: 'not-allowed', message: `${principalName(id)} is not in the allow-list` };
    return null;
  };
}
