// The PAC's logon information (MS-PAC §2.5 KERB_VALIDATION_INFO), as MIT's GSS-API hands it over
// for the name attribute "urn:mspac:logon-info": an NDR type serialization (MS-RPCE §2.2.6) of
// one unique pointer to the structure. Read for the account's name, its NetBIOS domain and its
// group SIDs; everything else is skipped. Every count is checked against what is left before
// anything is read, and the whole buffer is bounded.
//
//   Common type header (8) | private header (8: object length, filler) | referent id (4)
//   KERB_VALIDATION_INFO, 196 bytes of fixed part: six FILETIMEs, six RPC_UNICODE_STRINGs
//   (length, maximum length, pointer), counts, RIDs, pointers...; then the deferred referents in
//   field order: the six strings, GroupIds, LogonServer, LogonDomainName, LogonDomainId,
//   ExtraSids (and their SIDs), ResourceGroupDomainSid, ResourceGroupIds.

/** A PAC logon-info buffer larger than this is refused (a real one is a few hundred bytes per 100 groups). */
export const MAX_LOGON_INFO = 256 * 1024;
/** Groups read from one PAC (AD's token limit is about 1,000). */
export const MAX_GROUPS = 4096;

export interface LogonInfo {
  user: string;
  domain: string;
  /** S-1-5-21-… of the account's domain. */
  domainSid: string;
  userSid: string;
  /** The primary group, the domain groups, the extra SIDs and resource groups, as SID strings. */
  groupSids: string[];
}

class NdrReader {
  pos = 0;
  private readonly b: Buffer;
  constructor(b: Buffer) {
    this.b = b;
  }
  private need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.b.length) throw new Error(`PAC logon info: ${what} runs past the buffer`);
  }
  align(n: number): void {
    this.pos = Math.ceil(this.pos / n) * n;
  }
  u8(what: string): number {
    this.need(1, what);
    return this.b.readUInt8(this.pos++);
  }
  u16(what: string): number {
    this.align(2);
    this.need(2, what);
    const v = this.b.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.align(4);
    this.need(4, what);
    const v = this.b.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  skip(n: number, what: string): void {
    this.need(n, what);
    this.pos += n;
  }
  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  /** A conformant varying UTF-16 string's body (the referent of an RPC_UNICODE_STRING's pointer). */
  string(what: string): string {
    const max = this.u32(what);
    const offset = this.u32(what);
    const actual = this.u32(what);
    if (offset !== 0 || actual > max) throw new Error(`PAC logon info: ${what} has offset ${offset}, ${actual} of ${max} characters`);
    return this.bytes(actual * 2, what).toString('utf16le');
  }
  /** An RPC_SID's body: conformant count, revision, count, authority, sub-authorities. */
  sid(what: string): string {
    const max = this.u32(what);
    const rev = this.u8(what);
    const count = this.u8(what);
    if (count !== max || count > 15) throw new Error(`PAC logon info: ${what} has ${count} sub-authorities (conformance ${max})`);
    const auth = this.bytes(6, what).readUIntBE(0, 6);
    const subs: number[] = [];
    for (let i = 0; i < count; i++) subs.push(this.u32(what));
    return `S-${rev}-${auth}${subs.map((s) => `-${s}`).join('')}`;
  }
}

interface UnicodeString {
  present: boolean;
}

function unicodeString(r: NdrReader, what: string): UnicodeString {
  r.u16(what);
  r.u16(what);
  return { present: r.u32(what) !== 0 };
}

/** Parses the logon info; null when it is not what MS-PAC describes (the caller then uses the principal alone). */
export function parseLogonInfo(buf: Buffer): LogonInfo | null {
  try {
    return parse(buf);
  } catch {
    return null;
  }
}

export function parse(buf: Buffer): LogonInfo {
  if (buf.length > MAX_LOGON_INFO) throw new Error(`PAC logon info of ${buf.length} bytes (at most ${MAX_LOGON_INFO})`);
  const r = new NdrReader(buf);
  // Common type header: version 1, little-endian (0x10), header length 8, filler.
  if (r.u8('header') !== 1 || r.u8('header') !== 0x10 || r.u16('header') !== 8) throw new Error('PAC logon info: not a little-endian NDR type serialization');
  r.skip(4, 'header');
  r.skip(8, 'private header');
  if (r.u32('referent') === 0) throw new Error('PAC logon info: null structure');
  r.skip(6 * 8, 'times');
  const strings = [0, 1, 2, 3, 4, 5].map((i) => unicodeString(r, `name ${i}`));
  r.skip(4, 'logon and bad password counts');
  const userRid = r.u32('UserId');
  const primaryRid = r.u32('PrimaryGroupId');
  const groupCount = r.u32('GroupCount');
  const groupsPtr = r.u32('GroupIds');
  r.u32('UserFlags');
  r.skip(16, 'UserSessionKey');
  const logonServer = unicodeString(r, 'LogonServer');
  const domainName = unicodeString(r, 'LogonDomainName');
  const domainSidPtr = r.u32('LogonDomainId');
  r.skip(8 + 4 + 4 + 8 + 8 + 4 + 4, 'reserved, account control, logon times');
  const sidCount = r.u32('SidCount');
  const extraPtr = r.u32('ExtraSids');
  const resDomainPtr = r.u32('ResourceGroupDomainSid');
  const resCount = r.u32('ResourceGroupCount');
  const resPtr = r.u32('ResourceGroupIds');
  if (groupCount > MAX_GROUPS || sidCount > MAX_GROUPS || resCount > MAX_GROUPS) throw new Error('PAC logon info: too many groups');

  // Deferred referents, in field order.
  let user = '';
  strings.forEach((s, i) => {
    if (!s.present) return;
    const v = r.string(`name ${i}`);
    if (i === 0) user = v;
  });
  const groupRids: number[] = [];
  if (groupsPtr !== 0) {
    const n = r.u32('GroupIds conformance');
    if (n !== groupCount) throw new Error('PAC logon info: GroupIds conformance differs from GroupCount');
    for (let i = 0; i < n; i++) {
      groupRids.push(r.u32('GroupIds'));
      r.u32('GroupIds attributes');
    }
  }
  if (logonServer.present) r.string('LogonServer');
  const domain = domainName.present ? r.string('LogonDomainName') : '';
  if (domainSidPtr === 0) throw new Error('PAC logon info: no LogonDomainId');
  const domainSid = r.sid('LogonDomainId');
  const extra: string[] = [];
  if (extraPtr !== 0) {
    const n = r.u32('ExtraSids conformance');
    if (n !== sidCount) throw new Error('PAC logon info: ExtraSids conformance differs from SidCount');
    const present: boolean[] = [];
    for (let i = 0; i < n; i++) {
      present.push(r.u32('ExtraSids pointer') !== 0);
      r.u32('ExtraSids attributes');
    }
    for (const p of present) if (p) extra.push(r.sid('ExtraSid'));
  }
  const resource: string[] = [];
  if (resDomainPtr !== 0) {
    const resDomain = r.sid('ResourceGroupDomainSid');
    if (resPtr !== 0) {
      const n = r.u32('ResourceGroupIds conformance');
      if (n !== resCount) throw new Error('PAC logon info: ResourceGroupIds conformance differs from ResourceGroupCount');
      for (let i = 0; i < n; i++) {
        resource.push(`${resDomain}-${r.u32('ResourceGroupIds')}`);
        r.u32('ResourceGroupIds attributes');
      }
    }
  }
  const groupSids = [...new Set([`${domainSid}-${primaryRid}`, ...groupRids.map((g) => `${domainSid}-${g}`), ...extra, ...resource])];
  return { user, domain, domainSid, userSid: `${domainSid}-${userRid}`, groupSids };
}
