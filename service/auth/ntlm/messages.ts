// The three NTLMSSP messages as the acceptor sees them (MS-NLMP §2.2.1): NEGOTIATE and
// AUTHENTICATE parsed with bounded readers, CHALLENGE built. Parsers keep the raw bytes, because
// the MIC (§3.1.5.1.2) is an HMAC over NEGOTIATE || CHALLENGE || AUTHENTICATE exactly as sent.
//
// Every offset/length pair of AUTHENTICATE is checked against the message before anything is read
// through it, sizes are capped (constants.ts Limits), and nothing is allocated from a wire length
// that has not been checked. Problems leave as SecurityError('malformed').

import { ByteReader } from '../../bytes/reader.ts';
import { ByteWriter } from '../../bytes/writer.ts';
import { buildAvPairs, findAvPair, parseAvPairs, type AvPair } from './avpairs.ts';
import {
  AvFlag,
  AvId,
  Layout,
  Limits,
  MessageType,
  NegotiateFlag,
  NTLMSSP_SIGNATURE,
  NTLMV1_RESPONSE_LENGTH,
  NTLMV2_BLOB_AVPAIRS_OFFSET,
  NTLMV2_RESPONSE_MIN,
  SERVER_VERSION,
} from './constants.ts';
import { guard, ntlmError } from './errors.ts';

/**
 * The MessageType of an NTLMSSP token, after checking the "NTLMSSP\0" signature. Throws
 * SecurityError('malformed') for anything that is not an NTLMSSP message.
 */
export function messageTypeOf(token: Buffer): number {
  if (token.length < 12) throw ntlmError('malformed', `token of ${token.length} bytes is too short for a message header`);
  if (!token.subarray(0, 8).equals(NTLMSSP_SIGNATURE)) throw ntlmError('malformed', 'token does not start with the NTLMSSP signature');
  return token.readUInt32LE(8);
}

// --- NEGOTIATE (§2.2.1.1) ---------------------------------------------------------------------

export interface NegotiateMessage {
  flags: number;
  /** The message as received, for the MIC. */
  raw: Buffer;
}

/**
 * NEGOTIATE: only the flags matter to the acceptor. DomainNameFields and WorkstationFields are
 * informational (and absent in some minimal clients' 16-byte messages), so they are not read.
 */
export function parseNegotiate(token: Buffer): NegotiateMessage {
  return guard('NEGOTIATE', () => {
    if (messageTypeOf(token) !== MessageType.NEGOTIATE) throw ntlmError('malformed', 'expected a NEGOTIATE message');
    if (token.length > Limits.NEGOTIATE_MAX) throw ntlmError('malformed', `NEGOTIATE of ${token.length} bytes exceeds ${Limits.NEGOTIATE_MAX}`);
    const r = new ByteReader(token, 12);
    const flags = r.u32('NEGOTIATE NegotiateFlags');
    return { flags, raw: Buffer.from(token) };
  });
}

// --- CHALLENGE (§2.2.1.2) ---------------------------------------------------------------------

export interface ChallengeParams {
  flags: number;
  /** 8 bytes. */
  serverChallenge: Buffer;
  /** TargetName: empty when the client did not set NTLMSSP_REQUEST_TARGET. */
  targetName: string;
  /** TargetInfo AV pairs (MsvAvEOL is appended). */
  targetInfo: readonly AvPair[];
}

/**
 * Builds CHALLENGE: the 56-byte header (with Version, zeros unless NTLMSSP_NEGOTIATE_VERSION is
 * set, §2.2.1.2), then TargetName and TargetInfo in that order in the payload. Strings are
 * UTF-16LE: the acceptor only answers Unicode clients.
 */
export function buildChallenge(p: ChallengeParams): Buffer {
  const targetName = Buffer.from(p.targetName, 'utf16le');
  const targetInfo = buildAvPairs(p.targetInfo);
  const w = new ByteWriter(Layout.CHALLENGE_HEADER + targetName.length + targetInfo.length);
  w.bytes(NTLMSSP_SIGNATURE).u32(MessageType.CHALLENGE);
  w.u16(targetName.length).u16(targetName.length).u32(Layout.CHALLENGE_HEADER);
  w.u32(p.flags);
  w.bytes(p.serverChallenge);
  w.zeros(8); // Reserved
  w.u16(targetInfo.length).u16(targetInfo.length).u32(Layout.CHALLENGE_HEADER + targetName.length);
  if (p.flags & NegotiateFlag.VERSION) w.bytes(SERVER_VERSION);
  else w.zeros(8);
  w.bytes(targetName).bytes(targetInfo);
  return w.finish();
}

// --- AUTHENTICATE (§2.2.1.3) ------------------------------------------------------------------

export interface Ntlmv2Response {
  /** NTProofStr, the first 16 bytes of NtChallengeResponse. */
  ntProofStr: Buffer;
  /** NTLMv2_CLIENT_CHALLENGE ("temp" in §3.3.2): the rest of NtChallengeResponse. */
  blob: Buffer;
  /** The AV pairs inside the blob: our target info as the client echoed it, plus its own. */
  avPairs: AvPair[];
  /** MsvAvFlags, 0 when absent. */
  avFlags: number;
}

export interface AuthenticateMessage {
  flags: number;
  lmResponse: Buffer;
  ntResponse: Buffer;
  domain: string;
  user: string;
  workstation: string;
  encryptedRandomSessionKey: Buffer;
  /** Set when NtChallengeResponse is an NTLMv2 response (longer than 24 bytes). */
  ntlmv2: Ntlmv2Response | null;
  /** The MIC the client sent (when its MsvAvFlags say so), else null. */
  mic: Buffer | null;
  /** The message as received, with the MIC field zeroed: what the MIC is computed over. */
  rawForMic: Buffer;
}

interface Field {
  name: string;
  offset: number;
  length: number;
}

const AUTH_FIELDS = ['LmChallengeResponse', 'NtChallengeResponse', 'DomainName', 'UserName', 'Workstation', 'EncryptedRandomSessionKey'] as const;

const FIELD_MAX: Record<(typeof AUTH_FIELDS)[number], number> = {
  LmChallengeResponse: Limits.LM_RESPONSE_MAX,
  NtChallengeResponse: Limits.NT_RESPONSE_MAX,
  DomainName: Limits.NAME_MAX,
  UserName: Limits.NAME_MAX,
  Workstation: Limits.NAME_MAX,
  EncryptedRandomSessionKey: 16,
};

/**
 * Parses AUTHENTICATE. Checks, before reading any payload field:
 * - each non-empty field lies wholly inside the message and after the fixed part (64 bytes, 72
 *   with Version, 88 when a MIC is present);
 * - no two non-empty fields overlap;
 * - each field is within its size limit.
 * Empty fields' offsets are ignored (clients put anything there). The NTLMv2 blob's AV pairs are
 * parsed to learn whether a MIC was sent (MsvAvFlags bit 0x2, §2.2.2.1).
 */
export function parseAuthenticate(token: Buffer): AuthenticateMessage {
  return guard('AUTHENTICATE', () => {
    if (messageTypeOf(token) !== MessageType.AUTHENTICATE) throw ntlmError('malformed', 'expected an AUTHENTICATE message');
    if (token.length > Limits.AUTHENTICATE_MAX) throw ntlmError('malformed', `AUTHENTICATE of ${token.length} bytes exceeds ${Limits.AUTHENTICATE_MAX}`);
    const r = new ByteReader(token, 12);
    const fields: Field[] = [];
    for (const name of AUTH_FIELDS) {
      const length = r.u16(`${name} Len`);
      r.u16(`${name} MaxLen`); // MUST be ignored on receipt (§2.2.1.3)
      const offset = r.u32(`${name} BufferOffset`);
      if (length > FIELD_MAX[name]) throw ntlmError('malformed', `AUTHENTICATE ${name} of ${length} bytes exceeds ${FIELD_MAX[name]}`);
      fields.push({ name, offset, length });
    }
    const flags = r.u32('AUTHENTICATE NegotiateFlags');

    // First pass: every non-empty field inside the message, not over the 64 mandatory bytes.
    for (const f of fields) checkField(f, token.length, Layout.AUTHENTICATE_BASE);
    const slice = (i: number): Buffer => {
      const f = fields[i];
      return f === undefined || f.length === 0 ? Buffer.alloc(0) : token.subarray(f.offset, f.offset + f.length);
    };
    // Copies: what is returned must not change if the caller reuses the token's buffer.
    const lmResponse = Buffer.from(slice(0));
    const ntResponse = Buffer.from(slice(1));
    const ntlmv2 = ntResponse.length > NTLMV1_RESPONSE_LENGTH ? parseNtlmv2Response(ntResponse) : null;
    if (ntResponse.length !== 0 && ntResponse.length !== NTLMV1_RESPONSE_LENGTH && ntlmv2 === null) {
      throw ntlmError('malformed', `NtChallengeResponse of ${ntResponse.length} bytes is neither NTLMv1 nor NTLMv2`);
    }
    const micPresent = ntlmv2 !== null && (ntlmv2.avFlags & AvFlag.MIC_PRESENT) !== 0;

    // Second pass: the fixed part as this message has it, and no overlaps.
    const fixedEnd = micPresent
      ? Layout.AUTH_MIC_OFFSET + Layout.MIC_LENGTH
      : flags & NegotiateFlag.VERSION
        ? Layout.AUTH_MIC_OFFSET
        : Layout.AUTHENTICATE_BASE;
    if (token.length < fixedEnd) throw ntlmError('malformed', `AUTHENTICATE of ${token.length} bytes is shorter than its ${fixedEnd}-byte fixed part`);
    for (const f of fields) checkField(f, token.length, fixedEnd);
    const used = fields.filter((f) => f.length > 0).sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < used.length; i++) {
      const prev = used[i - 1];
      const cur = used[i];
      if (prev !== undefined && cur !== undefined && cur.offset < prev.offset + prev.length) {
        throw ntlmError('malformed', `AUTHENTICATE ${cur.name} overlaps ${prev.name}`);
      }
    }

    const unicode = (flags & NegotiateFlag.UNICODE) !== 0;
    const text = (i: number): string => decodeString(slice(i), unicode, fields[i]?.name ?? '');
    const rawForMic = Buffer.from(token);
    let mic: Buffer | null = null;
    if (micPresent) {
      mic = Buffer.from(token.subarray(Layout.AUTH_MIC_OFFSET, Layout.AUTH_MIC_OFFSET + Layout.MIC_LENGTH));
      rawForMic.fill(0, Layout.AUTH_MIC_OFFSET, Layout.AUTH_MIC_OFFSET + Layout.MIC_LENGTH);
    }
    return {
      flags,
      lmResponse,
      ntResponse,
      domain: text(2),
      user: text(3),
      workstation: text(4),
      encryptedRandomSessionKey: Buffer.from(slice(5)),
      ntlmv2,
      mic,
      rawForMic,
    };
  });
}

function checkField(f: Field, messageLength: number, fixedEnd: number): void {
  if (f.length === 0) return;
  if (f.offset < fixedEnd) throw ntlmError('malformed', `AUTHENTICATE ${f.name} at offset ${f.offset} overlaps the ${fixedEnd}-byte fixed part`);
  if (f.offset + f.length > messageLength) {
    throw ntlmError('malformed', `AUTHENTICATE ${f.name} (${f.length} bytes at ${f.offset}) runs past the ${messageLength}-byte message`);
  }
}

function decodeString(b: Buffer, unicode: boolean, name: string): string {
  if (!unicode) return b.toString('latin1'); // OEM code page: latin1 is the best a server without the client's code page can do
  if (b.length % 2 !== 0) throw ntlmError('malformed', `AUTHENTICATE ${name} has an odd length (${b.length}) for UTF-16`);
  return b.toString('utf16le');
}

/**
 * Splits an NTLMv2 NtChallengeResponse (§2.2.2.8) into NTProofStr and the NTLMv2_CLIENT_CHALLENGE
 * blob (§2.2.2.7: RespType 1, HiRespType 1, reserved, TimeStamp, ChallengeFromClient, reserved,
 * AvPairs) and parses the blob's AV pairs. Throws SecurityError('malformed').
 */
export function parseNtlmv2Response(ntResponse: Buffer): Ntlmv2Response {
  return guard('NTLMv2 response', () => {
    if (ntResponse.length < NTLMV2_RESPONSE_MIN) throw ntlmError('malformed', `NTLMv2 response of ${ntResponse.length} bytes is shorter than ${NTLMV2_RESPONSE_MIN}`);
    const ntProofStr = ntResponse.subarray(0, 16);
    const blob = ntResponse.subarray(16);
    if (blob[0] !== 1 || blob[1] !== 1) throw ntlmError('malformed', `NTLMv2 blob RespType/HiRespType ${blob[0]}/${blob[1]}, expected 1/1`);
    const avPairs = parseAvPairs(blob, NTLMV2_BLOB_AVPAIRS_OFFSET);
    const flagsValue = findAvPair(avPairs, AvId.FLAGS);
    let avFlags = 0;
    if (flagsValue !== undefined) {
      if (flagsValue.length !== 4) throw ntlmError('malformed', `MsvAvFlags of ${flagsValue.length} bytes, expected 4`);
      avFlags = flagsValue.readUInt32LE(0);
    }
    return { ntProofStr, blob, avPairs, avFlags };
  });
}
