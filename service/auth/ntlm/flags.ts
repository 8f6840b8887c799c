// Which NegotiateFlags the acceptor grants (MS-NLMP §3.2.5.1.1 for CHALLENGE, §3.2.5.1.2 for
// AUTHENTICATE), and the policy that refuses weak clients before any password is checked.

import { NegotiateFlag as F } from './constants.ts';
import { ntlmError } from './errors.ts';

/** Echoed in CHALLENGE when the client asked for them, and only then. */
const ECHOED = F.SIGN | F.SEAL | F.ALWAYS_SIGN | F.EXTENDED_SESSIONSECURITY | F.NEGOTIATE_128 | F.NEGOTIATE_56 | F.KEY_EXCH | F.VERSION | F.REQUEST_TARGET;

/** The flags that change the keys or the protection; the client may drop but never add them in AUTHENTICATE. */
const SECURITY = F.SIGN | F.SEAL | F.EXTENDED_SESSIONSECURITY | F.NEGOTIATE_128 | F.NEGOTIATE_56 | F.KEY_EXCH;

/**
 * CHALLENGE flags for a client's NEGOTIATE flags. Always NTLM, UNICODE and TARGET_INFO (NTLMv2
 * needs the target info); SIGN, SEAL, ALWAYS_SIGN, EXTENDED_SESSIONSECURITY, 128, 56, KEY_EXCH,
 * VERSION and REQUEST_TARGET echoed when requested; with REQUEST_TARGET also the target type
 * (`targetIsDomain`: TARGET_TYPE_DOMAIN, else TARGET_TYPE_SERVER). Never LM_KEY (extended session
 * security supersedes it, §2.2.2.5), REQUEST_NON_NT_SESSION_KEY, DATAGRAM (DCE/RPC over TCP is
 * connection-oriented) or IDENTIFY.
 *
 * Refused with SecurityError('policy'): clients without Unicode (OEM strings are not supported),
 * and clients asking for signing or sealing without extended session security or without 128-bit
 * keys (the older schemes use CRC32 checksums and 40/56-bit keys).
 */
export function selectChallengeFlags(client: number, targetIsDomain: boolean): number {
  if ((client & F.UNICODE) === 0) throw ntlmError('policy', 'the client does not offer Unicode (NTLMSSP_NEGOTIATE_UNICODE)');
  checkProtection(client, 'NEGOTIATE');
  let flags = F.NTLM | F.UNICODE | F.TARGET_INFO | (client & ECHOED);
  if (client & F.REQUEST_TARGET) flags |= targetIsDomain ? F.TARGET_TYPE_DOMAIN : F.TARGET_TYPE_SERVER;
  return flags >>> 0;
}

/**
 * The session's flags after AUTHENTICATE: the client's AUTHENTICATE flags, where the bits that
 * decide keys and protection are kept only if CHALLENGE granted them too.
 */
export function negotiatedFlags(challenge: number, authenticate: number): number {
  return ((authenticate & ~SECURITY) | (authenticate & challenge & SECURITY)) >>> 0;
}

/** Signing or sealing only with extended session security and 128-bit keys. */
export function checkProtection(flags: number, where: string): void {
  if ((flags & (F.SIGN | F.SEAL)) === 0) return;
  if ((flags & F.EXTENDED_SESSIONSECURITY) === 0) {
    throw ntlmError('policy', `${where} asks for signing or sealing without extended session security (NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)`);
  }
  if ((flags & F.NEGOTIATE_128) === 0) throw ntlmError('policy', `${where} asks for signing or sealing without 128-bit keys (NTLMSSP_NEGOTIATE_128)`);
}
