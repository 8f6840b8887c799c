// How NTLMSSP failures leave this module: always as SecurityError (service/auth/context.ts), whose
// code decides the answer on the wire. The bounded readers of service/rpc throw DecodeError; it
// is turned into 'malformed' here, at the boundary, with its exact message kept.

import { SecurityError, type SecurityErrorCode } from '../context.ts';

export function ntlmError(code: SecurityErrorCode, message: string): SecurityError {
  return new SecurityError(code, `NTLMSSP: ${message}`);
}

/**
 * Any error as a SecurityError: SecurityErrors pass unchanged; everything else (DecodeError from
 * a bounded reader, a RangeError from a Buffer read) came from input we could not parse, so it is
 * 'malformed', named after `what`.
 */
export function toSecurityError(err: unknown, what: string): SecurityError {
  if (err instanceof SecurityError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return ntlmError('malformed', `${what}: ${detail}`);
}

/** Runs `fn`, converting whatever it throws with toSecurityError. */
export function guard<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toSecurityError(err, what);
  }
}
