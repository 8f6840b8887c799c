// Kerberos as witnessd offers it: one keytab (checked at start), acceptor contexts for auth type
// 16, and the two SPNEGO entries (RFC 4178 Appendix C: Windows lists the legacy
// 1.2.840.48018.1.2.2 first; both name the same mechanism and both come before NTLMSSP).
import type { Logger } from 'pino';
import type { SecurityContext } from '../context.ts';
import type { SpnegoMech } from '../spnego/acceptor.ts';
import { Oid } from '../spnego/tokens.ts';
import { KerberosAcceptor } from './acceptor.ts';
import type { GroupNamer } from './group-names.ts';
import { KeytabCredentials } from './keytab.ts';
import { listKeytab } from './keytab-file.ts';

export interface KerberosMechanisms {
  keytab: KeytabCredentials;
  create(level: number): SecurityContext;
  spnego(level: number): SpnegoMech[];
}

/**
 * Throws (witnessd does not start) when the keytab cannot be used; warns when it lacks a NetName's
 * keys. `nameGroups` names the PAC's group SIDs (group-names.ts), when the allow-list needs names.
 */
export function kerberosMechanisms(file: string, netnames: string[], logger: Logger, nameGroups?: GroupNamer): KerberosMechanisms {
  const keytab = KeytabCredentials.open(file, logger);
  try {
    const principals = listKeytab(file);
    const services = new Set(principals.map((p) => p.principal.replace(/@.*$/, '').toLowerCase()));
    for (const n of netnames) {
      const short = n.toLowerCase();
      const have = [...services].some((s) => s === `cifs/${short}` || s.startsWith(`cifs/${short}.`) || s === `host/${short}` || s.startsWith(`host/${short}.`));
      if (!have) logger.warn({ keytab: file, netname: n }, `the keytab has no cifs/ or host/ key for NetName ${n}: Kerberos clients of ${n} will be refused (add it with net ads setspn add and net ads keytab add)`);
    }
    logger.info({ keytab: file, principals: [...new Set(principals.map((p) => `${p.principal} kvno ${p.kvno}`))] }, 'Kerberos service keys loaded');
  } catch (e) {
    // Only for the log: the GSS library read it already.
    logger.warn({ keytab: file, err: (e as Error).message }, 'cannot list the keytab\'s principals');
  }
  const create = (level: number): SecurityContext => new KerberosAcceptor({ keytab, level, ...(nameGroups !== undefined ? { nameGroups } : {}) });
  return {
    keytab,
    create,
    spnego: (level) => [
      { oid: Oid.KERBEROS_MS_LEGACY, name: 'kerberos', create: () => create(level) },
      { oid: Oid.KERBEROS, name: 'kerberos', create: () => create(level) },
    ],
  };
}
