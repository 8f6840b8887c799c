// witnessd's authentication settings, as the command line, the config file (service/config.ts)
// and the OCF agent's parameters (ocf/witnessd.ts) give them.

import type { MinAuthLevel } from './policy.ts';

/**
 * Where client passwords are checked: Samba's winbind (the node's Samba users, or the domain's),
 * our own account file, or nowhere ('none': unauthenticated clients, an explicit test mode).
 */
export const AUTH_MODES = ['winbind', 'accounts', 'none'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export interface AuthConfig {
  mode: AuthMode;
  /** The account file (mode accounts). */
  accounts: string | null;
  /** Samba's configuration for ntlm_auth and wbinfo (default: Samba's own default). */
  smbConf: string | null;
  /** Samba's NTLM helper (mode winbind). */
  ntlmAuth: string;
  winbindHelpers: number;
  winbindTimeoutMs: number;
  /** Ask winbindd over its privileged socket (default), falling back to ntlm_auth helpers when it cannot; false: the helpers only. */
  winbindDirect: boolean;
  minLevel: MinAuthLevel;
  /** Allow-list (DOMAIN\user, user, @group); empty: every authenticated user. */
  allow: string[];
  /** Accept NTLMv1 and LM responses (weak; off unless an admin says so). */
  allowNtlmV1: boolean;
  /** The NetBIOS and DNS domain names the NTLM CHALLENGE carries (default: winbind's, else WORKGROUP). */
  domain: string | null;
  dnsDomain: string | null;
  /** Kerberos service keys (cifs/<NetName>, host/<NetName>…): Kerberos is offered when set (docs/kerberos.md). */
  keytab: string | null;
}
