// Checking an NTLMv2 response against a known NT hash, for credential sources that hold NT hashes
// (the local account file). The acceptor never calls this itself: it hands the response to its
// NtlmCredentialSource (service/auth/credentials.ts), which may be winbind instead.

import crypto from 'node:crypto';
import type { NtlmResponseCheck } from '../credentials.ts';
import { NTLMV2_RESPONSE_MIN } from './constants.ts';
import { ntlmError } from './errors.ts';
import { ntlmv2SessionBaseKey, ntowfv2, ntProofStr } from './keys.ts';

/**
 * Recomputes NTProofStr (MS-NLMP §3.3.2) from `ntHash`, Uppercase(user) + domain as the client
 * sent them (clients SHOULD compute with UserDom, §3.3.2), the server challenge and the client's
 * blob, and compares it with the client's in constant time. Returns the SessionBaseKey (16 bytes,
 * which for NTLMv2 is also the KeyExchangeKey) or throws SecurityError('logon-failure').
 *
 * Only the NT response is checked: LMv2 alone (an empty NT response) is not accepted.
 */
export function verifyNtlmv2WithNtHash(ntHash: Buffer, check: NtlmResponseCheck): Buffer {
  if (ntHash.length !== 16) throw ntlmError('logon-failure', `NT hash of ${ntHash.length} bytes, expected 16`);
  if (check.serverChallenge.length !== 8) throw ntlmError('logon-failure', `server challenge of ${check.serverChallenge.length} bytes, expected 8`);
  if (check.ntResponse.length < NTLMV2_RESPONSE_MIN) {
    throw ntlmError('logon-failure', `NT response of ${check.ntResponse.length} bytes is not an NTLMv2 response`);
  }
  const theirs = check.ntResponse.subarray(0, 16);
  const blob = check.ntResponse.subarray(16);
  const responseKeyNt = ntowfv2(ntHash, check.user, check.domain);
  const ours = ntProofStr(responseKeyNt, check.serverChallenge, blob);
  if (!crypto.timingSafeEqual(ours, theirs)) throw ntlmError('logon-failure', `wrong password for ${check.domain}\\${check.user}`);
  return ntlmv2SessionBaseKey(responseKeyNt, ours);
}
