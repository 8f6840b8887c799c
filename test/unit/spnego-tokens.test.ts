// SPNEGO tokens: every token captured from Samba 4.22 and its clients (test/fixtures/spnego/README.md)
// parses and serialises back to exactly the same bytes; NegTokenInit2 as Windows servers send it;
// and malformed tokens are refused with SecurityError('malformed').
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SecurityError } from '../../service/auth/context.ts';
import { der } from '../../service/auth/spnego/der.ts';
import {
  NEG_HINT_NAME,
  NegState,
  Oid,
  buildInitialToken,
  buildNegTokenResp,
  encodeMechTypes,
  negStateName,
  parseInitialToken,
  parseNegTokenResp,
} from '../../service/auth/spnego/tokens.ts';
import { CLIENT_TOKENS, SERVER_TOKENS, capturedToken } from '../fixtures/spnego/captures.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ntlmType = (b: Buffer | null): number => {
  assert.ok(b);
  assert.equal(b.subarray(0, 8).toString('latin1'), 'NTLMSSP\0');
  return b.readUInt32LE(8);
};

function refuses(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof SecurityError, `not a SecurityError: ${String(e)}`);
    assert.equal(e.code, 'malformed');
    assert.match(e.message, pattern);
    return true;
  });
}

/** Parses a captured token of either kind and builds it again. */
function roundTrip(token: Buffer): Buffer {
  if (token[0] === 0x60) {
    const t = parseInitialToken(token);
    return buildInitialToken(t);
  }
  return buildNegTokenResp(parseNegTokenResp(token));
}

describe('captured SPNEGO tokens', () => {
  for (const name of [...CLIENT_TOKENS, ...SERVER_TOKENS]) {
    it(`${name} re-serialises byte-exactly`, () => {
      const token = capturedToken(name);
      assert.equal(roundTrip(token).toString('hex'), token.toString('hex'));
    });
  }

  it("the client's NegTokenInit: NTLMSSP only, with an optimistic NEGOTIATE, no reqFlags, no MIC", () => {
    for (const set of ['ifl', 'sign', 'seal', 'integ', 'auth3']) {
      const t = parseInitialToken(capturedToken(`${set}-bind`));
      assert.deepEqual(t.mechTypes, [Oid.NTLMSSP], set);
      // What both mechListMICs cover: the MechTypeList, without the [0] around it (RFC 4178 §5 a).
      assert.equal(t.mechTypesDer?.toString('hex'), '300c060a2b06010401823702020a');
      assert.equal(ntlmType(t.mechToken), 1);
      assert.equal(t.reqFlags, null);
      assert.equal(t.negHints, null);
      assert.equal(t.mechListMIC, null);
    }
  });

  it("Samba's first reply: accept-incomplete, supportedMech NTLMSSP, CHALLENGE, no MIC", () => {
    for (const set of ['ifl', 'sign', 'seal', 'integ', 'auth3']) {
      const r = parseNegTokenResp(capturedToken(`${set}-bind-ack`));
      assert.equal(r.negState, NegState.ACCEPT_INCOMPLETE);
      assert.equal(r.supportedMech, Oid.NTLMSSP);
      assert.equal(ntlmType(r.responseToken), 2);
      assert.equal(r.mechListMIC, null);
    }
  });

  it("the client's last token: AUTHENTICATE and its mechListMIC (sequence 0), no negState", () => {
    const mics: Record<string, string> = {
      'ifl-alter': '01000000bf11c368435aca8c00000000',
      'sign-alter': '010000009b4538a01122443200000000',
      'seal-alter': '0100000029929f5f9ee51aea00000000',
      'integ-alter': '01000000ba2145cbd9a5634600000000',
      'auth3-auth3': '01000000ca410d38d3557c4100000000',
    };
    for (const [name, mic] of Object.entries(mics)) {
      const r = parseNegTokenResp(capturedToken(name));
      assert.equal(r.negState, null, name);
      assert.equal(r.supportedMech, null);
      assert.equal(ntlmType(r.responseToken), 3);
      assert.equal(r.mechListMIC?.toString('hex'), mic, name);
    }
  });

  it("Samba's last reply: accept-completed with its own mechListMIC (sequence 0), nothing else", () => {
    const mics: Record<string, string> = {
      'ifl-alter-resp': '01000000fffd514470ccaf7900000000',
      'sign-alter-resp': '01000000854fc9cd29c8240000000000',
      'seal-alter-resp': '0100000094ff1ee79ec5700d00000000',
      'integ-alter-resp': '010000009d7cd1197cebc74100000000',
    };
    for (const [name, mic] of Object.entries(mics)) {
      const r = parseNegTokenResp(capturedToken(name));
      assert.equal(r.negState, NegState.ACCEPT_COMPLETED);
      assert.equal(negStateName(NegState.ACCEPT_COMPLETED), 'accept-completed');
      assert.equal(r.supportedMech, null);
      assert.equal(r.responseToken, null);
      assert.equal(r.mechListMIC?.toString('hex'), mic, name);
    }
  });
});

describe('NegTokenInit2 (MS-SPNG §2.2.1)', () => {
  // The shape a Windows server sends (MS-SPNG §3.2.5.2): NEGOEX, MS Kerberos, Kerberos,
  // Kerberos user-to-user and NTLMSSP, and the hint "not_defined_in_RFC4178@please_ignore".
  // Built by hand from the ASN.1 in MS-SPNG §2.2.1.
  const windows = hex(`
    60 76 06 06 2b 06 01 05 05 02
    a0 6c 30 6a
      a0 3c 30 3a
        06 0a 2b 06 01 04 01 82 37 02 02 1e
        06 09 2a 86 48 82 f7 12 01 02 02
        06 09 2a 86 48 86 f7 12 01 02 02
        06 0a 2a 86 48 86 f7 12 01 02 02 03
        06 0a 2b 06 01 04 01 82 37 02 02 0a
      a3 2a 30 28 a0 26 1b 24 ${Buffer.from(NEG_HINT_NAME, 'latin1').toString('hex')}`);

  it('parses, with negHints, and re-serialises byte-exactly', () => {
    const t = parseInitialToken(windows);
    assert.deepEqual(t.mechTypes, [Oid.NEGOEX, Oid.KERBEROS_MS_LEGACY, Oid.KERBEROS, '1.2.840.113554.1.2.2.3', Oid.NTLMSSP]);
    assert.deepEqual(t.negHints, { hintName: NEG_HINT_NAME, hintAddress: null });
    assert.equal(t.mechToken, null);
    assert.equal(t.mechListMIC, null);
    assert.equal(buildInitialToken(t).toString('hex'), windows.toString('hex'));
  });

  it('carries mechListMIC at [4] and hintAddress when present', () => {
    const fields = { mechTypes: [Oid.NTLMSSP], reqFlags: null, mechToken: Buffer.from('opt'), negHints: { hintName: 'h', hintAddress: Buffer.from([1, 2]) }, mechListMIC: Buffer.from('mic') };
    const b = buildInitialToken(fields);
    const t = parseInitialToken(b);
    assert.deepEqual({ ...t, mechTypesDer: null }, { kind: 'init', ...fields, mechTypesDer: null });
    assert.ok(b.includes(hex('a4 05 04 03 6d 69 63')), 'mechListMIC at [4]');
  });

  it('NegTokenInit with reqFlags and a mechListMIC at [3] round-trips', () => {
    const fields = { mechTypes: [Oid.KERBEROS, Oid.NTLMSSP], reqFlags: hex('0160'), mechToken: Buffer.from('tok'), negHints: null, mechListMIC: Buffer.from('mic') };
    const b = buildInitialToken(fields);
    const t = parseInitialToken(b);
    assert.deepEqual(t.mechTypesDer, encodeMechTypes(fields.mechTypes));
    assert.deepEqual({ ...t, mechTypesDer: null }, { kind: 'init', ...fields, mechTypesDer: null });
  });
});

describe('malformed tokens', () => {
  const init = capturedToken('ifl-bind');
  const resp = capturedToken('ifl-alter');

  it('every truncation of a captured token is refused', () => {
    for (const t of [init, resp, capturedToken('ifl-bind-ack'), capturedToken('ifl-alter-resp')]) {
      for (let n = 0; n < t.length; n++) {
        const parse = t[0] === 0x60 ? parseInitialToken : parseNegTokenResp;
        assert.throws(() => parse(t.subarray(0, n)), SecurityError, `prefix of ${n}`);
      }
    }
  });

  it('a length pointing past the end', () => {
    const t = Buffer.from(init);
    t[1] = 0x7f;
    refuses(() => parseInitialToken(t), /claims 127 octets/);
  });

  it('an indefinite length', () => {
    refuses(() => parseNegTokenResp(hex('a1 80 30 03 a0 01 00 00 00')), /indefinite/);
  });

  it('octets after the token', () => {
    refuses(() => parseNegTokenResp(Buffer.concat([resp, Buffer.from([0])])), /unexpected octets/);
  });

  it('a GSS-API framing for another mechanism (a bare Kerberos token)', () => {
    const krb = der.application0([der.oid(Oid.KERBEROS), hex('01 00'), der.octetString(Buffer.from('AP-REQ'))]);
    refuses(() => parseInitialToken(krb), /mechanism 1\.2\.840\.113554\.1\.2\.2, not SPNEGO/);
  });

  it('a NegTokenResp where the initial token belongs, and the reverse', () => {
    refuses(() => parseInitialToken(resp), /expected GSS-API InitialContextToken/);
    refuses(() => parseNegTokenResp(init), /expected negTokenResp \[1\], found \[APPLICATION 0\]/);
    refuses(() => parseInitialToken(der.application0([der.oid(Oid.SPNEGO), resp])), /holds \[1\], not negTokenInit/);
  });

  it('NegTokenInit without mechTypes', () => {
    refuses(() => parseInitialToken(der.application0([der.oid(Oid.SPNEGO), der.context(0, der.sequence([der.context(2, der.octetString(Buffer.from('x')))]))])), /without mechTypes/);
  });

  it('a MechType that is not an OID, or a bad OID', () => {
    const withTypes = (list: Buffer): Buffer => der.application0([der.oid(Oid.SPNEGO), der.context(0, der.sequence([der.context(0, list)]))]);
    refuses(() => parseInitialToken(withTypes(der.sequence([der.octetString(Buffer.from('x'))]))), /expected MechType/);
    refuses(() => parseInitialToken(withTypes(der.sequence([hex('06 02 2b 86')]))), /truncated/);
  });

  it('fields out of order, repeated, or not context-tagged', () => {
    const state = der.context(0, der.enumerated(1));
    const mic = der.context(3, der.octetString(Buffer.from('m')));
    refuses(() => parseNegTokenResp(der.context(1, der.sequence([mic, state]))), /out of order or repeated/);
    refuses(() => parseNegTokenResp(der.context(1, der.sequence([state, state]))), /out of order or repeated/);
    refuses(() => parseNegTokenResp(der.context(1, der.sequence([der.octetString(Buffer.from('x'))]))), /not a context-tagged field/);
  });

  it('unknown negState values and badly typed fields', () => {
    refuses(() => parseNegTokenResp(buildNegTokenResp({ negState: 7 as NegState, supportedMech: null, responseToken: null, mechListMIC: null })), /unknown negState 7/);
    refuses(() => parseNegTokenResp(der.context(1, der.sequence([der.context(0, der.octetString(Buffer.from([0])))]))), /expected negState/);
    refuses(() => parseNegTokenResp(der.context(1, der.sequence([der.context(2, der.sequence([]))]))), /expected responseToken/);
    refuses(() => parseNegTokenResp(der.context(1, der.sequence([der.context(2, Buffer.concat([der.octetString(Buffer.from('a')), der.octetString(Buffer.from('b'))]))]))), /unexpected octets after responseToken/);
  });

  it('an unknown later field is skipped (RFC 4178 §6), but must still be valid DER', () => {
    const ext = der.context(9, der.sequence([der.octetString(Buffer.from('future'))]));
    const r = parseNegTokenResp(der.context(1, der.sequence([der.context(0, der.enumerated(0)), ext])));
    assert.equal(r.negState, NegState.ACCEPT_COMPLETED);
    refuses(() => parseNegTokenResp(der.context(1, der.sequence([der.context(0, der.enumerated(0)), hex('a9 03 30 80 00')]))), /indefinite/);
  });

  it('a bad reqFlags BIT STRING', () => {
    const withFlags = (bits: Buffer): Buffer => der.application0([der.oid(Oid.SPNEGO), der.context(0, der.sequence([der.context(0, encodeMechTypes([Oid.NTLMSSP])), der.context(1, der.bitString(bits))]))]);
    assert.deepEqual(parseInitialToken(withFlags(hex('00'))).reqFlags, hex('00'));
    refuses(() => parseInitialToken(withFlags(hex('08 ff'))), /reqFlags/);
    refuses(() => parseInitialToken(withFlags(Buffer.alloc(0))), /reqFlags/);
  });
});
