// witnessd's security, from its configuration: the credential source (winbind or the account
// file), the mechanisms offered for each DCE/RPC auth_type (NTLMSSP; Kerberos with a keytab; SPNEGO
// preferring Kerberos when there is one), and the access check the witness interface applies.

import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import type { AuthConfig } from './config.ts';
import { AccountFileSource } from './accounts/source.ts';
import { AuthType, type CallAuth, type Refusal, type SecurityContext, type SecurityContextFactory } from './context.ts';
import { kerberosGroupNamer } from './krb5/group-names.ts';
import { kerberosMechanisms } from './krb5/setup.ts';
import type { NtlmCredentialSource } from './credentials.ts';
import { NtlmAcceptor, type NtlmAcceptorOptions } from './ntlm/acceptor.ts';
import { accessCheck } from './policy.ts';
import { SpnegoAcceptor } from './spnego/acceptor.ts';
import { Oid } from './spnego/tokens.ts';
import { openWinbindSource } from './winbind/open.ts';

export interface Security {
  /** Acceptor contexts for the RPC servers. */
  factory: SecurityContextFactory;
  /** The witness interface's access check. */
  authorize: (auth: CallAuth | null) => Refusal | null;
  source: NtlmCredentialSource;
  /** For the start-up log line. */
  describe: Record<string, unknown>;
  close(): Promise<void>;
}

/** Runs a command; resolves with its trimmed stdout, or null when it fails or is missing. */
function run(cmd: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 5000, encoding: 'utf8' }, (err, stdout) => {
      resolve(err ? null : stdout.trim());
    });
  });
}

/** Samba's global settings that name this server, from `testparm` (null when Samba is not installed). */
async function sambaNames(smbConf: string | null): Promise<Record<string, string> | null> {
  const out = await run('testparm', ['-s', '-v', '--section-name=global', ...(smbConf !== null ? [smbConf] : [])]);
  if (out === null) return null;
  const names: Record<string, string> = {};
  for (const m of out.matchAll(/^\s*(netbios name|workgroup|security|realm) = (.*)$/gm)) names[m[1] ?? ''] = (m[2] ?? '').trim();
  return names;
}

/**
 * What NTLM's CHALLENGE says about us (its target info, which the client copies into its NTLMv2
 * blob). Through winbind these must be Samba's own names: an AD DC checks that the blob's
 * NetBIOS computer name is the member's (its secure channel account) and refuses the logon
 * otherwise; a standalone server's accounts live in the domain named after its NetBIOS name.
 * With the account file: the NetName, and the configured domain (default WORKGROUP).
 */
async function targetNames(cfg: AuthConfig, netname: string): Promise<Pick<NtlmAcceptorOptions, 'netbiosComputer' | 'netbiosDomain' | 'dnsComputer' | 'dnsDomain'>> {
  let computer = netname.toUpperCase().slice(0, 15);
  let domain = cfg.domain;
  let dnsDomain = cfg.dnsDomain;
  if (cfg.mode === 'winbind') {
    const samba = await sambaNames(cfg.smbConf);
    const nb = samba?.['netbios name'];
    if (nb !== undefined && nb !== '') computer = nb.toUpperCase();
    const member = /^(ads|domain)$/i.test(samba?.['security'] ?? '');
    domain ??= member ? (samba?.['workgroup'] ?? null) : computer;
    if (member) dnsDomain ??= samba?.['realm'] ?? null;
  }
  const dns = (dnsDomain ?? '').toLowerCase();
  return {
    netbiosComputer: computer,
    netbiosDomain: (domain ?? 'WORKGROUP').toUpperCase(),
    dnsComputer: dns === '' ? computer.toLowerCase() : `${computer.toLowerCase()}.${dns}`,
    dnsDomain: dns,
  };
}

async function openSource(cfg: AuthConfig, logger: Logger): Promise<NtlmCredentialSource> {
  if (cfg.mode === 'accounts') {
    if (cfg.accounts === null) throw new Error('no account file configured');
    return AccountFileSource.open({ path: cfg.accounts, logger: logger.child({ source: 'accounts' }) });
  }
  // wbinfo finds winbindd by its socket, whatever smb.conf says (Debian 12's wbinfo has no --configfile).
  if ((await run('wbinfo', ['--ping'])) === null) {
    throw new Error('winbindd does not answer (wbinfo --ping failed): start winbind, or use a local account file (--accounts FILE, made with witnessctl user add), or --auth none for tests');
  }
  // winbindd's privileged socket when it can, else ntlm_auth helpers; groups (for @group entries) with the logon.
  return openWinbindSource({ ntlmAuth: cfg.ntlmAuth, smbConf: cfg.smbConf, direct: cfg.winbindDirect, concurrency: cfg.winbindHelpers, timeoutMs: cfg.winbindTimeoutMs, groups: cfg.allow.some((a) => a.startsWith('@')), logger: logger.child({ source: 'winbind' }) });
}

/** null for --auth none: authenticated binds are then refused and every call runs unauthenticated. */
export async function setupSecurity(cfg: AuthConfig, netnames: string[], logger: Logger): Promise<Security | null> {
  if (cfg.mode === 'none') return null;
  const source = await openSource(cfg, logger);
  try {
    const names = await targetNames(cfg, netnames[0] ?? 'WITNESS');
    // One options object for every acceptor (tens of thousands of connections), not one each.
    const ntlmOptions = { source, ...names, allowNtlmV1: cfg.allowNtlmV1 };
    const ntlm = (): SecurityContext => new NtlmAcceptor(ntlmOptions);
    // Kerberos when a keytab is configured: auth type 16, and first in SPNEGO's list.
    const krbLog = logger.child({ mech: 'kerberos' });
    const krb5 = cfg.keytab !== null ? kerberosMechanisms(cfg.keytab, netnames, krbLog, kerberosGroupNamer(source, cfg.allow, krbLog)) : null;
    const factory: SecurityContextFactory = (type, level) => {
      if (type === AuthType.NTLMSSP) return ntlm();
      if (type === AuthType.KERBEROS) return krb5?.create(level) ?? null;
      if (type === AuthType.SPNEGO) return new SpnegoAcceptor({ mechs: [...(krb5?.spnego(level) ?? []), { oid: Oid.NTLMSSP, name: 'ntlmssp', create: ntlm }] });
      return null;
    };
    return {
      factory,
      authorize: accessCheck({ minLevel: cfg.minLevel, allow: cfg.allow }),
      source,
      describe: { source: source.name, mechanisms: krb5 ? ['kerberos', 'ntlmssp', 'spnego(kerberos, ntlmssp)'] : ['ntlmssp', 'spnego(ntlmssp)'], ...(krb5 ? { keytab: cfg.keytab } : {}), minLevel: cfg.minLevel, allow: cfg.allow.length > 0 ? cfg.allow : 'any authenticated user', ntlmv1: cfg.allowNtlmV1, computer: names.netbiosComputer, domain: names.netbiosDomain },
      close: () => source.close(),
    };
  } catch (err) {
    await source.close();
    throw err;
  }
}
