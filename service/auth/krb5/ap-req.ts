// What a Kerberos AP-REQ says in the clear (RFC 4120 §5.5.1, §5.3), read only to name the service
// and key a refusal is about in the log: the ticket's realm and sname, and the etype and kvno of
// its encrypted part. The GSS-API library decides everything else.
//
//   InitialContextToken ::= [APPLICATION 0] { thisMech OID, innerToken }   (RFC 2743 §3.1)
//   innerToken = TOK_ID (2 octets, 01 00 for AP-REQ, RFC 4121 §4.1) || AP-REQ
//   AP-REQ  ::= [APPLICATION 14] SEQUENCE { pvno [0], msg-type [1], ap-options [2], ticket [3] Ticket, authenticator [4] }
//   Ticket  ::= [APPLICATION 1] SEQUENCE { tkt-vno [0], realm [1] Realm, sname [2] PrincipalName, enc-part [3] EncryptedData }
//   PrincipalName ::= SEQUENCE { name-type [0] Int32, name-string [1] SEQUENCE OF KerberosString }
//   EncryptedData ::= SEQUENCE { etype [0] Int32, kvno [1] UInt32 OPTIONAL, cipher [2] OCTET STRING }

import { DerReader, Tag, contextTag, decodeInteger } from '../spnego/der.ts';

export interface TicketSummary {
  /** "cifs/FILESRV@WITNESS.TEST" */
  service: string;
  etype: number;
  etypeName: string;
  kvno: number | null;
  /** The Ticket's whole encoding ([APPLICATION 1]), to name its client when a refusal's log line needs it. */
  der: Buffer;
}

const APPLICATION_1 = 0x61;
const APPLICATION_14 = 0x6e;
const INTEGER = 0x02;

/** RFC 3961/3962/4757/8009 enctype numbers, for log lines. */
const ETYPES: Record<number, string> = {
  17: 'aes128-cts-hmac-sha1-96',
  18: 'aes256-cts-hmac-sha1-96',
  19: 'aes128-cts-hmac-sha256-128',
  20: 'aes256-cts-hmac-sha384-192',
  23: 'rc4-hmac',
  24: 'rc4-hmac-exp',
};

export function etypeName(n: number): string {
  return ETYPES[n] ?? `etype ${n}`;
}

/** The AP-REQ inside a first token: GSS-framed (RFC 2743) or bare. */
function apReqBytes(token: Buffer): Buffer {
  if (token[0] !== Tag.APPLICATION_0) return token;
  const outer = new DerReader(token).read('InitialContextToken');
  // thisMech comes first; the inner token (not DER itself) is everything after it.
  const mech = new DerReader(outer.value).expect(Tag.OID, 'thisMech');
  const rest = outer.value.subarray(mech.bytes.length);
  // TOK_ID 01 00: KRB_AP_REQ.
  if (rest[0] !== 0x01 || rest[1] !== 0x00) throw new Error('not an AP-REQ token');
  return rest.subarray(2);
}

/**
 * kvno is a UInt32 (RFC 4120 §5.2.9): from 2^31 up DER needs five octets, a leading zero first
 * (tickets from an AD read-only DC carry its number in the kvno's high 16 bits).
 */
function readKvno(v: Buffer): number {
  if (v.length === 5 && v[0] === 0 && (v[1] ?? 0) >= 0x80) return v.readUInt32BE(1);
  return decodeInteger(v, 'kvno');
}

/** The ticket's service and key, or null when the token is not an AP-REQ we can read (never throws). */
export function summarizeApReq(token: Buffer): TicketSummary | null {
  try {
    const ap = new DerReader(apReqBytes(token));
    const apEl = ap.expect(APPLICATION_14, 'AP-REQ');
    const seqR = ap.enter(apEl, 'AP-REQ');
    const seq = seqR.enter(seqR.expect(Tag.SEQUENCE, 'AP-REQ'), 'AP-REQ');
    seq.expect(contextTag(0), 'pvno');
    seq.expect(contextTag(1), 'msg-type');
    seq.expect(contextTag(2), 'ap-options');
    const tktOuter = seq.enter(seq.expect(contextTag(3), 'ticket'), 'ticket');
    const tktEl = tktOuter.expect(APPLICATION_1, 'Ticket');
    const tktApp = tktOuter.enter(tktEl, 'Ticket');
    const tkt = tktApp.enter(tktApp.expect(Tag.SEQUENCE, 'Ticket'), 'Ticket');
    tkt.expect(contextTag(0), 'tkt-vno');
    const realmR = tkt.enter(tkt.expect(contextTag(1), 'realm'), 'realm');
    const realm = realmR.expect(Tag.GENERAL_STRING, 'realm').value.toString('latin1');
    const snameR = tkt.enter(tkt.expect(contextTag(2), 'sname'), 'sname');
    const sname = snameR.enter(snameR.expect(Tag.SEQUENCE, 'PrincipalName'), 'PrincipalName');
    sname.expect(contextTag(0), 'name-type');
    const stringsR = sname.enter(sname.expect(contextTag(1), 'name-string'), 'name-string');
    const strings = stringsR.enter(stringsR.expect(Tag.SEQUENCE, 'name-string'), 'name-string');
    const parts: string[] = [];
    while (!strings.done && parts.length < 8) parts.push(strings.expect(Tag.GENERAL_STRING, 'name component').value.toString('latin1'));
    const encR = tkt.enter(tkt.expect(contextTag(3), 'enc-part'), 'enc-part');
    const enc = encR.enter(encR.expect(Tag.SEQUENCE, 'EncryptedData'), 'EncryptedData');
    const etype = decodeInteger(enc.enter(enc.expect(contextTag(0), 'etype'), 'etype').expect(INTEGER, 'etype').value, 'etype');
    const kvnoEl = enc.optional(contextTag(1), 'kvno');
    const kvno = kvnoEl ? readKvno(enc.enter(kvnoEl, 'kvno').expect(INTEGER, 'kvno').value) : null;
    return { service: `${parts.join('/')}@${realm}`, etype, etypeName: etypeName(etype), kvno, der: tktEl.bytes };
  } catch {
    return null;
  }
}
