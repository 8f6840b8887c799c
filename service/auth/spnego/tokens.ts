// SPNEGO negotiation tokens (RFC 4178 §4, MS-SPNG §2.2): parse and build.
//
//   InitialContextToken ::= [APPLICATION 0] IMPLICIT SEQUENCE {       -- RFC 2743 §3.1
//       thisMech MechType,                   -- 1.3.6.1.5.5.2 for SPNEGO
//       innerContextToken NegotiationToken } -- only the first token carries this framing
//   NegotiationToken ::= CHOICE { negTokenInit [0] NegTokenInit, negTokenResp [1] NegTokenResp }
//   NegTokenInit  ::= SEQUENCE { mechTypes [0] MechTypeList, reqFlags [1] ContextFlags OPTIONAL,
//                                mechToken [2] OCTET STRING OPTIONAL, mechListMIC [3] OCTET STRING OPTIONAL, ... }
//   NegTokenInit2 ::= SEQUENCE { mechTypes [0] MechTypeList OPTIONAL, reqFlags [1] ContextFlags OPTIONAL,
//                                mechToken [2] OCTET STRING OPTIONAL, negHints [3] NegHints OPTIONAL,
//                                mechListMIC [4] OCTET STRING OPTIONAL, ... }        -- MS-SPNG §2.2.1
//   NegHints ::= SEQUENCE { hintName [0] GeneralString OPTIONAL, hintAddress [1] OCTET STRING OPTIONAL }
//   NegTokenResp  ::= SEQUENCE { negState [0] ENUMERATED OPTIONAL, supportedMech [1] MechType OPTIONAL,
//                                responseToken [2] OCTET STRING OPTIONAL, mechListMIC [3] OCTET STRING OPTIONAL, ... }
//
// NegTokenInit2 takes NegTokenInit's place in the CHOICE (MS-SPNG §2.2.1 note); the two differ at
// [3], which holds an OCTET STRING in NegTokenInit and a SEQUENCE (NegHints) in NegTokenInit2, so
// one parser reads both and says which it saw. Unknown later fields are skipped (RFC 4178 §6:
// "Implementations receiving unknown fields MUST ignore these fields") but must still be valid
// DER and in ascending tag order. Parsing keeps the exact bytes of MechTypeList, because the
// mechListMIC covers them as the client sent them (RFC 4178 §5 a).

import { SecurityError } from '../context.ts';
import { DerReader, Tag, checkDer, contextTag, decodeInteger, decodeOid, der, tagName, type DerElement } from './der.ts';

export const Oid = {
  SPNEGO: '1.3.6.1.5.5.2',
  NTLMSSP: '1.3.6.1.4.1.311.2.2.10',
  KERBEROS: '1.2.840.113554.1.2.2',
  /** The OID early Windows used for Kerberos by mistake (RFC 4178 Appendix C); still sent first by Windows. */
  KERBEROS_MS_LEGACY: '1.2.840.48018.1.2.2',
  /** MS-NEGOEX; we never select it. */
  NEGOEX: '1.3.6.1.4.1.311.2.2.30',
} as const;

/** RFC 4178 §4.2.2 negState. */
export const NegState = {
  ACCEPT_COMPLETED: 0,
  ACCEPT_INCOMPLETE: 1,
  REJECT: 2,
  REQUEST_MIC: 3,
} as const;
export type NegState = (typeof NegState)[keyof typeof NegState];

const NEG_STATE_NAMES = ['accept-completed', 'accept-incomplete', 'reject', 'request-mic'] as const;
/** @testOnly names negState values in test failures. */
export function negStateName(s: NegState): string {
  return NEG_STATE_NAMES[s];
}

/** The hint Windows puts in NegTokenInit2 (MS-SPNG §3.2.5.2: "not_defined_in_RFC4178@please_ignore"). */
export const NEG_HINT_NAME = 'not_defined_in_RFC4178@please_ignore';

export interface NegHints {
  /** GeneralString; MS-SPNG says ANSI, kept here as latin1 so any octets round-trip. */
  hintName: string | null;
  /** MS-SPNG §2.2.1: never present; parsed when it is. */
  hintAddress: Buffer | null;
}

export interface NegTokenInit {
  kind: 'init';
  /** Dotted OIDs in the sender's order of preference. Required in NegTokenInit, optional in NegTokenInit2. */
  mechTypes: string[] | null;
  /** The DER encoding of MechTypeList exactly as received (what mechListMIC covers); null when built or absent. */
  mechTypesDer: Buffer | null;
  /** reqFlags' BIT STRING contents (unused-bits octet first). RFC 4178: the acceptor MUST ignore it. */
  reqFlags: Buffer | null;
  /** The optimistic token for mechTypes[0]. */
  mechToken: Buffer | null;
  /** Present: this is a NegTokenInit2 (MS-SPNG §2.2.1), and mechListMIC sits at [4]. */
  negHints: NegHints | null;
  mechListMIC: Buffer | null;
}

export interface NegTokenResp {
  kind: 'resp';
  negState: NegState | null;
  supportedMech: string | null;
  responseToken: Buffer | null;
  mechListMIC: Buffer | null;
}

function malformed(message: string): SecurityError {
  return new SecurityError('malformed', message);
}

/**
 * The fields of a SEQUENCE of context-tagged, EXPLICIT fields: each [n] read once, in ascending
 * order; unknown ones (n beyond `known`) skipped.
 */
function readFields(seq: DerReader, what: string, known: number): Map<number, DerElement> {
  const fields = new Map<number, DerElement>();
  let last = -1;
  while (!seq.done) {
    const el = seq.read(`${what} field`);
    if ((el.tag & 0xe0) !== 0xa0) throw malformed(`SPNEGO: ${what} holds ${tagName(el.tag)}, not a context-tagged field`);
    const n = el.tag & 0x1f;
    if (n <= last) throw malformed(`SPNEGO: ${what} field [${n}] out of order or repeated`);
    last = n;
    if (n <= known) fields.set(n, el);
  }
  return fields;
}

/** The single element inside an EXPLICIT [n] field, which must have the given tag. */
function inner(outer: DerReader, field: DerElement, tag: number, what: string): DerElement {
  const r = outer.enter(field, what);
  const el = r.expect(tag, what);
  r.expectEnd(what);
  return el;
}

function readMechTypes(outer: DerReader, field: DerElement): { mechTypes: string[]; mechTypesDer: Buffer } {
  const list = inner(outer, field, Tag.SEQUENCE, 'mechTypes');
  const r = outer.enter(field, 'mechTypes').enter(list, 'mechTypes');
  const mechTypes: string[] = [];
  while (!r.done) mechTypes.push(decodeOid(r.expect(Tag.OID, 'MechType').value));
  return { mechTypes, mechTypesDer: list.bytes };
}

function readBitString(outer: DerReader, field: DerElement): Buffer {
  const v = inner(outer, field, Tag.BIT_STRING, 'reqFlags').value;
  const unused = v[0];
  if (unused === undefined || unused > 7 || (v.length === 1 && unused !== 0)) throw malformed('SPNEGO: reqFlags is not a valid BIT STRING');
  return v;
}

function readNegHints(outer: DerReader, field: DerElement): NegHints {
  const seq = inner(outer, field, Tag.SEQUENCE, 'negHints');
  const r = outer.enter(field, 'negHints').enter(seq, 'negHints');
  const f = readFields(r, 'NegHints', 1);
  const name = f.get(0);
  const address = f.get(1);
  return {
    hintName: name ? inner(r, name, Tag.GENERAL_STRING, 'hintName').value.toString('latin1') : null,
    hintAddress: address ? Buffer.from(inner(r, address, Tag.OCTET_STRING, 'hintAddress').value) : null,
  };
}

const copy = (b: Buffer): Buffer => Buffer.from(b);

/** Reads NegTokenInit or NegTokenInit2 from the contents of the [0] choice. */
function readNegTokenInit(outer: DerReader, choice: DerElement): NegTokenInit {
  const seqEl = inner(outer, choice, Tag.SEQUENCE, 'NegTokenInit');
  const seq = outer.enter(choice, 'NegTokenInit').enter(seqEl, 'NegTokenInit');
  const f = readFields(seq, 'NegTokenInit', 4);
  const f3 = f.get(3);
  // [3] tells the two apart: mechListMIC (OCTET STRING) in NegTokenInit, negHints (SEQUENCE) in Init2.
  const isInit2 = f.has(4) || (f3 !== undefined && seq.enter(f3, 'NegTokenInit [3]').peekTag() === Tag.SEQUENCE);
  const mt = f.get(0);
  if (!mt && !isInit2) throw malformed('SPNEGO: NegTokenInit without mechTypes');
  const types = mt ? readMechTypes(seq, mt) : null;
  const flags = f.get(1);
  const token = f.get(2);
  const micField = isInit2 ? f.get(4) : f3;
  return {
    kind: 'init',
    mechTypes: types ? types.mechTypes : null,
    mechTypesDer: types ? copy(types.mechTypesDer) : null,
    reqFlags: flags ? copy(readBitString(seq, flags)) : null,
    mechToken: token ? copy(inner(seq, token, Tag.OCTET_STRING, 'mechToken').value) : null,
    negHints: isInit2 ? (f3 ? readNegHints(seq, f3) : { hintName: null, hintAddress: null }) : null,
    mechListMIC: micField ? copy(inner(seq, micField, Tag.OCTET_STRING, 'mechListMIC').value) : null,
  };
}

function readNegTokenResp(outer: DerReader, choice: DerElement): NegTokenResp {
  const seqEl = inner(outer, choice, Tag.SEQUENCE, 'NegTokenResp');
  const seq = outer.enter(choice, 'NegTokenResp').enter(seqEl, 'NegTokenResp');
  const f = readFields(seq, 'NegTokenResp', 3);
  const state = f.get(0);
  const mech = f.get(1);
  const token = f.get(2);
  const mic = f.get(3);
  let negState: NegState | null = null;
  if (state) {
    const n = decodeInteger(inner(seq, state, Tag.ENUMERATED, 'negState').value, 'negState');
    if (n < 0 || n > 3) throw malformed(`SPNEGO: unknown negState ${n}`);
    negState = n as NegState;
  }
  return {
    kind: 'resp',
    negState,
    supportedMech: mech ? decodeOid(inner(seq, mech, Tag.OID, 'supportedMech').value) : null,
    responseToken: token ? copy(inner(seq, token, Tag.OCTET_STRING, 'responseToken').value) : null,
    mechListMIC: mic ? copy(inner(seq, mic, Tag.OCTET_STRING, 'mechListMIC').value) : null,
  };
}

/**
 * Parses an initial token: the GSS-API InitialContextToken around a NegTokenInit or NegTokenInit2
 * (RFC 4178 §4.2: only the initial token has this framing). Throws SecurityError('malformed').
 */
export function parseInitialToken(buf: Buffer): NegTokenInit {
  checkDer(buf, 'SPNEGO initial token');
  const top = new DerReader(buf);
  const app = top.expect(Tag.APPLICATION_0, 'GSS-API InitialContextToken');
  const r = top.enter(app, 'InitialContextToken');
  const mech = decodeOid(r.expect(Tag.OID, 'thisMech').value);
  if (mech !== Oid.SPNEGO) throw malformed(`SPNEGO: the initial token is for mechanism ${mech}, not SPNEGO (${Oid.SPNEGO})`);
  const choice = r.read('NegotiationToken');
  if (choice.tag !== contextTag(0)) throw malformed(`SPNEGO: the initial token holds ${tagName(choice.tag)}, not negTokenInit [0]`);
  r.expectEnd('the NegotiationToken');
  return readNegTokenInit(r, choice);
}

/** Parses a subsequent token: a NegotiationToken that must be a negTokenResp [1], unframed. */
export function parseNegTokenResp(buf: Buffer): NegTokenResp {
  checkDer(buf, 'SPNEGO token');
  const top = new DerReader(buf);
  const choice = top.read('NegotiationToken');
  if (choice.tag !== contextTag(1)) throw malformed(`SPNEGO: expected negTokenResp [1], found ${tagName(choice.tag)}`);
  return readNegTokenResp(top, choice);
}

// --- building ---

export type NegTokenInitFields = Omit<NegTokenInit, 'kind' | 'mechTypesDer'>;
export type NegTokenRespFields = Omit<NegTokenResp, 'kind'>;

/** The DER encoding of a MechTypeList (what a mechListMIC covers when we are the initiator). */
export function encodeMechTypes(mechTypes: readonly string[]): Buffer {
  return der.sequence(mechTypes.map((m) => der.oid(m)));
}

/**
 * Builds the initial token: InitialContextToken around NegTokenInit, or NegTokenInit2 when
 * negHints is set (MS-SPNG §2.2.1; mechListMIC then moves to [4]).
 */
export function buildInitialToken(t: NegTokenInitFields): Buffer {
  const fields: Buffer[] = [];
  if (t.mechTypes) fields.push(der.context(0, encodeMechTypes(t.mechTypes)));
  else if (!t.negHints) throw new RangeError('NegTokenInit needs mechTypes');
  if (t.reqFlags) fields.push(der.context(1, der.bitString(t.reqFlags)));
  if (t.mechToken) fields.push(der.context(2, der.octetString(t.mechToken)));
  if (t.negHints) {
    const hints: Buffer[] = [];
    if (t.negHints.hintName !== null) hints.push(der.context(0, der.generalString(t.negHints.hintName)));
    if (t.negHints.hintAddress) hints.push(der.context(1, der.octetString(t.negHints.hintAddress)));
    fields.push(der.context(3, der.sequence(hints)));
    if (t.mechListMIC) fields.push(der.context(4, der.octetString(t.mechListMIC)));
  } else if (t.mechListMIC) {
    fields.push(der.context(3, der.octetString(t.mechListMIC)));
  }
  return der.application0([der.oid(Oid.SPNEGO), der.context(0, der.sequence(fields))]);
}

/** Builds a negTokenResp [1] (never framed: RFC 4178 §4.2). */
export function buildNegTokenResp(t: NegTokenRespFields): Buffer {
  const fields: Buffer[] = [];
  if (t.negState !== null) fields.push(der.context(0, der.enumerated(t.negState)));
  if (t.supportedMech !== null) fields.push(der.context(1, der.oid(t.supportedMech)));
  if (t.responseToken) fields.push(der.context(2, der.octetString(t.responseToken)));
  if (t.mechListMIC) fields.push(der.context(3, der.octetString(t.mechListMIC)));
  return der.context(1, der.sequence(fields));
}
