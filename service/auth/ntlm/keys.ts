// NTLM key computations (MS-NLMP §3.3.2, §3.4.5, §3.1.5.1.2): NTLMv2 responses, the session base
// key, KXKEY, the exported session key (key exchange), SIGNKEY and SEALKEY, and the MIC. Pure
// functions of their inputs; MD5, HMAC-MD5, MD4 and RC4 come from ../crypto (md5.ts says why not
// node:crypto).

import { hmacMd5, md5 } from '../crypto/md5.ts';
import { rc4Once } from '../crypto/rc4.ts';
import { NegotiateFlag } from './constants.ts';

/**
 * Uppercase(User) as NTOWFv2 needs it. Windows upper-cases one UTF-16 code unit at a time
 * (RtlUpcaseUnicodeString, no expansions), so a character whose full Unicode upper case is longer
 * (German ß → "SS") stays as it is instead of growing the string as String#toUpperCase would.
 */
export function upcaseUser(user: string): string {
  let out = '';
  for (let i = 0; i < user.length; i++) {
    const ch = user.charAt(i);
    const up = ch.toUpperCase();
    out += up.length === 1 ? up : ch;
  }
  return out;
}

/** NTOWFv2 = ResponseKeyNT (§3.3.2): HMAC_MD5(NT hash, UNICODE(Uppercase(User) + UserDom)). */
export function ntowfv2(ntHash: Uint8Array, user: string, domain: string): Buffer {
  return hmacMd5(ntHash, Buffer.from(upcaseUser(user) + domain, 'utf16le'));
}

/** NTProofStr (§3.3.2): HMAC_MD5(ResponseKeyNT, ServerChallenge || temp), temp being the client's blob. */
export function ntProofStr(responseKeyNt: Uint8Array, serverChallenge: Uint8Array, blob: Uint8Array): Buffer {
  return hmacMd5(responseKeyNt, serverChallenge, blob);
}

/** SessionBaseKey for NTLMv2 (§3.3.2): HMAC_MD5(ResponseKeyNT, NTProofStr). Also its KeyExchangeKey (§3.4.5.1). */
export function ntlmv2SessionBaseKey(responseKeyNt: Uint8Array, proof: Uint8Array): Buffer {
  return hmacMd5(responseKeyNt, proof);
}

/**
 * KXKEY (§3.4.5.1). NTLMv2: the SessionBaseKey itself. NTLMv1 with extended session security:
 * HMAC_MD5(SessionBaseKey, ServerChallenge || LmChallengeResponse[0..7]). NTLMv1 without it, and
 * without LM_KEY / REQUEST_NON_NT_SESSION_KEY (which this acceptor never grants): SessionBaseKey.
 */
export function keyExchangeKey(opts: { ntlmv2: boolean; flags: number; sessionBaseKey: Buffer; serverChallenge: Buffer; lmResponse: Buffer }): Buffer {
  if (opts.ntlmv2 || (opts.flags & NegotiateFlag.EXTENDED_SESSIONSECURITY) === 0) return Buffer.from(opts.sessionBaseKey);
  const lm8 = Buffer.alloc(8);
  opts.lmResponse.copy(lm8, 0, 0, 8);
  return hmacMd5(opts.sessionBaseKey, opts.serverChallenge, lm8);
}

/**
 * ExportedSessionKey (§3.2.5.1.2): with NTLMSSP_NEGOTIATE_KEY_EXCH the client chose a random key
 * and sent it RC4-encrypted under the KeyExchangeKey; otherwise it is the KeyExchangeKey.
 */
export function exportedSessionKey(kxkey: Buffer, flags: number, encryptedRandomSessionKey: Buffer): Buffer {
  if ((flags & NegotiateFlag.KEY_EXCH) === 0) return Buffer.from(kxkey);
  return rc4Once(kxkey, encryptedRandomSessionKey);
}

export type Direction = 'client-to-server' | 'server-to-client';

// The magic constants of §3.4.5.2-3, NUL included: MD5 is taken over the C string with its terminator.
const magic = (what: 'signing' | 'sealing', dir: Direction): Buffer => Buffer.from(`session key to ${dir} ${what} key magic constant\0`, 'latin1');

/** SIGNKEY (§3.4.5.2), extended session security only: MD5(ExportedSessionKey || magic). */
export function signKey(exported: Buffer, dir: Direction): Buffer {
  return md5(exported, magic('signing', dir));
}

/**
 * SEALKEY (§3.4.5.3) with extended session security: the exported key cut to 16 bytes
 * (NEGOTIATE_128), 7 (NEGOTIATE_56) or 5 (neither), then MD5(cut key || magic).
 */
export function sealKey(exported: Buffer, flags: number, dir: Direction): Buffer {
  const len = flags & NegotiateFlag.NEGOTIATE_128 ? 16 : flags & NegotiateFlag.NEGOTIATE_56 ? 7 : 5;
  return md5(exported.subarray(0, len), magic('sealing', dir));
}

/**
 * The AUTHENTICATE MIC (§3.1.5.1.2, §3.2.5.1.2): HMAC_MD5(ExportedSessionKey, NEGOTIATE ||
 * CHALLENGE || AUTHENTICATE), the last with its MIC field zeroed.
 */
export function computeMic(exported: Buffer, negotiate: Buffer, challenge: Buffer, authenticateMicZeroed: Buffer): Buffer {
  return hmacMd5(exported, negotiate, challenge, authenticateMicZeroed);
}
