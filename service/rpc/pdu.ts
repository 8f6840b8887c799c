// Connection-oriented DCE/RPC PDUs (C706 chapter 12, MS-RPCE §2.2.2): parsePdu(buf) → typed
// PDU, serializePdu(pdu) → bytes. Little-endian data representation only: every client we serve
// (Windows, Samba, cifs.ko's helper) sends it. A big-endian PDU's header is still read (its
// frag_length and call_id, so the framing holds and the refusal names the call), and the
// connection refuses it cleanly: bind_nak for a bind, a fault for a request.
//
// Layout: a 16-byte common header (rpc_vers 5, rpc_vers_minor 0|1, ptype, pfc_flags,
// packed_drep[4], frag_length, auth_length, call_id), a body that depends on ptype, and, when
// auth_length > 0, auth padding + an 8-byte sec_trailer + auth_length bytes of auth_value at the
// end of the fragment.

import { DecodeError } from '../bytes/decode-error.ts';
import { ByteReader } from '../bytes/reader.ts';
import { uuidFromWire, uuidToWire } from './uuid.ts';
import { ByteWriter } from '../bytes/writer.ts';

export const PType = {
  REQUEST: 0,
  RESPONSE: 2,
  FAULT: 3,
  BIND: 11,
  BIND_ACK: 12,
  BIND_NAK: 13,
  ALTER_CONTEXT: 14,
  ALTER_CONTEXT_RESP: 15,
  AUTH3: 16,
  SHUTDOWN: 17,
  CO_CANCEL: 18,
  ORPHANED: 19,
} as const;

export const PFC = {
  FIRST_FRAG: 0x01,
  LAST_FRAG: 0x02,
  /** In requests: cancel pending. In bind/alter_context: the client supports header signing. */
  PENDING_CANCEL: 0x04,
  SUPPORT_HEADER_SIGN: 0x04,
  CONC_MPX: 0x10,
  DID_NOT_EXECUTE: 0x20,
  MAYBE: 0x40,
  OBJECT_UUID: 0x80,
} as const;

/** bind_ack / alter_context_resp result codes; negotiate_ack answers bind-time feature negotiation. */
export const ContextResult = { ACCEPTANCE: 0, USER_REJECTION: 1, PROVIDER_REJECTION: 2, NEGOTIATE_ACK: 3 } as const;
export const ProviderReason = {
  NOT_SPECIFIED: 0,
  ABSTRACT_SYNTAX_NOT_SUPPORTED: 1,
  PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED: 2,
  LOCAL_LIMIT_EXCEEDED: 3,
} as const;
/** bind_nak reasons. */
export const RejectReason = {
  NOT_SPECIFIED: 0,
  TEMPORARY_CONGESTION: 1,
  LOCAL_LIMIT_EXCEEDED: 2,
  PROTOCOL_VERSION_NOT_SUPPORTED: 4,
  /** C706: the server cannot read the data (here: a big-endian data representation). */
  USER_DATA_NOT_READABLE: 6,
  AUTHENTICATION_TYPE_NOT_RECOGNIZED: 8,
  INVALID_CHECKSUM: 9,
} as const;

/** Fault status codes (C706 Appendix E, MS-RPCE §2.2.2.11 / MS-ERREF). */
export const FaultStatus = {
  ACCESS_DENIED: 0x00000005,
  NDR_FAULT: 0x000006f7, // nca_s_fault_ndr (RPC_X_BAD_STUB_DATA)
  CONTEXT_MISMATCH: 0x1c00001a,
  CANCEL: 0x1c00000d, // nca_s_fault_cancel
  OP_RNG_ERROR: 0x1c010002, // opnum out of range → RPC_S_PROCNUM_OUT_OF_RANGE at the client
  UNK_IF: 0x1c010003, // unknown interface
  PROTO_ERROR: 0x1c01000b,
  UNSUPPORTED_TYPE: 0x1c010017, // nca_s_unsupported_type: a data representation we do not serve
  UNSPEC: 0x1c000012, // nca_s_fault_unspec → RPC_S_CALL_FAILED at the client (MS-RPCE §3.3.2.4.3.1 table)
  UNSPEC_REJECT: 0x1c000009, // nca_s_fault_unspec_reject
  SERVER_TOO_BUSY: 0x000006bb, // RPC_S_SERVER_TOO_BUSY
  SEC_PKG_ERROR: 0x00000721,
} as const;

export const HEADER_SIZE = 16;
export const SEC_TRAILER_SIZE = 8;
/** Little-endian integers, ASCII characters, IEEE floats. */
export const DREP_LE = Buffer.from([0x10, 0x00, 0x00, 0x00]);

export interface SyntaxId {
  uuid: string;
  version: number;
  minor: number;
}

export interface ContextElement {
  contextId: number;
  abstract: SyntaxId;
  transfers: SyntaxId[];
}

export interface ContextResultItem {
  result: number;
  reason: number;
  transfer: SyntaxId;
}

export interface AuthVerifier {
  type: number;
  level: number;
  /** The auth padding before the sec_trailer (its length is auth_pad_length); kept as sent. */
  pad: Buffer;
  contextId: number;
  value: Buffer;
}

interface Common {
  versionMinor: number;
  flags: number;
  callId: number;
}

export type BindPdu = Common & {
  ptype: typeof PType.BIND | typeof PType.ALTER_CONTEXT;
  maxXmitFrag: number;
  maxRecvFrag: number;
  assocGroupId: number;
  contexts: ContextElement[];
  auth: AuthVerifier | null;
};
export type BindAckPdu = Common & {
  ptype: typeof PType.BIND_ACK | typeof PType.ALTER_CONTEXT_RESP;
  maxXmitFrag: number;
  maxRecvFrag: number;
  assocGroupId: number;
  secondaryAddress: string;
  results: ContextResultItem[];
  auth: AuthVerifier | null;
};
export type BindNakPdu = Common & { ptype: typeof PType.BIND_NAK; reason: number; versions: { major: number; minor: number }[] };
export type RequestPdu = Common & {
  ptype: typeof PType.REQUEST;
  allocHint: number;
  contextId: number;
  opnum: number;
  object: string | null;
  stub: Buffer;
  auth: AuthVerifier | null;
};
export type ResponsePdu = Common & { ptype: typeof PType.RESPONSE; allocHint: number; contextId: number; cancelCount: number; stub: Buffer; auth: AuthVerifier | null };
export type FaultPdu = Common & { ptype: typeof PType.FAULT; allocHint: number; contextId: number; cancelCount: number; status: number; faultFlags: number; stub: Buffer };
export type Auth3Pdu = Common & { ptype: typeof PType.AUTH3; auth: AuthVerifier | null };
export type ShutdownPdu = Common & { ptype: typeof PType.SHUTDOWN };
export type CancelPdu = Common & { ptype: typeof PType.CO_CANCEL | typeof PType.ORPHANED; auth: AuthVerifier | null };

export type Pdu = BindPdu | BindAckPdu | BindNakPdu | RequestPdu | ResponsePdu | FaultPdu | Auth3Pdu | ShutdownPdu | CancelPdu;

export interface Header {
  versionMinor: number;
  ptype: number;
  flags: number;
  drep: Buffer;
  fragLength: number;
  authLength: number;
  callId: number;
  /** The integer representation is big-endian (drep[0] high nibble 0): read, but not served. */
  bigEndian: boolean;
}

/** True when a header's drep says big-endian integers (C706 §14.1: the high nibble of drep[0] is 0). */
export function isBigEndian(drep0: number): boolean {
  return drep0 >> 4 === 0;
}

/** Reads and checks the common header (in either byte order). */
export function parseHeader(buf: Buffer): Header {
  if (buf.length < HEADER_SIZE) throw new DecodeError(`PDU header: need 16 bytes, ${buf.length} left`);
  const vers = buf.readUInt8(0);
  const minor = buf.readUInt8(1);
  if (vers !== 5 || minor > 1) throw new DecodeError(`unsupported RPC version ${vers}.${minor}`);
  const drep0 = buf.readUInt8(4);
  if (drep0 >> 4 > 1) throw new DecodeError(`unknown integer representation in drep 0x${drep0.toString(16)}`);
  const be = isBigEndian(drep0);
  const h: Header = {
    versionMinor: minor,
    ptype: buf.readUInt8(2),
    flags: buf.readUInt8(3),
    drep: buf.subarray(4, 8),
    fragLength: be ? buf.readUInt16BE(8) : buf.readUInt16LE(8),
    authLength: be ? buf.readUInt16BE(10) : buf.readUInt16LE(10),
    callId: be ? buf.readUInt32BE(12) : buf.readUInt32LE(12),
    bigEndian: be,
  };
  if (h.fragLength < HEADER_SIZE) throw new DecodeError(`frag_length ${h.fragLength} is shorter than the header`);
  return h;
}

// What a short read names, per kind of syntax (made once: these are read for every bind).
const SYNTAX_FIELDS = {
  abstract: { uuid: 'abstract syntax uuid', version: 'abstract syntax version', minor: 'abstract syntax minor version' },
  transfer: { uuid: 'transfer syntax uuid', version: 'transfer syntax version', minor: 'transfer syntax minor version' },
} as const;

function readSyntax(r: ByteReader, kind: keyof typeof SYNTAX_FIELDS): SyntaxId {
  const what = SYNTAX_FIELDS[kind];
  const uuid = uuidFromWire(r.bytes(16, what.uuid));
  const version = r.u16(what.version);
  const minor = r.u16(what.minor);
  return { uuid, version, minor };
}

function writeSyntax(w: ByteWriter, s: SyntaxId): void {
  w.bytes(uuidToWire(s.uuid)).u16(s.version).u16(s.minor);
}

/** Splits off the auth verifier; returns the end of the body (start of auth padding excluded). */
function readAuth(buf: Buffer, h: Header, bodyStart: number): { auth: AuthVerifier | null; bodyEnd: number } {
  if (h.authLength === 0) return { auth: null, bodyEnd: h.fragLength };
  const trailer = h.fragLength - h.authLength - SEC_TRAILER_SIZE;
  if (trailer < bodyStart) throw new DecodeError(`auth_length ${h.authLength} does not fit in a ${h.fragLength}-byte fragment`);
  const padLength = buf.readUInt8(trailer + 2);
  if (trailer - padLength < bodyStart) throw new DecodeError(`auth_pad_length ${padLength} reaches into the PDU body`);
  return {
    auth: {
      type: buf.readUInt8(trailer),
      level: buf.readUInt8(trailer + 1),
      pad: buf.subarray(trailer - padLength, trailer),
      contextId: buf.readUInt32LE(trailer + 4),
      value: buf.subarray(trailer + SEC_TRAILER_SIZE, h.fragLength),
    },
    bodyEnd: trailer - padLength,
  };
}

/**
 * Where the parts of one received fragment lie: signing and sealing cover exact byte ranges
 * (MS-RPCE §3.3.1.5.2.2), so the security layer works on these offsets, not on copies.
 * Without an auth verifier, padStart = trailerStart = authStart = the fragment's length.
 */
export interface FragmentLayout {
  /** The whole fragment as received (exactly frag_length bytes). */
  bytes: Buffer;
  /** Start of the stub (request: after alloc_hint, p_cont_id, opnum and the object UUID). */
  stubStart: number;
  /** End of the stub: where the auth padding starts. */
  padStart: number;
  /** Start of the 8-byte sec_trailer. */
  trailerStart: number;
  /** Start of the auth value (the token or signature), which runs to the end. */
  authStart: number;
}

/** A parsed fragment with its layout. */
export interface ParsedFragment {
  pdu: Pdu;
  layout: FragmentLayout;
}

/** Parses one whole fragment and says where its parts lie (see FragmentLayout). */
export function parseFragment(buf: Buffer): ParsedFragment {
  const h = parseHeader(buf);
  const pdu = parseBody(buf, h);
  let stubStart = HEADER_SIZE;
  if (h.ptype === PType.REQUEST) stubStart += 8 + ((h.flags & PFC.OBJECT_UUID) !== 0 ? 16 : 0);
  else if (h.ptype === PType.RESPONSE) stubStart += 8;
  // Only PDU types that carry a verifier have one checked by parsePdu (bind_nak, fault and
  // shutdown are read without looking at auth_length): no layout for the others.
  if (h.authLength === 0 || !('auth' in pdu) || pdu.auth === null) return { pdu, layout: { bytes: buf, stubStart, padStart: buf.length, trailerStart: buf.length, authStart: buf.length } };
  const trailerStart = h.fragLength - h.authLength - SEC_TRAILER_SIZE;
  // parsePdu checked that the padding does not reach into the body.
  const padStart = trailerStart - buf.readUInt8(trailerStart + 2);
  return { pdu, layout: { bytes: buf, stubStart, padStart, trailerStart, authStart: trailerStart + SEC_TRAILER_SIZE } };
}

/** Parses one whole fragment (exactly frag_length bytes, as the Deframer delivers them). */
export function parsePdu(buf: Buffer): Pdu {
  return parseBody(buf, parseHeader(buf));
}

/** parsePdu after the header, which the caller has read (parseFragment needs it too). */
function parseBody(buf: Buffer, h: Header): Pdu {
  // Each PDU is one object literal with the header's fields written out: `{ ...common, ptype, … }`
  // (an object spread followed by properties) is a slow path in V8 11, ~8 µs per PDU against
  // ~0.1 µs, and every PDU of every client passes here.
  if (h.bigEndian) throw new DecodeError('big-endian data representation is not supported');
  if (h.fragLength !== buf.length) throw new DecodeError(`frag_length ${h.fragLength} but the fragment holds ${buf.length} bytes`);
  const r = new ByteReader(buf, HEADER_SIZE);
  switch (h.ptype) {
    case PType.BIND:
    case PType.ALTER_CONTEXT: {
      const { auth, bodyEnd } = readAuth(buf, h, HEADER_SIZE + 12);
      const body = new ByteReader(buf, HEADER_SIZE, bodyEnd);
      const maxXmitFrag = body.u16('max_xmit_frag');
      const maxRecvFrag = body.u16('max_recv_frag');
      const assocGroupId = body.u32('assoc_group_id');
      const n = body.u8('n_context_elem');
      body.skip(3, 'p_context_elem reserved');
      // Each element takes at least 24 bytes (44 with one transfer syntax): check the count
      // before building anything.
      body.need(n * 24, `${n} presentation context elements`);
      const contexts: ContextElement[] = [];
      for (let i = 0; i < n; i++) {
        const contextId = body.u16('p_cont_id');
        const nt = body.u8('n_transfer_syn');
        body.skip(1, 'context element reserved');
        const abstract = readSyntax(body, 'abstract');
        body.need(nt * 20, `${nt} transfer syntaxes`);
        const transfers: SyntaxId[] = [];
        for (let j = 0; j < nt; j++) transfers.push(readSyntax(body, 'transfer'));
        contexts.push({ contextId, abstract, transfers });
      }
      return { versionMinor: h.versionMinor, flags: h.flags, callId: h.callId, ptype: h.ptype, maxXmitFrag, maxRecvFrag, assocGroupId, contexts, auth };
    }
    case PType.BIND_ACK:
    case PType.ALTER_CONTEXT_RESP: {
      const { auth, bodyEnd } = readAuth(buf, h, HEADER_SIZE + 10);
      const body = new ByteReader(buf, HEADER_SIZE, bodyEnd);
      const maxXmitFrag = body.u16('max_xmit_frag');
      const maxRecvFrag = body.u16('max_recv_frag');
      const assocGroupId = body.u32('assoc_group_id');
      const addrLen = body.u16('sec_addr length');
      const addr = body.bytes(addrLen, 'sec_addr');
      const secondaryAddress = addr.subarray(0, Math.max(0, addr.indexOf(0) >= 0 ? addr.indexOf(0) : addr.length)).toString('latin1');
      body.skip((4 - ((body.pos - HEADER_SIZE) % 4)) % 4, 'sec_addr padding');
      const n = body.u8('n_results');
      body.skip(3, 'p_result_list reserved');
      body.need(n * 24, `${n} results`);
      const results: ContextResultItem[] = [];
      for (let i = 0; i < n; i++) results.push({ result: body.u16('result'), reason: body.u16('reason'), transfer: readSyntax(body, 'transfer') });
      return { versionMinor: h.versionMinor, flags: h.flags, callId: h.callId, ptype: h.ptype, maxXmitFrag, maxRecvFrag, assocGroupId, secondaryAddress, results, auth };
    }
    case PType.BIND_NAK: {
      const reason = r.u16('provider_reject_reason');
      const versions: { major: number; minor: number }[] = [];
      if (r.remaining > 0) {
        const n = r.u8('n_protocols');
        r.need(n * 2, `${n} protocol versions`);
        for (let i = 0; i < n; i++) versions.push({ major: r.u8(), minor: r.u8() });
      }
      return { versionMinor: h.versionMinor, flags: h.flags, callId: h.callId, ptype: PType.BIND_NAK, reason, versions };
    }
    case PType.REQUEST: {
      const hasObject = (h.flags & PFC.OBJECT_UUID) !== 0;
      const { auth, bodyEnd } = readAuth(buf, h, HEADER_SIZE + 8 + (hasObject ? 16 : 0));
      const body = new ByteReader(buf, HEADER_SIZE, bodyEnd);
      const allocHint = body.u32('alloc_hint');
      const contextId = body.u16('p_cont_id');
      const opnum = body.u16('opnum');
      const object = hasObject ? uuidFromWire(body.bytes(16, 'object uuid')) : null;
      return { versionMinor: h.versionMinor, flags: h.flags, callId: h.callId, ptype: PType.REQUEST, allocHint, contextId, opnum, object, stub: body.bytes(body.remaining, 'stub'), auth };
    }
    case PType.RESPONSE: {
      const { auth, bodyEnd } = readAuth(buf, h, HEADER_SIZE + 8);
      const body = new ByteReader(buf, HEADER_SIZE, bodyEnd);
      const allocHint = body.u32('alloc_hint');
      const contextId = body.u16('p_cont_id');
      const cancelCount = body.u8('cancel_count');
      body.skip(1, 'response reserved');
      return { versionMinor: h.versionMinor, flags: h.flags, callId: h.callId, ptype: PType.RESPONSE, allocHint, contextId, cancelCount, stub: body.bytes(body.remaining, 'stub'), auth };
    }
    case PType.FAULT: {
      const allocHint = r.u32('alloc_hint');
      const contextId = r.u16('p_cont_id');
      const cancelCount = r.u8('cancel_count');
      const faultFlags = r.u8('fault flags');
      const status = r.u32('status');
      r.skip(4, 'fault reserved');
      return { versionMinor: h.versionMinor, flags: h.flags, callId: h.callId, ptype: PType.FAULT, allocHint, contextId, cancelCount, faultFlags, status, stub: r.bytes(r.remaining, 'stub') };
    }
    case PType.AUTH3: {
      const { auth } = readAuth(buf, h, HEADER_SIZE);
      return { versionMinor: h.versionMinor, flags: h.flags, callId: h.callId, ptype: PType.AUTH3, auth };
    }
    case PType.SHUTDOWN:
      return { versionMinor: h.versionMinor, flags: h.flags, callId: h.callId, ptype: PType.SHUTDOWN };
    case PType.CO_CANCEL:
    case PType.ORPHANED: {
      const { auth } = readAuth(buf, h, HEADER_SIZE);
      return { versionMinor: h.versionMinor, flags: h.flags, callId: h.callId, ptype: h.ptype, auth };
    }
    default:
      throw new DecodeError(`unknown PDU type ${h.ptype}`);
  }
}

/** Writes auth_pad_length zero bytes, the sec_trailer and the auth value. */
function writeAuth(w: ByteWriter, auth: AuthVerifier | null): void {
  if (!auth) return;
  w.bytes(auth.pad);
  w.u8(auth.type).u8(auth.level).u8(auth.pad.length).u8(0).u32(auth.contextId).bytes(auth.value);
}

/** Serialises a PDU as one fragment; frag_length and auth_length are computed. */
export function serializePdu(p: Pdu): Buffer {
  const w = new ByteWriter(p.ptype === PType.RESPONSE || p.ptype === PType.REQUEST ? 64 + p.stub.length : 128);
  w.u8(5).u8(p.versionMinor).u8(p.ptype).u8(p.flags).bytes(DREP_LE).u16(0).u16(0).u32(p.callId);
  let auth: AuthVerifier | null = null;
  switch (p.ptype) {
    case PType.BIND:
    case PType.ALTER_CONTEXT:
      w.u16(p.maxXmitFrag).u16(p.maxRecvFrag).u32(p.assocGroupId).u8(p.contexts.length).zeros(3);
      for (const c of p.contexts) {
        w.u16(c.contextId).u8(c.transfers.length).u8(0);
        writeSyntax(w, c.abstract);
        for (const t of c.transfers) writeSyntax(w, t);
      }
      auth = p.auth;
      break;
    case PType.BIND_ACK:
    case PType.ALTER_CONTEXT_RESP: {
      w.u16(p.maxXmitFrag).u16(p.maxRecvFrag).u32(p.assocGroupId);
      // An empty secondary address is a zero length with no bytes (alter_context_resp).
      const addr = p.secondaryAddress === '' ? Buffer.alloc(0) : Buffer.from(`${p.secondaryAddress}\0`, 'latin1');
      w.u16(addr.length).bytes(addr).align(4);
      w.u8(p.results.length).zeros(3);
      for (const res of p.results) {
        w.u16(res.result).u16(res.reason);
        writeSyntax(w, res.transfer);
      }
      auth = p.auth;
      break;
    }
    case PType.BIND_NAK:
      w.u16(p.reason).u8(p.versions.length);
      for (const v of p.versions) w.u8(v.major).u8(v.minor);
      break;
    case PType.REQUEST:
      w.u32(p.allocHint).u16(p.contextId).u16(p.opnum);
      if (p.object !== null) w.bytes(uuidToWire(p.object));
      w.bytes(p.stub);
      auth = p.auth;
      break;
    case PType.RESPONSE:
      w.u32(p.allocHint).u16(p.contextId).u8(p.cancelCount).u8(0).bytes(p.stub);
      auth = p.auth;
      break;
    case PType.FAULT:
      w.u32(p.allocHint).u16(p.contextId).u8(p.cancelCount).u8(p.faultFlags).u32(p.status).u32(0).bytes(p.stub);
      break;
    case PType.AUTH3:
      w.zeros(4); // MS-RPCE: auth3 carries 4 bytes of padding before the trailer
      auth = p.auth;
      break;
    case PType.SHUTDOWN:
      break;
    case PType.CO_CANCEL:
    case PType.ORPHANED:
      auth = p.auth;
      break;
  }
  writeAuth(w, auth);
  const out = w.finish();
  out.writeUInt16LE(out.length, 8);
  out.writeUInt16LE(auth ? auth.value.length : 0, 10);
  return out;
}
