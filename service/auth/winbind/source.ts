// WinbindDirectSource: NTLMv2 responses checked by winbindd over its privileged socket
// (client.ts), the way Samba's own servers do it, instead of through ntlm_auth helper processes.
// One PAM_AUTH_CRAP per logon; winbindd answers with the NTSTATUS, the user session key (for
// NTLMv2 the SessionBaseKey) and the logon's info3: the account's own spelling of its name and
// domain, and its groups (domain SID + RIDs, and other SIDs). Group names, wanted only for an
// allow-list with @group entries, are asked with LOOKUPSID and cached per SID.

import type { Logger } from 'pino';
import { SecurityError } from '../context.ts';
import type { NtlmCredentialSource, NtlmResponseCheck, NtlmResponseVerified } from '../credentials.ts';
import { WinbindBusy, WinbindClient, WinbindNoAnswer } from './client.ts';
import { MAX_FSTRING_BYTES, WinbindProtocolError, type AuthCrapAnswer } from './protocol.ts';

/** NT statuses (by name, as winbindd spells them) that say winbind or its domain cannot answer now, rather than no. */
export const UNAVAILABLE_STATUS = /NT_STATUS_(?:NO_LOGON_SERVERS|IO_TIMEOUT|NETLOGON_NOT_STARTED|DOMAIN_CONTROLLER_NOT_FOUND|INTERNAL_ERROR|NO_MEMORY|PIPE_\w+|CONNECTION_\w+|TRUSTED_\w+|RPC_\w+|INSUFFICIENT_RESOURCES|HOST_UNREACHABLE|NETWORK_UNREACHABLE|CANT_ACCESS_DOMAIN_INFO|INVALID_SERVER_STATE|NO_TRUST_\w+)\b/;

/** Longer NT responses are not NTLMv2 responses a client sends (their AV pairs are a few hundred bytes). */
const MAX_NT_RESPONSE = 16 * 1024;
/** NTProofStr (16) + the blob's fixed part (28) + MsvAvEOL (4). */
const MIN_NTLMV2_RESPONSE = 48;
const CONTROL = /[\u0000-\u001f\u007f]/;

export interface WinbindDirectSourceOptions {
  client: WinbindClient;
  logger: Logger;
  /** Look the groups' names up (LOOKUPSID) for @group allow-list entries. Default false: SIDs only. */
  groupNames?: boolean;
  /** How long a SID's name is kept (default 5 minutes), and how many (default 10,000; the oldest go first). */
  nameTtlMs?: number;
  maxNames?: number;
}

export class WinbindDirectSource implements NtlmCredentialSource {
  readonly name = 'winbind';
  readonly client: WinbindClient;
  private readonly logger: Logger;
  private readonly groupNames: boolean;
  private readonly nameTtlMs: number;
  private readonly maxNames: number;
  private readonly names = new Map<string, { at: number; name: string | null }>();

  constructor(o: WinbindDirectSourceOptions) {
    this.client = o.client;
    this.logger = o.logger;
    this.groupNames = o.groupNames ?? false;
    this.nameTtlMs = o.nameTtlMs ?? 300_000;
    this.maxNames = o.maxNames ?? 10_000;
  }

  async verify(check: NtlmResponseCheck): Promise<NtlmResponseVerified> {
    const who = check.domain === '' ? check.user : `${check.domain}\\${check.user}`;
    const refuse = (code: 'logon-failure' | 'malformed' | 'unavailable', why: string): never => { throw new SecurityError(code, `winbind: ${why}`); };
    if (check.user === '') refuse('logon-failure', 'no user name (anonymous)');
    for (const [what, s] of [['user name', check.user], ['domain', check.domain]] as const) {
      if (CONTROL.test(s)) refuse('logon-failure', `${JSON.stringify(who)}: the ${what} contains a control character`);
      if (Buffer.byteLength(s, 'utf8') > MAX_FSTRING_BYTES) refuse('logon-failure', `${JSON.stringify(who)}: the ${what} is longer than ${MAX_FSTRING_BYTES} bytes`);
    }
    if (check.serverChallenge.length !== 8) refuse('malformed', `server challenge of ${check.serverChallenge.length} bytes, not 8`);
    if (check.ntResponse.length < MIN_NTLMV2_RESPONSE) refuse('logon-failure', `${who}: an NT response of ${check.ntResponse.length} bytes is not an NTLMv2 response`);
    if (check.ntResponse.length > MAX_NT_RESPONSE) refuse('malformed', `${who}: an NT response of ${check.ntResponse.length} bytes (at most ${MAX_NT_RESPONSE})`);

    let a: AuthCrapAnswer;
    try {
      // The domain goes as the client sent it, empty included (winbindd then takes its own).
      a = await this.client.authCrap({ user: check.user, domain: check.domain, workstation: check.workstation, challenge: check.serverChallenge, ntResponse: check.ntResponse });
    } catch (err) {
      if (err instanceof WinbindBusy) {
        this.logger.warn({ user: who }, `winbind: ${err.message}; refused`);
        return refuse('unavailable', `${who}: ${err.message}`);
      }
      if (err instanceof WinbindNoAnswer || err instanceof WinbindProtocolError) {
        this.logger.warn({ user: who, error: err.message }, 'winbind: no answer from winbindd');
        return refuse('unavailable', `${who}: winbindd did not answer: ${err.message}`);
      }
      throw err;
    }
    if (a.ntStatus !== 0) {
      const why = `${a.ntStatusString}${a.errorString !== '' && a.errorString !== a.ntStatusString ? `: ${a.errorString}` : ''}`;
      const unavailable = UNAVAILABLE_STATUS.test(a.ntStatusString);
      this.logger.info({ user: who, workstation: check.workstation, error: why, status: `0x${a.ntStatus.toString(16)}` }, unavailable ? 'winbind: cannot check the password now' : 'winbind: logon refused');
      return refuse(unavailable ? 'unavailable' : 'logon-failure', `${who}: ${why}`);
    }
    if (a.userSessionKey.every((b) => b === 0)) {
      this.logger.warn({ user: who }, 'winbind: authenticated without a user session key');
      return refuse('logon-failure', `${who}: accepted, but no user session key came back`);
    }
    const domain = a.logonDomain !== '' ? a.logonDomain : check.domain;
    const user = a.userName !== '' ? a.userName : check.user;
    const groups = this.groupNames ? await this.withNames(a.groupSids) : a.groupSids;
    this.logger.debug({ user: `${domain}\\${user}`, groups: a.groupSids.length, path: 'winbindd-direct' }, 'winbind: password checked by winbindd directly');
    return { sessionBaseKey: a.userSessionKey, identity: { domain, user, workstation: check.workstation, groups } };
  }

  /**
   * The SIDs and, for those winbindd can name, DOMAIN\name: for identities whose groups arrive as
   * SIDs without winbind's logon (a Kerberos ticket's PAC). Shares the cache of NTLM's logons.
   */
  nameGroups(sids: string[]): Promise<string[]> {
    return this.withNames(sids);
  }

  /** The SIDs and, for those winbindd can name, DOMAIN\name. */
  private async withNames(sids: string[]): Promise<string[]> {
    const now = Date.now();
    let failed = 0;
    let firstError = '';
    const names = await Promise.all(sids.map(async (sid) => {
      const hit = this.names.get(sid);
      if (hit !== undefined && now - hit.at < this.nameTtlMs) return hit.name;
      let name: string | null = null;
      try {
        const r = await this.client.lookupSid(sid);
        if (r !== null && r.name !== '') name = r.domain !== '' ? `${r.domain}\\${r.name}` : r.name;
      } catch (err) {
        this.logger.debug({ sid, error: (err as Error).message }, 'winbind: cannot name a group');
        failed++;
        firstError ||= (err as Error).message;
        return null; // not cached: asked again next time
      }
      if (this.names.size >= this.maxNames) {
        const oldest = this.names.keys().next().value;
        if (oldest !== undefined) this.names.delete(oldest);
      }
      this.names.delete(sid);
      this.names.set(sid, { at: now, name });
      return name;
    }));
    // Lookups refused by the winbind client's budget (256 waiting) or timed out: one line per identity.
    if (failed > 0) this.logger.warn({ groups: sids.length, unnamed: failed, error: firstError }, 'winbind: some groups could not be named now; they match @group entries by SID only until the next logon');
    return [...sids, ...names.filter((n): n is string => n !== null)];
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }
}
