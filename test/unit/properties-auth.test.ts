// Round-trip properties of the authentication codecs (fast-check, fixed seeds): DER elements,
// OBJECT IDENTIFIERs and INTEGERs; SPNEGO's NegTokenInit/Init2 and NegTokenResp; NTLMSSP's AV
// pairs, NEGOTIATE, CHALLENGE and AUTHENTICATE (any payload order, gaps, empty fields pointing
// anywhere); winbindd's request and answer layouts. Arbitrary bytes give a value or the codec's own
// error: SecurityError (DER, SPNEGO, NTLMSSP), DecodeError (the AV-pair reader, which NTLMSSP
// converts), WinbindProtocolError. Golden bytes: spnego-der, spnego-tokens, ntlm-vectors,
// ntlm-captures, winbind-protocol tests.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { DecodeError } from '../../service/bytes/decode-error.ts';
import { SecurityError } from '../../service/auth/context.ts';
import { checkDer, decodeInteger, decodeOid, der, DerReader, encodeInteger, encodeOid, MAX_DEPTH, tlv } from '../../service/auth/spnego/der.ts';
import { etypeName, summarizeApReq } from '../../service/auth/krb5/ap-req.ts';
import { parse as parseLogonInfo } from '../../service/auth/krb5/pac.ts';
import { listKeytab } from '../../service/auth/krb5/keytab-file.ts';
import { NdrWriter } from '../../service/rpc/ndr.ts';
import {
  buildInitialToken,
  buildNegTokenResp,
  encodeMechTypes,
  parseInitialToken,
  parseNegTokenResp,
  type NegTokenInit,
  type NegTokenInitFields,
  type NegTokenResp,
  type NegTokenRespFields,
} from '../../service/auth/spnego/tokens.ts';
import { buildAvPairs, parseAvPairs, type AvPair } from '../../service/auth/ntlm/avpairs.ts';
import { AvFlag, AvId, Layout, MessageType, NegotiateFlag, NTLMSSP_SIGNATURE, SERVER_VERSION } from '../../service/auth/ntlm/constants.ts';
import { buildChallenge, parseAuthenticate, parseNegotiate, parseNtlmv2Response, type AuthenticateMessage } from '../../service/auth/ntlm/messages.ts';
import {
  decodeAuthCrap,
  decodeLookupSid,
  decodePrivPipeDir,
  decodeResponseHead,
  encodeAuthCrap,
  MAX_GROUPS,
  REQUEST_SIZE,
  RESPONSE_SIZE,
  Result,
  WinbindProtocolError,
  type Response,
} from '../../service/auth/winbind/protocol.ts';
import { bytes, decodeOrNull, nullable, rec, runs, u16, u32, u8 } from '../helpers/arbitraries.ts';



const latin1 = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: u8.map((c) => String.fromCharCode(c)), maxLength });
/**
 * Any Unicode scalar value (no lone surrogates). Built here rather than with fast-check's 'binary'
 * unit, whose first use costs seconds of set-up.
 */
const codePoints = (maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: 0, max: 0x10ffff }).filter((cp) => cp < 0xd800 || cp > 0xdfff).map((cp) => String.fromCodePoint(cp)), maxLength });
const units = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: u16.map((c) => String.fromCharCode(c)), maxLength });
/** Where to cut a mutated input: mostly nowhere, so that many mutants still reach the decoders' later checks. */
const cutAt = fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: fc.nat(), weight: 1 });
const mutated = (valid: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> =>
  fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.oneof(u8, fc.constantFrom(0, 0x80, 0xff))), { maxLength: 3 }), cutAt).map(([b0, edits, cut]) => {
    const b = Buffer.from(b0);
    if (b.length > 0) for (const [at, v] of edits) b[at % b.length] = v;
    return cut === null ? b : b.subarray(0, cut % (b.length + 1));
  });

// ---- DER ----

type Der = { tag: number; value: Buffer } | { tag: number; children: Der[] };
/** Identifier octets in the low-tag-number form (tag number 0..30), primitive or constructed. */
const primitiveTag = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 30 })).map(([cls, n]) => (cls << 6) | n);
const constructedTag = primitiveTag.map((t) => t | 0x20);
const derTree: fc.Arbitrary<Der> = fc.letrec<{ node: Der }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', maxDepth: 5 },
    rec({ tag: primitiveTag, value: bytes(300) }) as fc.Arbitrary<Der>,
    rec({ tag: constructedTag, children: fc.array(tie('node'), { maxLength: 4 }) }) as fc.Arbitrary<Der>,
  ),
})).node;

function encodeDer(d: Der): Buffer {
  return 'value' in d ? tlv(d.tag, d.value) : tlv(d.tag, d.children.map(encodeDer));
}

/** Reads one level back into the tree shape, with the reader's own bounds and depth checks. */
function readDer(r: DerReader): Der[] {
  const out: Der[] = [];
  while (!r.done) {
    const el = r.read();
    out.push((el.tag & 0x20) !== 0 ? { tag: el.tag, children: readDer(r.enter(el, 'element')) } : { tag: el.tag, value: Buffer.from(el.value) });
  }
  return out;
}

describe('properties: DER', () => {
  it('any tree of elements: encode → checkDer accepts → read gives the tree back → encode gives the same bytes', () => {
    fc.assert(
      fc.property(derTree, (t) => {
        const b = encodeDer(t);
        checkDer(b, 'tree');
        const back = readDer(new DerReader(b));
        assert.deepEqual(back, [t]);
        assert.deepEqual(encodeDer(back[0]!), b);
      }),
      runs(0x4445_0001),
    );
  });

  it('DER is canonical: any bytes checkDer accepts re-encode to exactly those bytes; others are SecurityError', () => {
    const inputs = fc.oneof(bytes(40), mutated(derTree.map(encodeDer)));
    fc.assert(
      fc.property(inputs, (b) => {
        const accepted = decodeOrNull(SecurityError, () => {
          checkDer(b, 'input');
          return true;
        });
        if (accepted === null) return;
        const [t, ...rest] = readDer(new DerReader(b));
        assert.equal(rest.length, 0);
        assert.deepEqual(encodeDer(t!), b);
      }),
      runs(0x4445_0002, 2000),
    );
  });

  it(`nesting: ${MAX_DEPTH} constructed levels are read, one more is refused`, () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_DEPTH + 4 }), constructedTag, bytes(4), (levels, tag, leaf) => {
        let b = tlv(0x04, leaf);
        for (let i = 0; i < levels; i++) b = tlv(tag, b);
        if (levels <= MAX_DEPTH) checkDer(b, 'nest');
        else {
          assert.throws(() => {
            checkDer(b, 'nest');
          }, SecurityError);
        }
      }),
      runs(0x4445_0003, 100),
    );
  });

  const arc = fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 0xffffffff }), fc.maxSafeNat());
  const oid = fc
    .oneof(
      fc.tuple(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 39 })),
      fc.tuple(fc.constant(2), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 80 })),
    )
    .chain(([a, b]) => fc.array(arc, { maxLength: 8 }).map((rest) => [a, b, ...rest].join('.')));

  it('OBJECT IDENTIFIER: under arc 2 a second arc whose first subidentifier (80 + arc) passes 2^53 - 1 is refused (RangeError), not rounded', () => {
    fc.assert(
      fc.property(fc.integer({ min: Number.MAX_SAFE_INTEGER - 200, max: Number.MAX_SAFE_INTEGER }), (second) => {
        const o = `2.${second}`;
        if (80 + second <= Number.MAX_SAFE_INTEGER) assert.equal(decodeOid(encodeOid(o)), o);
        else assert.throws(() => encodeOid(o), RangeError);
      }),
      runs(0x4445_0006, 200),
    );
  });

  it('OBJECT IDENTIFIER: dotted → contents → dotted, and any contents decodeOid accepts re-encode to themselves', () => {
    fc.assert(
      fc.property(oid, bytes(24), (o, raw) => {
        assert.equal(decodeOid(encodeOid(o)), o);
        const d = decodeOrNull(SecurityError, () => decodeOid(raw));
        if (d !== null) assert.deepEqual(encodeOid(d), raw);
      }),
      runs(0x4445_0004, 1000),
    );
  });

  it('INTEGER / ENUMERATED: any 32-bit value round-trips; any contents decodeInteger accepts re-encode to themselves', () => {
    fc.assert(
      fc.property(fc.integer({ min: -0x80000000, max: 0x7fffffff }), bytes(5), (n, raw) => {
        assert.equal(decodeInteger(encodeInteger(n), 'n'), n);
        const d = decodeOrNull(SecurityError, () => decodeInteger(raw, 'raw'));
        if (d !== null) assert.deepEqual(encodeInteger(d), raw);
      }),
      runs(0x4445_0005, 1000),
    );
  });
});

// ---- SPNEGO ----

describe('properties: SPNEGO tokens', () => {
  const mechOid = fc.oneof(
    fc.constantFrom('1.3.6.1.4.1.311.2.2.10', '1.2.840.113554.1.2.2', '1.2.840.48018.1.2.2', '1.3.6.1.4.1.311.2.2.30'),
    fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 39 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 6 })).map(([a, b, r]) => [a, b, ...r].join('.')),
  );
  /** reqFlags: BIT STRING contents, an unused-bits count 0..7 first (0 when there are no bits). */
  const bitString = fc.oneof(fc.constant(Buffer.from([0])), fc.tuple(fc.integer({ min: 0, max: 7 }), bytes(4, 1)).map(([u, b]) => Buffer.concat([Buffer.from([u]), b])));
  const hints = nullable(rec({ hintName: nullable(latin1(40)), hintAddress: nullable(bytes(16)) }));
  const init: fc.Arbitrary<NegTokenInitFields> = hints.chain((negHints) =>
    rec({
      // A NegTokenInit needs mechTypes; an Init2 (negHints present) may leave them out.
      mechTypes: negHints === null ? fc.array(mechOid, { maxLength: 4 }) : nullable(fc.array(mechOid, { maxLength: 4 })),
      reqFlags: nullable(bitString),
      mechToken: nullable(bytes(64)),
      negHints: fc.constant(negHints),
      mechListMIC: nullable(bytes(32)),
    }),
  );
  const resp: fc.Arbitrary<NegTokenRespFields> = rec({
    negState: nullable(fc.constantFrom(0, 1, 2, 3)),
    supportedMech: nullable(mechOid),
    responseToken: nullable(bytes(64)),
    mechListMIC: nullable(bytes(32)),
  });

  it('NegTokenInit and NegTokenInit2: build → parse gives the fields back (and the MechTypeList bytes the MIC covers)', () => {
    fc.assert(
      fc.property(init, (t) => {
        const parsed = parseInitialToken(buildInitialToken(t));
        const expected: NegTokenInit = { kind: 'init', ...t, mechTypesDer: t.mechTypes === null ? null : encodeMechTypes(t.mechTypes) };
        assert.deepEqual(parsed, expected);
      }),
      runs(0x5350_0001, 500),
    );
  });

  it('NegTokenResp: build → parse → build gives the fields and then the same bytes', () => {
    fc.assert(
      fc.property(resp, (t) => {
        const b = buildNegTokenResp(t);
        const parsed = parseNegTokenResp(b);
        assert.deepEqual(parsed, { kind: 'resp', ...t } satisfies NegTokenResp);
        assert.deepEqual(buildNegTokenResp(parsed), b);
      }),
      runs(0x5350_0002, 500),
    );
  });

  it('any bytes: a token or SecurityError, and a parsed token is a fixed point of build → parse', () => {
    const inputs = fc.oneof(bytes(60), mutated(init.map(buildInitialToken)), mutated(resp.map(buildNegTokenResp)));
    fc.assert(
      fc.property(inputs, (b) => {
        const i = decodeOrNull(SecurityError, () => parseInitialToken(b));
        if (i) {
          const fields: NegTokenInitFields = { mechTypes: i.mechTypes, reqFlags: i.reqFlags, mechToken: i.mechToken, negHints: i.negHints, mechListMIC: i.mechListMIC };
          assert.deepEqual(parseInitialToken(buildInitialToken(fields)), i);
        }
        const r = decodeOrNull(SecurityError, () => parseNegTokenResp(b));
        if (r) assert.deepEqual(parseNegTokenResp(buildNegTokenResp(r)), r);
      }),
      runs(0x5350_0003, 2000),
    );
  });
});

// ---- NTLMSSP ----

/** AV pairs other than MsvAvEOL (id 0 ends the list) and MsvAvFlags (whose length the parser checks). */
const avPair: fc.Arbitrary<AvPair> = rec({ id: fc.integer({ min: 1, max: 0xffff }).filter((id) => id !== AvId.FLAGS), value: bytes(40) });

interface AuthenticateCase {
  flags: number;
  lm: Buffer;
  nt: { kind: 'none' } | { kind: 'v1'; response: Buffer } | { kind: 'v2'; proof: Buffer; header: Buffer; pairs: AvPair[]; avFlags: number | null };
  domain: string;
  user: string;
  workstation: string;
  key: Buffer;
  mic: Buffer;
  /** Payload order (a permutation of the six fields) and the gap before each. */
  order: number[];
  gaps: number[];
  /** Where empty fields point: anywhere (the parser must ignore it). */
  emptyOffsets: number[];
  maxLens: number[];
}

const ntV2Header = fc.tuple(bytes(26, 26)).map(([rest]) => Buffer.concat([Buffer.from([1, 1]), rest])); // RespType, HiRespType, then 26 bytes up to the AV pairs
const authenticateCase: fc.Arbitrary<AuthenticateCase> = fc.boolean().chain((unicode) =>
  rec<AuthenticateCase>({
    flags: u32.map((f) => (unicode ? f | NegotiateFlag.UNICODE : f & ~NegotiateFlag.UNICODE) >>> 0),
    lm: fc.oneof(fc.constant(Buffer.alloc(0)), bytes(24, 24)),
    nt: fc.oneof(
      fc.constant({ kind: 'none' as const }),
      bytes(24, 24).map((response) => ({ kind: 'v1' as const, response })),
      rec({ proof: bytes(16, 16), header: ntV2Header, pairs: fc.array(avPair, { maxLength: 5 }), avFlags: nullable(u32) }).map((v) => ({ kind: 'v2' as const, ...v })),
    ),
    domain: unicode ? units(20) : latin1(20),
    user: unicode ? units(20) : latin1(20),
    workstation: unicode ? units(20) : latin1(20),
    key: fc.oneof(fc.constant(Buffer.alloc(0)), bytes(16, 16)),
    mic: bytes(16, 16),
    order: fc.shuffledSubarray([0, 1, 2, 3, 4, 5], { minLength: 6, maxLength: 6 }),
    gaps: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 6, maxLength: 6 }),
    emptyOffsets: fc.array(u32, { minLength: 6, maxLength: 6 }),
    maxLens: fc.array(u16, { minLength: 6, maxLength: 6 }),
  }),
);

function ntResponseOf(c: AuthenticateCase): Buffer {
  if (c.nt.kind === 'none') return Buffer.alloc(0);
  if (c.nt.kind === 'v1') return c.nt.response;
  const pairs = [...c.nt.pairs];
  if (c.nt.avFlags !== null) {
    const v = Buffer.alloc(4);
    v.writeUInt32LE(c.nt.avFlags);
    pairs.push({ id: AvId.FLAGS, value: v });
  }
  return Buffer.concat([c.nt.proof, c.nt.header, buildAvPairs(pairs), Buffer.alloc(4)]);
}

const micSent = (c: AuthenticateCase): boolean => c.nt.kind === 'v2' && c.nt.avFlags !== null && (c.nt.avFlags & AvFlag.MIC_PRESENT) !== 0;

/** A test-side AUTHENTICATE writer (MS-NLMP §2.2.1.3): header fields LM, NT, Domain, User, Workstation, Key. */
function writeAuthenticate(c: AuthenticateCase): Buffer {
  const unicode = (c.flags & NegotiateFlag.UNICODE) !== 0;
  const text = (s: string): Buffer => Buffer.from(s, unicode ? 'utf16le' : 'latin1');
  const fields = [c.lm, ntResponseOf(c), text(c.domain), text(c.user), text(c.workstation), c.key];
  const fixed = micSent(c) ? Layout.AUTH_MIC_OFFSET + Layout.MIC_LENGTH : (c.flags & NegotiateFlag.VERSION) !== 0 ? Layout.AUTH_MIC_OFFSET : Layout.AUTHENTICATE_BASE;
  const header = Buffer.alloc(fixed);
  NTLMSSP_SIGNATURE.copy(header, 0);
  header.writeUInt32LE(MessageType.AUTHENTICATE, 8);
  header.writeUInt32LE(c.flags, 60);
  if (fixed >= Layout.AUTH_MIC_OFFSET) Buffer.from([10, 0, 0x61, 0x4a, 0, 0, 0, 15]).copy(header, 64);
  if (micSent(c)) c.mic.copy(header, Layout.AUTH_MIC_OFFSET);
  const payload: Buffer[] = [];
  let off = fixed;
  for (const i of c.order) {
    const f = fields[i]!;
    const gap = c.gaps[i]!;
    payload.push(Buffer.alloc(gap));
    off += gap;
    header.writeUInt16LE(f.length, 12 + i * 8);
    header.writeUInt16LE(c.maxLens[i]!, 14 + i * 8); // MaxLen: ignored on receipt
    header.writeUInt32LE(f.length === 0 ? c.emptyOffsets[i]! : off, 16 + i * 8);
    payload.push(f);
    off += f.length;
  }
  return Buffer.concat([header, ...payload]);
}

describe('properties: NTLMSSP', () => {
  it('AV pairs: build → parse gives the pairs back; parse → build gives the bytes up to MsvAvEOL', () => {
    fc.assert(
      fc.property(fc.array(avPair, { maxLength: 10 }), bytes(8), (pairs, after) => {
        const b = buildAvPairs(pairs);
        assert.deepEqual(parseAvPairs(b), pairs);
        // What follows MsvAvEOL is not the list's (the NTLMv2 blob has 4 zero bytes there).
        assert.deepEqual(buildAvPairs(parseAvPairs(Buffer.concat([b, after]))), b);
      }),
      runs(0x4e54_0001),
    );
  });

  it('AV pairs: any bytes give pairs or DecodeError, never more than the limit, values inside the input', () => {
    fc.assert(
      fc.property(fc.oneof(bytes(80), mutated(fc.array(avPair, { maxLength: 4 }).map(buildAvPairs))), (b) => {
        const pairs = decodeOrNull(DecodeError, () => parseAvPairs(b));
        if (pairs) {
          assert.ok(pairs.length <= 64);
          assert.ok(pairs.reduce((n, p) => n + 4 + p.value.length, 4) <= b.length);
          assert.deepEqual(parseAvPairs(buildAvPairs(pairs)), pairs);
        }
      }),
      runs(0x4e54_0002, 2000),
    );
  });

  it('NEGOTIATE: the flags of any message with the signature and type 1 are read, whatever follows', () => {
    fc.assert(
      fc.property(u32, bytes(40), (flags, rest) => {
        const m = Buffer.concat([NTLMSSP_SIGNATURE, Buffer.from([1, 0, 0, 0]), Buffer.alloc(4), rest]);
        m.writeUInt32LE(flags, 12);
        assert.deepEqual(parseNegotiate(m), { flags, raw: m });
      }),
      runs(0x4e54_0003),
    );
  });

  it('CHALLENGE: what buildChallenge writes reads back field by field (§2.2.1.2)', () => {
    const params = rec({ flags: u32, serverChallenge: bytes(8, 8), targetName: units(20), targetInfo: fc.array(avPair, { maxLength: 6 }) });
    fc.assert(
      fc.property(params, (p) => {
        const c = buildChallenge(p);
        assert.deepEqual(c.subarray(0, 8), NTLMSSP_SIGNATURE);
        assert.equal(c.readUInt32LE(8), MessageType.CHALLENGE);
        const field = (at: number): Buffer => {
          assert.equal(c.readUInt16LE(at), c.readUInt16LE(at + 2)); // Len = MaxLen
          return c.subarray(c.readUInt32LE(at + 4), c.readUInt32LE(at + 4) + c.readUInt16LE(at));
        };
        assert.equal(field(12).toString('utf16le'), p.targetName);
        assert.equal(c.readUInt32LE(20), p.flags);
        assert.deepEqual(c.subarray(24, 32), p.serverChallenge);
        assert.deepEqual(parseAvPairs(field(40)), p.targetInfo);
        assert.deepEqual(c.subarray(48, 56), (p.flags & NegotiateFlag.VERSION) !== 0 ? SERVER_VERSION : Buffer.alloc(8));
        assert.equal(c.length, 56 + field(12).length + field(40).length);
      }),
      runs(0x4e54_0004),
    );
  });

  it('AUTHENTICATE: any payload order, gaps and empty-field offsets; every field, the MIC and the bytes it covers read back', () => {
    fc.assert(
      fc.property(authenticateCase, (c) => {
        const m = writeAuthenticate(c);
        const a = parseAuthenticate(m);
        const nt = ntResponseOf(c);
        const rawForMic = Buffer.from(m);
        if (micSent(c)) rawForMic.fill(0, 72, 88);
        const expected: Omit<AuthenticateMessage, 'ntlmv2'> = {
          flags: c.flags,
          lmResponse: c.lm,
          ntResponse: nt,
          domain: c.domain,
          user: c.user,
          workstation: c.workstation,
          encryptedRandomSessionKey: c.key,
          mic: micSent(c) ? c.mic : null,
          rawForMic,
        };
        const { ntlmv2, ...rest } = a;
        assert.deepEqual(rest, expected);
        if (c.nt.kind !== 'v2') {
          assert.equal(ntlmv2, null);
        } else {
          assert.ok(ntlmv2 !== null);
          assert.deepEqual(ntlmv2.ntProofStr, c.nt.proof);
          assert.deepEqual(ntlmv2.blob, nt.subarray(16));
          assert.equal(ntlmv2.avFlags, c.nt.avFlags ?? 0);
          assert.deepEqual(ntlmv2.avPairs.filter((p) => p.id !== AvId.FLAGS), c.nt.pairs);
        }
      }),
      runs(0x4e54_0005, 500),
    );
  });

  it('any bytes: NEGOTIATE, AUTHENTICATE and NTLMv2 response parsers give a message or SecurityError', () => {
    const negotiate = u32.map((flags) => {
      const m = Buffer.concat([NTLMSSP_SIGNATURE, Buffer.from([1, 0, 0, 0]), Buffer.alloc(24)]);
      m.writeUInt32LE(flags, 12);
      return m;
    });
    const inputs = fc.oneof(
      bytes(120),
      mutated(negotiate),
      mutated(authenticateCase.map(ntResponseOf)),
      mutated(authenticateCase.map(writeAuthenticate)),
      // Only the header's counts and offsets changed: the checks before any payload read.
      fc.tuple(authenticateCase.map(writeAuthenticate), fc.integer({ min: 12, max: 63 }), fc.constantFrom(0, 1, 0x40, 0x58, 0x7fff, 0xffff, 0xffffffff)).map(([m, at, v]) => {
        const b = Buffer.from(m);
        if (v > 0xffff) b.writeUInt32LE(v, at & ~3);
        else b.writeUInt16LE(v, at & ~1);
        return b;
      }),
    );
    fc.assert(
      fc.property(inputs, (b) => {
        const a = decodeOrNull(SecurityError, () => parseAuthenticate(b));
        if (a) {
          for (const f of [a.lmResponse, a.ntResponse, a.encryptedRandomSessionKey]) assert.ok(f.length <= b.length);
          assert.equal(a.rawForMic.length, b.length);
        }
        decodeOrNull(SecurityError, () => parseNegotiate(b));
        decodeOrNull(SecurityError, () => parseNtlmv2Response(b));
      }),
      runs(0x4e54_0006, 2000),
    );
  });
});

// ---- winbindd ----

const fixture = (name: string): Buffer => fs.readFileSync(new URL(`../fixtures/winbind/${name}`, import.meta.url));
/** NUL-terminated string in a fixed field, read as winbindd reads it. */
const cString = (b: Buffer, at: number): string => b.toString('utf8', at, b.indexOf(0, at));
/** Names a fstring holds: at most 255 UTF-8 bytes, no NUL. */
const fstringName = codePoints(60).filter((s) => !s.includes('\0') && Buffer.byteLength(s) <= 255);

describe('properties: winbindd protocol', () => {
  it('PAM_AUTH_CRAP request: the fixed structure holds every argument where winbindd reads it, the NT response follows as extra data', () => {
    // Offsets of struct winbindd_request (interface 32, x86_64): data at 320, auth_crap's fields inside it.
    const req = rec({ user: fstringName, domain: fstringName, workstation: codePoints(120), challenge: bytes(8, 8), ntResponse: bytes(600), logonParameters: u32 });
    fc.assert(
      fc.property(u32, req, (pid, r) => {
        const [fixed, extra] = encodeAuthCrap({ cmd: 14, pid, flags: 0x6 }, r);
        assert.ok(fixed !== undefined && extra !== undefined);
        assert.equal(fixed.length, REQUEST_SIZE);
        assert.equal(fixed.readUInt32LE(0), REQUEST_SIZE);
        assert.equal(fixed.readUInt32LE(12), pid);
        assert.equal(fixed.readUInt32LE(20), 0x6 | 0x10000); // BIG_NTLMV2_BLOB added
        assert.deepEqual(fixed.subarray(320, 328), r.challenge);
        assert.equal(fixed.readUInt32LE(328), r.logonParameters);
        assert.equal(cString(fixed, 332), r.user);
        assert.equal(cString(fixed, 588), r.domain);
        assert.equal(fixed.readUInt32LE(1100), 0); // lm_resp_len
        assert.equal(fixed.readUInt32LE(1360), r.ntResponse.length);
        assert.equal(fixed.readUInt32LE(2128), r.ntResponse.length); // extra_len
        // The workstation is cut to 255 bytes at a character boundary, NULs dropped.
        const ws = cString(fixed, 1364);
        const clean = r.workstation.replace(/\0/g, '');
        assert.ok(Buffer.byteLength(ws) <= 255 && clean.startsWith(ws));
        if (Buffer.byteLength(clean) <= 255) assert.equal(ws, clean);
        assert.deepEqual(extra, r.ntResponse);
      }),
      runs(0x5742_0001, 200),
    );
  });

  const okFixed = fixture('auth-crap-ok.response.bin').subarray(0, RESPONSE_SIZE);
  const rid = fc.integer({ min: 1, max: 0xffffffff });
  const domainSid = fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 4 }).map((subs) => `S-1-5-21-${subs.join('-')}`);
  const otherSid = fc.tuple(fc.integer({ min: 0, max: 99 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 4 })).map(([a, subs]) => ['S-1', a, ...subs].join('-'));

  /** An OK answer with info3 text as winbindd writes it (INFO3_TEXT): fields, then "0xRID:0xATTR" / "SID:0xATTR" lines. */
  function answer(sid: string, primary: number, groups: readonly ({ rid: number } | { sid: string })[]): Response {
    const fixed = Buffer.from(okFixed);
    const lines = groups.map((g) => `${'rid' in g ? `0x${g.rid.toString(16).toUpperCase().padStart(8, '0')}` : g.sid}:0x00000007\n`).join('');
    const extra = Buffer.from(`${lines}\0`, 'utf8');
    fixed.fill(0, 848 + 80, 848 + 80 + 256);
    fixed.write(sid, 848 + 80);
    fixed.writeUInt32LE(primary, 848 + 60);
    fixed.writeUInt32LE(groups.filter((g) => 'rid' in g).length, 848 + 64);
    fixed.writeUInt32LE(groups.filter((g) => 'sid' in g).length, 848 + 76);
    fixed.writeUInt32LE(RESPONSE_SIZE + extra.length, 0);
    const all = Buffer.concat([fixed, extra]);
    return { head: decodeResponseHead(all), fixed: all.subarray(0, RESPONSE_SIZE), extra: all.subarray(RESPONSE_SIZE) };
  }

  it('info3 groups: the primary group, each RID under the domain SID and each other SID, once each, in order', () => {
    const group = fc.oneof(rid.map((r) => ({ rid: r })), otherSid.map((s) => ({ sid: s })));
    fc.assert(
      fc.property(domainSid, fc.integer({ min: 0, max: 0xffffffff }), fc.array(group, { maxLength: 30 }), (sid, primary, groups) => {
        const a = decodeAuthCrap(answer(sid, primary, groups));
        const expected = new Set<string>();
        if (primary !== 0) expected.add(`${sid}-${primary}`);
        for (const g of groups) expected.add('rid' in g ? `${sid}-${g.rid}` : g.sid);
        assert.deepEqual(a.groupSids, [...expected]);
        assert.equal(a.domainSid, sid);
      }),
      runs(0x5742_0002, 300),
    );
  });

  it('any answer bytes: the head, AUTH_CRAP, LOOKUPSID and PRIV_PIPE_DIR decoders give a value or WinbindProtocolError, never more than MAX_GROUPS groups', () => {
    const okAnswer = fixture('auth-crap-ok.response.bin');
    const pipeDirAnswer = fixture('priv-pipe-dir.response.bin');
    const answers = fc.oneof(
      // The captured answer with bytes changed in the fixed part, and any extra data after it.
      fc.tuple(fc.array(fc.tuple(fc.integer({ min: 0, max: RESPONSE_SIZE - 1 }), u8), { maxLength: 8 }), fc.oneof(bytes(200), fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)))).map(([edits, extra]) => {
        const fixed = Buffer.from(okAnswer.subarray(0, RESPONSE_SIZE));
        for (const [at, v] of edits) fixed[at] = v;
        return { fixed, extra };
      }),
      fc.tuple(bytes(RESPONSE_SIZE, RESPONSE_SIZE), bytes(100)).map(([fixed, extra]) => ({ fixed, extra })),
      // PRIV_PIPE_DIR's captured answer with its extra data (the directory) changed.
      mutated(fc.constant(pipeDirAnswer.subarray(RESPONSE_SIZE))).map((extra) => ({ fixed: pipeDirAnswer.subarray(0, RESPONSE_SIZE), extra })),
    );
    fc.assert(
      fc.property(answers, ({ fixed, extra }) => {
        const head = decodeOrNull(WinbindProtocolError, () => decodeResponseHead(fixed));
        if (head === null) return;
        const r: Response = { head, fixed, extra };
        const a = decodeOrNull(WinbindProtocolError, () => decodeAuthCrap(r));
        if (a) {
          assert.ok(a.groupSids.length <= MAX_GROUPS);
          assert.equal(a.userSessionKey.length, 16);
        }
        const l = decodeLookupSid(r);
        if (l) assert.equal(head.result, Result.OK);
        const dir = decodeOrNull(WinbindProtocolError, () => decodePrivPipeDir(r));
        if (dir !== null) assert.ok(dir.startsWith('/'));
      }),
      runs(0x5742_0003, 1000),
    );
  });
});

// ---- Kerberos: the AP-REQ summary and the PAC's logon info ----

describe('properties: Kerberos AP-REQ summary and PAC logon info', () => {
  const int = (n: number): Buffer => tlv(0x02, encodeInteger(n));
  const ticketCase = rec({
    realm: latin1(20),
    parts: fc.array(latin1(12), { minLength: 1, maxLength: 10 }),
    etype: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
    kvno: nullable(u32), // UInt32 (RFC 4120 §5.2.9)
    cipher: bytes(40),
    framed: fc.boolean(),
  });
  /** An AP-REQ (RFC 4120 §5.5.1) around a Ticket, bare or in the GSS-API framing with TOK_ID 01 00 (RFC 4121 §4.1). */
  function apReq(t: { realm: string; parts: string[]; etype: number; kvno: number | null; cipher: Buffer; framed: boolean }): { token: Buffer; ticket: Buffer } {
    // A UInt32 from 2^31 up takes five octets in DER: a zero, then the four (encodeInteger stops at 32-bit signed).
    const uint = (n: number): Buffer => (n <= 0x7fffffff ? int(n) : tlv(0x02, Buffer.from([0, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff])));
    const enc = der.sequence([der.context(0, int(t.etype)), ...(t.kvno === null ? [] : [der.context(1, uint(t.kvno))]), der.context(2, der.octetString(t.cipher))]);
    const sname = der.sequence([der.context(0, int(2)), der.context(1, der.sequence(t.parts.map((p) => der.generalString(p))))]);
    const ticket = tlv(0x61, der.sequence([der.context(0, int(5)), der.context(1, der.generalString(t.realm)), der.context(2, sname), der.context(3, enc)]));
    const ap = tlv(0x6e, der.sequence([der.context(0, int(5)), der.context(1, int(14)), der.context(2, der.bitString(Buffer.alloc(5))), der.context(3, ticket), der.context(4, der.sequence([]))]));
    const token = t.framed ? der.application0([der.oid('1.2.840.113554.1.2.2'), Buffer.from([1, 0]), ap]) : ap;
    return { token, ticket };
  }

  it('AP-REQ: the summary names the ticket\'s service (up to 8 name components), etype and kvno, and keeps the Ticket\'s bytes', () => {
    fc.assert(
      fc.property(ticketCase, (t) => {
        const { token, ticket } = apReq(t);
        assert.deepEqual(summarizeApReq(token), { service: `${t.parts.slice(0, 8).join('/')}@${t.realm}`, etype: t.etype, etypeName: etypeName(t.etype), kvno: t.kvno, der: ticket });
      }),
      runs(0x4b52_0001),
    );
  });

  it('AP-REQ: any bytes give a summary or null, never an exception', () => {
    fc.assert(
      fc.property(fc.oneof(bytes(80), mutated(ticketCase.map((t) => apReq(t).token))), (b) => {
        const r = summarizeApReq(b);
        if (r) assert.ok(r.der.length <= b.length);
      }),
      runs(0x4b52_0002, 1000),
    );
  });

  interface Sid {
    auth: number;
    subs: number[];
  }
  const sid: fc.Arbitrary<Sid> = rec({ auth: fc.integer({ min: 0, max: 2 ** 48 - 1 }), subs: fc.array(u32, { maxLength: 15 }) });
  const sidText = (x: Sid): string => `S-1-${x.auth}${x.subs.map((v) => `-${v}`).join('')}`;
  const logonCase = rec({
    names: fc.array(nullable(units(12)), { minLength: 6, maxLength: 6 }),
    userRid: u32,
    primaryRid: u32,
    groups: nullable(fc.array(u32, { maxLength: 6 })),
    logonServer: nullable(units(12)),
    domain: nullable(units(12)),
    domainSid: sid,
    extra: nullable(fc.array(nullable(sid), { maxLength: 4 })),
    resource: nullable(rec({ domain: sid, rids: nullable(fc.array(u32, { maxLength: 4 })) })),
  });
  type LogonCase = typeof logonCase extends fc.Arbitrary<infer T> ? T : never;

  /** KERB_VALIDATION_INFO (MS-PAC §2.5) in an NDR type serialization (MS-RPCE §2.2.6), written field by field. */
  function logonInfo(c: LogonCase): Buffer {
    const w = new NdrWriter();
    w.bytes(Buffer.from([1, 0x10, 8, 0, 0xcc, 0xcc, 0xcc, 0xcc])).u32(0).u32(0); // common and private headers
    w.referent();
    w.bytes(Buffer.alloc(48)); // six FILETIMEs
    const unicode = (v: string | null): void => {
      w.u16(v === null ? 0 : v.length * 2).u16(v === null ? 0 : v.length * 2);
      if (v === null) w.nullPointer();
      else w.referent();
    };
    for (const n of c.names) unicode(n);
    w.u16(0).u16(0); // LogonCount, BadPasswordCount
    w.u32(c.userRid).u32(c.primaryRid).u32(c.groups?.length ?? 0);
    if (c.groups === null) w.nullPointer();
    else w.referent();
    w.u32(0).bytes(Buffer.alloc(16)); // UserFlags, UserSessionKey
    unicode(c.logonServer);
    unicode(c.domain);
    w.referent(); // LogonDomainId
    w.bytes(Buffer.alloc(40)); // reserved, account control, logon times
    w.u32(c.extra?.length ?? 0);
    if (c.extra === null) w.nullPointer();
    else w.referent();
    if (c.resource === null) w.nullPointer();
    else w.referent();
    w.u32(c.resource?.rids?.length ?? 0);
    if (c.resource?.rids === null || c.resource === null) w.nullPointer();
    else w.referent();
    // Deferred referents in field order.
    const str = (v: string): void => {
      w.u32(v.length).u32(0).u32(v.length).bytes(Buffer.from(v, 'utf16le'));
    };
    const sidBody = (x: Sid): void => {
      const a = Buffer.alloc(6);
      a.writeUIntBE(x.auth, 0, 6);
      w.u32(x.subs.length).u8(1).u8(x.subs.length).bytes(a);
      for (const v of x.subs) w.u32(v);
    };
    for (const n of c.names) if (n !== null) str(n);
    if (c.groups !== null) {
      w.u32(c.groups.length);
      for (const g of c.groups) w.u32(g).u32(7);
    }
    if (c.logonServer !== null) str(c.logonServer);
    if (c.domain !== null) str(c.domain);
    sidBody(c.domainSid);
    if (c.extra !== null) {
      w.u32(c.extra.length);
      for (const x of c.extra) {
        if (x === null) w.nullPointer();
        else w.referent();
        w.u32(7);
      }
      for (const x of c.extra) if (x !== null) sidBody(x);
    }
    if (c.resource !== null) {
      sidBody(c.resource.domain);
      if (c.resource.rids !== null) {
        w.u32(c.resource.rids.length);
        for (const r of c.resource.rids) w.u32(r).u32(7);
      }
    }
    return w.finish();
  }

  it('PAC logon info: the account, its domain and SID, and every group SID (primary, domain groups, extra SIDs, resource groups) read back', () => {
    fc.assert(
      fc.property(logonCase, (c) => {
        const domainSid = sidText(c.domainSid);
        const resDomain = c.resource === null ? '' : sidText(c.resource.domain);
        const groups = [
          `${domainSid}-${c.primaryRid}`,
          ...(c.groups ?? []).map((g) => `${domainSid}-${g}`),
          ...(c.extra ?? []).filter((x): x is Sid => x !== null).map(sidText),
          ...(c.resource?.rids ?? []).map((r) => `${resDomain}-${r}`),
        ];
        assert.deepEqual(parseLogonInfo(logonInfo(c)), {
          user: c.names[0] ?? '',
          domain: c.domain ?? '',
          domainSid,
          userSid: `${domainSid}-${c.userRid}`,
          groupSids: [...new Set(groups)],
        });
      }),
      runs(0x4b52_0003),
    );
  });

  it('PAC logon info: any bytes give the logon info or the parser\'s own Error, never a RangeError or TypeError', () => {
    fc.assert(
      fc.property(fc.oneof(bytes(120), mutated(logonCase.map(logonInfo))), (b) => {
        try {
          parseLogonInfo(b);
        } catch (err) {
          if (!(err instanceof Error && err.constructor === Error && err.message.startsWith('PAC logon info'))) throw err;
        }
      }),
      runs(0x4b52_0004, 1000),
    );
  });
});

describe('properties: keytab listing', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-properties-keytab-'));
  const file = path.join(dir, 'keytab');
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const name = codePoints(12);
  const keytabEntry = rec({ realm: name, parts: fc.array(name, { minLength: 1, maxLength: 3 }), kvno8: u8, kvno32: nullable(u32), enctype: u16, key: bytes(32), holeBefore: fc.integer({ min: 0, max: 8 }) });
  type KeytabCase = typeof keytabEntry extends fc.Arbitrary<infer T> ? T : never;

  /** The FILE keytab format 0x0502 (MIT's keytab.txt): big-endian, entries prefixed by their size, holes by a negative size. */
  function keytab(entries: readonly KeytabCase[]): Buffer {
    const out: Buffer[] = [Buffer.from([5, 2])];
    const u16be = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
    const i32be = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeInt32BE(n);
      return b;
    };
    const str = (v: string): Buffer => Buffer.concat([u16be(Buffer.byteLength(v)), Buffer.from(v, 'utf8')]);
    for (const e of entries) {
      if (e.holeBefore > 0) out.push(i32be(-e.holeBefore), Buffer.alloc(e.holeBefore, 0xee));
      const kvno32 = e.kvno32 === null ? Buffer.alloc(0) : Buffer.from([e.kvno32 >>> 24, (e.kvno32 >>> 16) & 0xff, (e.kvno32 >>> 8) & 0xff, e.kvno32 & 0xff]);
      const body = Buffer.concat([u16be(e.parts.length), str(e.realm), ...e.parts.map(str), Buffer.alloc(8), Buffer.from([e.kvno8]), u16be(e.enctype), u16be(e.key.length), e.key, kvno32]);
      out.push(i32be(body.length), body);
    }
    return Buffer.concat(out);
  }

  it('entries, holes and 8- or 32-bit kvnos: every principal, kvno and enctype listed in order', () => {
    fc.assert(
      fc.property(fc.array(keytabEntry, { maxLength: 5 }), (entries) => {
        fs.writeFileSync(file, keytab(entries));
        assert.deepEqual(
          listKeytab(file),
          entries.map((e) => ({ principal: `${e.parts.join('/')}@${e.realm}`, kvno: e.kvno32 !== null && e.kvno32 !== 0 ? e.kvno32 : e.kvno8, enctype: etypeName(e.enctype) })),
        );
      }),
      runs(0x4b54_0001, 150),
    );
  });

  it('any file: entries or a plain Error, never a RangeError from reading past an entry', () => {
    fc.assert(
      fc.property(fc.oneof(bytes(60), mutated(fc.array(keytabEntry, { maxLength: 3 }).map(keytab))), (b) => {
        fs.writeFileSync(file, b);
        try {
          listKeytab(file);
        } catch (err) {
          if (!(err instanceof Error && err.constructor === Error)) throw err;
        }
      }),
      runs(0x4b54_0002, 300),
    );
  });
});
