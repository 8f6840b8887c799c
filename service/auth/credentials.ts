// Where NTLM passwords are checked. The NTLMSSP acceptor (service/auth/ntlm/) parses the client's
// AUTHENTICATE message and hands its response to a credential source, which says whether it was
// made with the user's password and returns the session base key (MS-NLMP §3.3.2) the session's
// signing and sealing keys derive from. witnessd never needs the password or the NT hash itself
// when the source is winbind.

import type { Identity } from './context.ts';

export interface NtlmResponseCheck {
  /** As the client sent them in AUTHENTICATE (decoded to strings). */
  domain: string;
  user: string;
  workstation: string;
  /** The 8-byte ServerChallenge from our CHALLENGE message. */
  serverChallenge: Buffer;
  /** NtChallengeResponse: for NTLMv2, NTProofStr (16 bytes) followed by the client's blob. */
  ntResponse: Buffer;
  /** LmChallengeResponse (LMv2 for NTLMv2 clients; may be empty or zeros). */
  lmResponse: Buffer;
}

export interface NtlmResponseVerified {
  /** MS-NLMP SessionBaseKey (16 bytes); for NTLMv2 also the KeyExchangeKey. */
  sessionBaseKey: Buffer;
  /** The account as the source knows it (its canonical domain and user spelling, groups if known). */
  identity: Identity;
}

export interface NtlmCredentialSource {
  /** 'accounts' (our account file) or 'winbind': for logs. */
  readonly name: string;
  /**
   * Checks an NTLMv2 response. Rejects with SecurityError: 'logon-failure' for a wrong password or
   * an unknown user, 'unavailable' when the source cannot answer now.
   */
  verify(check: NtlmResponseCheck): Promise<NtlmResponseVerified>;
  /** Releases helpers, watchers and timers. */
  close(): Promise<void>;
}
