// witnessd's security, from its configuration: the credential source (winbind or the account
// file), the mechanisms offered for each DCE/RPC auth_type (NTLMSSP, and SPNEGO choosing NTLMSSP
// while Kerberos is not configured), and the access check the witness interface applies.

import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import type { AuthConfig } from '../config.ts';
import type { CallAuth, Refusal } from '../rpc/interface.ts';
import { AccountFileSource } from './accounts/source.ts';
import { AuthType, type SecurityContext, type SecurityContextFactory } from './context.ts';
import type { NtlmCredentialSource } from './credentials.ts';
import { NtlmAcceptor, type NtlmAcceptorOptions } from './ntlm/acceptor.ts';
import { accessCheck } from './policy.ts';
import { SpnegoAcceptor } from './spnego/acceptor.ts';
import { Oid } from './spnego/tokens.ts';
import { WinbindSource } from './winbind.ts';

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

/** What NTLM's CHALLENGE says about us: the NetName as the computer, the domain the clients log on to. */
async function targetNames(cfg: AuthConfig, netname: string): Promise<Pick<NtlmAcceptorOptions, 'netbiosComputer' | 'netbiosDomain' | 'dnsComputer' | 'dnsDomain'>> {
  let domain = cfg.domain;
  if (domain === null && cfg.mode === 'winbind') domain = await run('wbinfo', ['--own-domain']);
  const dnsDomain = (cfg.dnsDomain ?? '').toLowerCase();
  const computer = netname.toUpperCase().slice(0, 15);
  return {
    netbiosComputer: computer,
    netbiosDomain: (domain ?? 'WORKGROUP').toUpperCase(),
    dnsComputer: dnsDomain === '' ? computer.toLowerCase() : `${computer.toLowerCase()}.${dnsDomain}`,
    dnsDomain,
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
  return WinbindSource.start({ ntlmAuth: cfg.ntlmAuth, smbConf: cfg.smbConf, helpers: cfg.winbindHelpers, timeoutMs: cfg.winbindTimeoutMs, logger: logger.child({ source: 'winbind' }) });
}

/** null for --auth none: authenticated binds are then refused and every call runs unauthenticated. */
export async function setupSecurity(cfg: AuthConfig, netnames: string[], logger: Logger): Promise<Security | null> {
  if (cfg.mode === 'none') return null;
  const source = await openSource(cfg, logger);
  try {
    const names = await targetNames(cfg, netnames[0] ?? 'WITNESS');
    const ntlm = (): SecurityContext => new NtlmAcceptor({ source, ...names, allowNtlmV1: cfg.allowNtlmV1 });
    const factory: SecurityContextFactory = (type) => {
      if (type === AuthType.NTLMSSP) return ntlm();
      if (type === AuthType.SPNEGO) return new SpnegoAcceptor({ mechs: [{ oid: Oid.NTLMSSP, name: 'ntlmssp', create: ntlm }] });
      return null;
    };
    return {
      factory,
      authorize: accessCheck({ minLevel: cfg.minLevel, allow: cfg.allow }),
      source,
      describe: { source: source.name, mechanisms: ['ntlmssp', 'spnego(ntlmssp)'], minLevel: cfg.minLevel, allow: cfg.allow.length > 0 ? cfg.allow : 'any authenticated user', ntlmv1: cfg.allowNtlmV1, domain: names.netbiosDomain },
      close: () => source.close(),
    };
  } catch (err) {
    await source.close();
    throw err;
  }
}
