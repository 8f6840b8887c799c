// Group membership from winbind, for the allow-list's @group entries. ntlm_auth's ntlm-server-1
// protocol says nothing about groups, so after a logon the groups are asked of winbindd with
// wbinfo: the user's SID (--name-to-sid), its groups' SIDs (--user-sids: domain and local groups,
// nested ones included), and their names (--lookup-sids). Three short commands per user, cached
// for a few minutes and only when the allow-list names groups at all.

import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import type { NtlmCredentialSource, NtlmResponseCheck, NtlmResponseVerified } from '../credentials.ts';

const SID = /\bS-1-[0-9-]+\b/g;

function wbinfo(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('wbinfo', args, { encoding: 'utf8', timeout: timeoutMs, env }, (err, stdout, stderr) => {
      if (err) reject(new Error(`wbinfo ${args[0] ?? ''}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

export interface WinbindGroupsOptions {
  logger: Logger;
  /** How long a user's groups are kept (default 5 minutes). */
  ttlMs?: number;
  /** Users whose groups are kept at once (default 10,000): the oldest go first. */
  maxEntries?: number;
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Looks up and caches users' groups: their SIDs and their names (DOMAIN\group). */
export class WinbindGroups {
  private readonly cache = new Map<string, { at: number; groups: string[] }>();
  private readonly o: Required<Omit<WinbindGroupsOptions, 'env'>> & { env: NodeJS.ProcessEnv };

  constructor(o: WinbindGroupsOptions) {
    this.o = { logger: o.logger, ttlMs: o.ttlMs ?? 300_000, maxEntries: o.maxEntries ?? 10_000, timeoutMs: o.timeoutMs ?? 5000, env: { ...process.env, ...(o.env ?? {}) } };
  }

  async of(domain: string, user: string): Promise<string[]> {
    const key = `${domain}\\${user}`.toUpperCase();
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < this.o.ttlMs) return hit.groups;
    const userSid = (await wbinfo(['--name-to-sid', domain === '' ? user : `${domain}\\${user}`], this.o.env, this.o.timeoutMs)).match(SID)?.[0];
    if (userSid === undefined) throw new Error(`wbinfo knows no SID for ${key}`);
    const sids = [...new Set((await wbinfo(['--user-sids', userSid], this.o.env, this.o.timeoutMs)).match(SID) ?? [])].filter((s) => s !== userSid);
    const groups = [...sids];
    if (sids.length > 0) {
      // One line per SID: "S-1-5-21-… -> DOMAIN\Domain Users 2" (the name, then its type).
      const names = await wbinfo(['--lookup-sids', sids.join(',')], this.o.env, this.o.timeoutMs);
      for (const m of names.matchAll(/^\s*S-1-[0-9-]+ -> (.+?) \d+\s*$/gm)) if (m[1]) groups.push(m[1]);
    }
    if (this.cache.size >= this.o.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(key, { at: Date.now(), groups });
    return groups;
  }

  /** A credential source whose identities carry the groups (a failed lookup logs and leaves none: @group entries then refuse). */
  decorate(source: NtlmCredentialSource): NtlmCredentialSource {
    return {
      name: source.name,
      verify: async (check: NtlmResponseCheck): Promise<NtlmResponseVerified> => {
        const v = await source.verify(check);
        try {
          return { ...v, identity: { ...v.identity, groups: await this.of(v.identity.domain, v.identity.user) } };
        } catch (err) {
          this.o.logger.warn({ err, user: `${v.identity.domain}\\${v.identity.user}` }, 'winbind: cannot tell the groups of an authenticated user; @group allow-list entries will not match');
          return v;
        }
      },
      close: () => source.close(),
    };
  }
}
