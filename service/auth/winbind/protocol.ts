// winbindd's socket protocol, as Samba 4.17 (Debian 12) speaks it on x86_64: the client writes one
// fixed-size `struct winbindd_request` (plus `extra_len` bytes of extra data when it has any) and
// reads one fixed-size `struct winbindd_response` followed by its extra data; one request at a
// time per connection. Facts from Samba's public header nsswitch/winbind_struct_protocol.h
// (interface version 32, the 4.17 release) and checked against the real winbindd (the unit tests
// hold the byte layout; test/peers/auth-winbind.test.ts talks to winbindd with it):
//
// - Both structures are C structs with natural alignment; `fstring` is char[256]; time values are
//   int64 so that 32- and 64-bit clients agree; pointers sit in 8-byte unions. winbindd drops a
//   connection whose request's first word (`length`) is not exactly sizeof(struct winbindd_request)
//   and a client refuses a response whose `length` is below sizeof(struct winbindd_response).
// - Request (2,136 bytes): length, cmd, original_cmd, pid, wb_flags, flags (u32 each), domain_name
//   (fstring), client_name (char[32]), traceid (u64), the data union (1,800 bytes), extra_data (a
//   pointer's 8 bytes, ignored on the wire), extra_len (u32), null_term (char), padding to 8.
// - Response (4,008 bytes): length (u32, the whole answer including the extra data), result (0
//   error, 1 pending, 2 ok), the data union at 8 (3,992 bytes: its largest member is the PAM
//   answer, `auth`), then extra_data's 8 bytes. The extra data follows: length - 4,008 bytes.
// - The command numbers are an enum whose members were added and removed over the versions
//   (PRIV_PIPE_DIR is 44 in version 32 and 43 in 33); INTERFACE_VERSION (0) and PAM_AUTH_CRAP (14)
//   have not moved. So a client asks the version first and speaks only a version it knows.
//
// Only little-endian hosts are supported (the structs are the host's own byte order).

/** The interface versions whose layout and command numbers this file knows. */
export const KNOWN_INTERFACE_VERSIONS = [32, 33] as const;
export type InterfaceVersion = (typeof KNOWN_INTERFACE_VERSIONS)[number];

export const REQUEST_SIZE = 2136;
export const RESPONSE_SIZE = 4008;
const FSTRING = 256;

/** Commands (enum winbindd_cmd) per interface version; only those this client sends. */
export interface Commands {
  interfaceVersion: number;
  pamAuthCrap: number;
  lookupSid: number;
  privPipeDir: number;
}
const COMMANDS: Record<InterfaceVersion, Commands> = {
  // 4.17: … LOOKUPSID 21 … PING 32 … DC_INFO 38, SHOW_SEQUENCE 39, … NETBIOS_NAME 43, PRIV_PIPE_DIR 44
  32: { interfaceVersion: 0, pamAuthCrap: 14, lookupSid: 21, privPipeDir: 44 },
  // 33 removed SHOW_SEQUENCE (39): everything after it moved down by one. (From the header only:
  // not run against a winbindd of that version here.)
  33: { interfaceVersion: 0, pamAuthCrap: 14, lookupSid: 21, privPipeDir: 43 },
};
export function commandsFor(version: InterfaceVersion): Commands {
  return COMMANDS[version];
}
export function isKnownVersion(v: number): v is InterfaceVersion {
  return (KNOWN_INTERFACE_VERSIONS as readonly number[]).includes(v);
}

/** The first command of every version: answered with the version in data.interface_version. */
export const CMD_INTERFACE_VERSION = 0;

/** enum winbindd_result. */
export const Result = { ERROR: 0, PENDING: 1, OK: 2 } as const;

/** Request flags (the `flags` word) for PAM_AUTH_CRAP. */
export const Flag = {
  /** The answer's info3 as text: names, SIDs, and the groups in the extra data. */
  PAM_INFO3_TEXT: 0x0000_0002,
  /** The answer's user_session_key: for NTLMv2 the SessionBaseKey. */
  PAM_USER_SESSION_KEY: 0x0000_0004,
  /** The NT response is in the extra data (it does not fit the 256-byte field). */
  BIG_NTLMV2_BLOB: 0x0001_0000,
} as const;

/**
 * MS-NRPC ParameterControl bits ntlm_auth sets (and so does this client): trust accounts (a
 * computer's own account) may log on too, as through the helpers.
 */
export const LogonParameter = {
  ALLOW_SERVER_TRUST_ACCOUNT: 0x0000_0020,
  ALLOW_WORKSTATION_TRUST_ACCOUNT: 0x0000_0800,
} as const;
export const DEFAULT_LOGON_PARAMETERS = LogonParameter.ALLOW_SERVER_TRUST_ACCOUNT | LogonParameter.ALLOW_WORKSTATION_TRUST_ACCOUNT;

/** Offsets in the request. */
const REQ = {
  length: 0,
  cmd: 4,
  originalCmd: 8,
  pid: 12,
  wbFlags: 16,
  flags: 20,
  domainName: 24,
  clientName: 280, // char[32], ends at 312
  traceId: 312, // u64; 312 is 8-aligned
  data: 320, // the union: 1,800 bytes, 4-aligned
  extraLen: 2128, // after extra_data's 8 bytes at 2120 (8-aligned)
  // null_term at 2132; the struct is padded to 2136 (its alignment is 8)
} as const;

/** Offsets of data.auth_crap's fields, from the data union's start. */
const CRAP = {
  chal: 0, // u8[8]
  logonParameters: 8,
  user: 12,
  domain: 268,
  lmResp: 524,
  lmRespLen: 780,
  ntResp: 784,
  ntRespLen: 1040,
  workstation: 1044,
  requireMembershipOfSid: 1300,
} as const;

/** Offsets in the response (absolute). */
const RESP = {
  length: 0,
  result: 4,
  data: 8,
} as const;

/** Offsets of data.auth (absolute: data starts at 8). */
const AUTH = {
  ntStatus: 8,
  ntStatusString: 12,
  errorString: 268,
  userSessionKey: 528, // 16 bytes
  authoritative: 812, // u8
  validationLevel: 814, // u16
  info3: 848,
} as const;
/** Offsets of data.auth.info3 (absolute): six int64 times, eight u32, nine fstrings. */
const INFO3 = {
  userRid: AUTH.info3 + 56,
  groupRid: AUTH.info3 + 60,
  numGroups: AUTH.info3 + 64,
  numOtherSids: AUTH.info3 + 76,
  domSid: AUTH.info3 + 80,
  userName: AUTH.info3 + 336,
  logonDom: AUTH.info3 + 80 + 8 * FSTRING,
} as const;
/** data.name of a LOOKUPSID answer (absolute). */
const NAME = { domName: 8, name: 8 + FSTRING, type: 8 + 2 * FSTRING } as const;

/** Longest name (in UTF-8 bytes) an fstring holds with its terminating NUL. */
export const MAX_FSTRING_BYTES = FSTRING - 1;
/** What we accept as extra data in an answer (winbindd itself sends at most 128 KiB for these commands). */
export const MAX_RESPONSE_EXTRA = 128 * 1024;
/** What winbindd accepts as a request's extra data (WINBINDD_MAX_EXTRA_DATA). */
export const MAX_REQUEST_EXTRA = 128 * 1024;

export class WinbindProtocolError extends Error {}

function putString(buf: Buffer, off: number, size: number, s: string, what: string): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length > size - 1) throw new WinbindProtocolError(`${what} is ${b.length} bytes (at most ${size - 1})`);
  if (b.includes(0)) throw new WinbindProtocolError(`${what} contains a NUL`);
  b.copy(buf, off);
}

/** A NUL-terminated string inside [off, off + size): never reads past the field. */
function getString(buf: Buffer, off: number, size: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end < 0 || end > off + size ? off + size : end);
}

/** Generic request flags (the `wb_flags` word). */
export const WbFlag = {
  /** "Do not recurse into winbind": libwbclient sets it on its own version check and PRIV_PIPE_DIR. */
  RECURSE: 0x0000_0800,
} as const;

export interface RequestHeader {
  cmd: number;
  pid: number;
  wbFlags?: number;
  flags?: number;
  /** Shown in winbindd's logs (client_name, at most 31 bytes). */
  clientName?: string;
}

/** A request with everything zero but the header; `extraLen` says how many bytes follow it. */
function request(h: RequestHeader, extraLen: number): Buffer {
  if (extraLen < 0 || extraLen > MAX_REQUEST_EXTRA) throw new WinbindProtocolError(`extra data of ${extraLen} bytes (at most ${MAX_REQUEST_EXTRA})`);
  const b = Buffer.alloc(REQUEST_SIZE);
  b.writeUInt32LE(REQUEST_SIZE, REQ.length);
  b.writeUInt32LE(h.cmd, REQ.cmd);
  b.writeUInt32LE(h.pid >>> 0, REQ.pid);
  b.writeUInt32LE(h.wbFlags ?? 0, REQ.wbFlags);
  b.writeUInt32LE(h.flags ?? 0, REQ.flags);
  putString(b, REQ.clientName, 32, (h.clientName ?? '').slice(0, 31), 'client name');
  b.writeBigUInt64LE(0n, REQ.traceId);
  b.writeUInt32LE(extraLen, REQ.extraLen);
  return b;
}

/** A request without arguments (INTERFACE_VERSION, PRIV_PIPE_DIR, PING). */
export function encodeSimpleRequest(h: RequestHeader): Buffer {
  return request(h, 0);
}

export interface AuthCrapRequest {
  user: string;
  domain: string;
  workstation: string;
  /** The 8-byte server challenge. */
  challenge: Buffer;
  /** NtChallengeResponse (NTLMv2: NTProofStr + blob), sent as extra data. */
  ntResponse: Buffer;
  /** MS-NRPC ParameterControl; default DEFAULT_LOGON_PARAMETERS (ntlm_auth's). */
  logonParameters?: number;
}

/**
 * WINBINDD_PAM_AUTH_CRAP: the fixed request and its extra data (the NT response, which with
 * BIG_NTLMV2_BLOB winbindd takes from there: extra_len must equal nt_resp_len). No LM response is
 * sent (lm_resp_len 0): for NTLMv2 only the NT response may log on.
 */
export function encodeAuthCrap(h: Omit<RequestHeader, 'flags'> & { flags: number }, r: AuthCrapRequest): Buffer[] {
  if (r.challenge.length !== 8) throw new WinbindProtocolError(`a challenge of ${r.challenge.length} bytes, not 8`);
  const b = request({ ...h, flags: h.flags | Flag.BIG_NTLMV2_BLOB }, r.ntResponse.length);
  const d = REQ.data;
  r.challenge.copy(b, d + CRAP.chal);
  b.writeUInt32LE(r.logonParameters ?? DEFAULT_LOGON_PARAMETERS, d + CRAP.logonParameters);
  putString(b, d + CRAP.user, FSTRING, r.user, 'user name');
  putString(b, d + CRAP.domain, FSTRING, r.domain, 'domain');
  b.writeUInt32LE(0, d + CRAP.lmRespLen);
  b.writeUInt32LE(r.ntResponse.length, d + CRAP.ntRespLen);
  // The workstation is informational (winbindd puts its own name there when empty): cut, not refused.
  putString(b, d + CRAP.workstation, FSTRING, truncateUtf8(r.workstation.replace(/\0/g, ''), MAX_FSTRING_BYTES), 'workstation');
  return [b, r.ntResponse];
}

/** data.sid for LOOKUPSID. */
export function encodeLookupSid(h: RequestHeader, sid: string): Buffer {
  const b = request(h, 0);
  putString(b, REQ.data, FSTRING, sid, 'SID');
  return b;
}

function truncateUtf8(s: string, max: number): string {
  let b = Buffer.from(s, 'utf8');
  if (b.length <= max) return s;
  b = b.subarray(0, max);
  // drop a cut multi-byte sequence
  return b.toString('utf8').replace(/\uFFFD+$/, '');
}

/** The fixed part of a response as it arrived: how many extra bytes follow, and the result code. */
export interface ResponseHead {
  length: number;
  result: number;
  extraLength: number;
}

/**
 * Checks the first bytes of a response (at least 8): `length` covers the fixed part and at most
 * MAX_RESPONSE_EXTRA more. Throws on anything else: the stream is then out of step and the
 * connection must be dropped.
 */
export function decodeResponseHead(b: Buffer): ResponseHead {
  if (b.length < 8) throw new WinbindProtocolError(`a response head of ${b.length} bytes`);
  const length = b.readUInt32LE(RESP.length);
  const result = b.readUInt32LE(RESP.result);
  if (length < RESPONSE_SIZE) throw new WinbindProtocolError(`a response of ${length} bytes, shorter than the ${RESPONSE_SIZE}-byte structure (not the layout of interface 32)`);
  if (length - RESPONSE_SIZE > MAX_RESPONSE_EXTRA) throw new WinbindProtocolError(`a response with ${length - RESPONSE_SIZE} bytes of extra data (at most ${MAX_RESPONSE_EXTRA})`);
  if (result !== Result.ERROR && result !== Result.PENDING && result !== Result.OK) throw new WinbindProtocolError(`a response with result ${result}`);
  return { length, result, extraLength: length - RESPONSE_SIZE };
}

/** A whole response: the fixed part (RESPONSE_SIZE bytes) and its extra data. */
export interface Response {
  head: ResponseHead;
  fixed: Buffer;
  extra: Buffer;
}

export function decodeInterfaceVersion(r: Response): number {
  return r.fixed.readInt32LE(RESP.data);
}

/** PRIV_PIPE_DIR's answer: the directory of the privileged socket, NUL-terminated, in the extra data. */
export function decodePrivPipeDir(r: Response): string {
  if (r.head.result !== Result.OK) throw new WinbindProtocolError('PRIV_PIPE_DIR refused');
  const end = r.extra.indexOf(0);
  const dir = r.extra.toString('utf8', 0, end < 0 ? r.extra.length : end);
  if (!dir.startsWith('/')) throw new WinbindProtocolError(`PRIV_PIPE_DIR answered ${JSON.stringify(dir)}, not an absolute path`);
  return dir;
}

export interface AuthCrapAnswer {
  /** NTSTATUS (0 = success). */
  ntStatus: number;
  /** "NT_STATUS_WRONG_PASSWORD" … */
  ntStatusString: string;
  /** winbindd's words for it. */
  errorString: string;
  /** Whether a refusal is final (false: another source could still say yes). */
  authoritative: boolean;
  userSessionKey: Buffer;
  /** From info3 (INFO3_TEXT): the account as the domain spells it. */
  userName: string;
  logonDomain: string;
  domainSid: string;
  userRid: number;
  primaryGroupRid: number;
  /** The user's groups' SIDs from info3: the primary group, the domain's (domain SID + RID) and the other SIDs. */
  groupSids: string[];
}

/** A SID's text form as winbindd writes it: S-1-<authority>(-<sub authority>){0,15}. */
const SID_TEXT = /^S-1-\d{1,15}(?:-\d{1,10}){0,15}$/;
/** Lines of the info3 text answer: "0xRRRRRRRR:0xAAAAAAAA" (a RID) or "S-…:0xAAAAAAAA" (another SID). */
const GROUP_LINE = /^(?:0x([0-9A-Fa-f]{1,8})|(S-1-[0-9-]+)):0x[0-9A-Fa-f]{1,8}$/;
/** More groups than this in one answer is not a logon we take (Windows' token limit is 1,024). */
export const MAX_GROUPS = 1024;

export function decodeAuthCrap(r: Response): AuthCrapAnswer {
  const f = r.fixed;
  const ntStatus = f.readUInt32LE(AUTH.ntStatus);
  const a: AuthCrapAnswer = {
    ntStatus,
    ntStatusString: getString(f, AUTH.ntStatusString, FSTRING),
    errorString: getString(f, AUTH.errorString, FSTRING),
    authoritative: f.readUInt8(AUTH.authoritative) !== 0,
    userSessionKey: Buffer.from(f.subarray(AUTH.userSessionKey, AUTH.userSessionKey + 16)),
    userName: getString(f, INFO3.userName, FSTRING),
    logonDomain: getString(f, INFO3.logonDom, FSTRING),
    domainSid: getString(f, INFO3.domSid, FSTRING),
    userRid: f.readUInt32LE(INFO3.userRid),
    primaryGroupRid: f.readUInt32LE(INFO3.groupRid),
    groupSids: [],
  };
  if (ntStatus !== 0 || r.head.result !== Result.OK) return a;
  const declared = f.readUInt32LE(INFO3.numGroups) + f.readUInt32LE(INFO3.numOtherSids);
  if (declared > MAX_GROUPS) throw new WinbindProtocolError(`info3 with ${declared} groups (at most ${MAX_GROUPS})`);
  const domainSid = SID_TEXT.test(a.domainSid) ? a.domainSid : null;
  const end = r.extra.indexOf(0);
  const text = r.extra.toString('utf8', 0, end < 0 ? r.extra.length : end);
  const sids = new Set<string>();
  // The primary group counts as a group (wbinfo --user-sids lists it too); DCs repeat it in the list.
  if (domainSid !== null && a.primaryGroupRid !== 0) sids.add(`${domainSid}-${a.primaryGroupRid}`);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = GROUP_LINE.exec(line);
    if (m === null) throw new WinbindProtocolError(`an info3 group line ${JSON.stringify(line.slice(0, 80))}`);
    if (m[1] !== undefined) {
      if (domainSid === null) throw new WinbindProtocolError('info3 group RIDs without a domain SID');
      sids.add(`${domainSid}-${parseInt(m[1], 16)}`);
    } else if (m[2] !== undefined && SID_TEXT.test(m[2])) {
      sids.add(m[2]);
    } else {
      throw new WinbindProtocolError(`an info3 group SID ${JSON.stringify(line.slice(0, 80))}`);
    }
    if (sids.size > MAX_GROUPS) throw new WinbindProtocolError(`more than ${MAX_GROUPS} groups in info3`);
  }
  a.groupSids = [...sids];
  return a;
}

/** LOOKUPSID's answer: the account's domain, name and SID type (or null when winbindd does not know it). */
export function decodeLookupSid(r: Response): { domain: string; name: string; type: number } | null {
  if (r.head.result !== Result.OK) return null;
  return { domain: getString(r.fixed, NAME.domName, FSTRING), name: getString(r.fixed, NAME.name, FSTRING), type: r.fixed.readInt32LE(NAME.type) };
}
