// GSS-API failures as witnessd's SecurityErrors: the mechanism's (com_err) code decides what the
// log says happened and which refusal code it is; the ticket's service, etype and kvno (read
// from the AP-REQ) say which principal and key it was about.
import { SecurityError, type SecurityErrorCode } from '../context.ts';
import { gss, isGssFailure, type TicketClient } from './native.ts';
import type { TicketSummary } from './ap-req.ts';

interface Meaning {
  code: SecurityErrorCode;
  /** A short name of the reason, for logs and tests. */
  reason: string;
  text: string;
}

/** What a minor (com_err) or major status means to an admin. */
function meaning(major: number, minor: number): Meaning {
  const c = gss().codes;
  switch (minor) {
    case c.AP_ERR_SKEW:
      return { code: 'logon-failure', reason: 'clock-skew', text: 'the client\'s clock differs from ours by more than the allowed skew (krb5.conf clockskew, 300 s by default)' };
    case c.AP_ERR_TKT_EXPIRED:
      return { code: 'logon-failure', reason: 'ticket-expired', text: 'the ticket has expired' };
    case c.AP_ERR_TKT_NYV:
      return { code: 'logon-failure', reason: 'ticket-not-yet-valid', text: 'the ticket is not valid yet' };
    case c.AP_ERR_REPEAT:
      return { code: 'integrity', reason: 'replay', text: 'a replayed authenticator (the replay cache has seen it)' };
    case c.KT_NOTFOUND:
    case c.AP_ERR_NOT_US:
    case c.AP_WRONG_PRINC:
    case c.AP_ERR_NOKEY:
      return { code: 'logon-failure', reason: 'wrong-service', text: 'a ticket for a service whose key is not in the keytab' };
    case c.KT_KVNONOTFOUND:
    case c.AP_ERR_BADKEYVER:
      return { code: 'logon-failure', reason: 'no-key-for-kvno', text: 'the keytab has no key of that version (kvno) for the service: the keytab is older or newer than the account\'s key' };
    case c.AP_ERR_MODIFIED:
    case c.AP_ERR_BAD_INTEGRITY:
      return { code: 'logon-failure', reason: 'decrypt-failed', text: 'the ticket or authenticator does not decrypt with the keytab\'s key (a stale key with the same kvno, or a tampered token)' };
    default:
      break;
  }
  const routine = major & 0xff0000;
  if (routine === c.S_BAD_MECH) return { code: 'malformed', reason: 'not-kerberos', text: 'the token is not a Kerberos token' };
  if (routine === c.S_DEFECTIVE_TOKEN) return { code: 'malformed', reason: 'defective-token', text: 'the token is malformed' };
  if (routine === c.S_BAD_SIG) return { code: 'integrity', reason: 'bad-signature', text: 'a checksum that does not verify' };
  if (routine === c.S_NO_CRED) return { code: 'unavailable', reason: 'no-credentials', text: 'the keytab cannot be used' };
  if (routine === c.S_CREDENTIALS_EXPIRED) return { code: 'logon-failure', reason: 'ticket-expired', text: 'the credentials have expired' };
  if ((major & 0xffff) === c.S_DUPLICATE_TOKEN) return { code: 'integrity', reason: 'replay', text: 'a duplicate token (replayed)' };
  return { code: 'logon-failure', reason: 'refused', text: 'the Kerberos exchange failed' };
}

/** A SecurityError carrying why (reason) and the ticket it was about. */
export class KerberosError extends SecurityError {
  readonly reason: string;
  constructor(code: SecurityErrorCode, reason: string, message: string) {
    super(code, message);
    this.reason = reason;
  }
}

/**
 * Refusals MIT makes after the ticket decrypted (rd_req checks the ticket's times, then the
 * authenticator's clock, after the replay cache): the ticket names its client, worth a log line.
 */
const TICKET_READ = new Set(['ticket-expired', 'ticket-not-yet-valid', 'clock-skew', 'replay']);

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');

/** "witnessuser@REALM's ticket, valid 2026-… to 2026-…, " for a refusal's text. */
function whose(c: TicketClient): string {
  return `${c.client}'s ticket, valid ${iso(c.starttime || c.authtime)} to ${iso(c.endtime)}, `;
}

/**
 * Turns whatever an accept step threw into a KerberosError naming the reason and the ticket.
 * `client` reads the ticket's client and times (it decrypts the ticket again: called only for the
 * reasons where MIT got that far, so an unreadable ticket costs nothing more).
 */
export function acceptError(e: unknown, ticket: TicketSummary | null, first: boolean, client?: () => TicketClient | null): SecurityError {
  if (e instanceof SecurityError) return e;
  const about = ticket ? ` (ticket for ${ticket.service}, ${ticket.etypeName}, kvno ${ticket.kvno ?? 'none'})` : '';
  if (!isGssFailure(e)) return new KerberosError('malformed', 'internal', `Kerberos: ${e instanceof Error ? e.message : String(e)}${about}`);
  let m = meaning(e.major, e.minor);
  // A first token we could not read as an AP-REQ, refused for no Kerberos reason: it was not one.
  if (first && ticket === null && m.reason === 'refused') m = { code: 'malformed', reason: 'defective-token', text: 'the first token is not a Kerberos AP-REQ' };
  let named: TicketClient | null = null;
  if (first && ticket !== null && client !== undefined && TICKET_READ.has(m.reason)) {
    try {
      named = client();
    } catch {
      named = null;
    }
  }
  const prefix = named ? `${m.text}: ${whose(named)}now ${iso(Math.floor(Date.now() / 1000))}` : m.text;
  return new KerberosError(m.code, m.reason, `Kerberos [${m.reason}]: ${prefix}${about}; GSS: ${e.message}`);
}

/** A per-PDU failure (MIC or wrap token): always the integrity code, the reason from GSS. */
export function protectionError(e: unknown, what: string): SecurityError {
  if (e instanceof SecurityError) return e;
  if (!isGssFailure(e)) return new KerberosError('integrity', 'internal', `Kerberos ${what}: ${e instanceof Error ? e.message : String(e)}`);
  const m = meaning(e.major, e.minor);
  return new KerberosError('integrity', m.reason, `Kerberos ${what} refused [${m.reason}]: ${e.message}`);
}
