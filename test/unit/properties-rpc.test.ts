// Round-trip properties of the DCE/RPC codecs (fast-check, fixed seeds): PDUs of every type,
// the TCP framing, response fragmentation and request reassembly, the verification trailer, NDR
// primitives and strings, GUIDs. For each codec: arbitrary valid values survive encode → decode
// unchanged and the encoding is stable, and arbitrary bytes give a value or the codec's own error
// (DecodeError), never another exception. The golden bytes these codecs must also produce are
// in rpc-pdu, rpc-framing, rpc-verification-trailer and swn-codec tests.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../service/bytes/decode-error.ts';
import { Deframer } from '../../service/rpc/framing.ts';
import { fragmentResponse, Reassembler } from '../../service/rpc/fragments.ts';
import { NdrReader, NdrWriter, CONTEXT_HANDLE_SIZE } from '../../service/rpc/ndr.ts';
import {
  HEADER_SIZE,
  parseFragment,
  parsePdu,
  PFC,
  PType,
  serializePdu,
  type AuthVerifier,
  type Pdu,
  type RequestPdu,
  type SyntaxId,
} from '../../service/rpc/pdu.ts';
import { uuidFromWire, uuidToWire } from '../../service/rpc/uuid.ts';
import { buildVerificationTrailer, checkVerificationTrailer, VerificationCommand } from '../../service/rpc/verification-trailer.ts';
import { bytes, rec, runs, u16, u32, u8 } from '../helpers/arbitraries.ts';

/** Runs `f`; an exception other than `errorType` fails the property. */
function onlyThrows(errorType: new (...a: never[]) => Error, f: () => unknown): void {
  try {
    f();
  } catch (err) {
    if (!(err instanceof errorType)) throw err;
  }
}

/** Any GUID: its 16 wire bytes, read as the string form the codecs use. */
const uuid = bytes(16, 16).map((b) => uuidFromWire(b));
const syntax: fc.Arbitrary<SyntaxId> = rec({ uuid, version: u16, minor: u16 });
/** Any UTF-16 code unit, lone surrogates and NUL included: NDR strings carry units, not code points. */
const wideString = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 });

// auth_length is the value's length and 0 means "no verifier" (C706 §12.6.3), so a verifier with an
// empty value cannot travel: readers take its sec_trailer for body bytes. Values have a byte at least.
const auth: fc.Arbitrary<AuthVerifier> = rec({ type: u8, level: u8, pad: bytes(15), contextId: u32, value: bytes(64, 1) });
const maybeAuth = fc.option(auth, { nil: null });
const common = { versionMinor: fc.constantFrom(0, 1), callId: u32 };

/** PDUs of every type the codec knows, with the fields the type carries; sizes keep frag_length below 64 KiB. */
const pdu: fc.Arbitrary<Pdu> = fc.oneof(
  rec({
    ...common,
    flags: u8,
    ptype: fc.constantFrom(PType.BIND, PType.ALTER_CONTEXT),
    maxXmitFrag: u16,
    maxRecvFrag: u16,
    assocGroupId: u32,
    contexts: fc.array(rec({ contextId: u16, abstract: syntax, transfers: fc.array(syntax, { maxLength: 4 }) }), { maxLength: 6 }),
    auth: maybeAuth,
  }),
  rec({
    ...common,
    flags: u8,
    ptype: fc.constantFrom(PType.BIND_ACK, PType.ALTER_CONTEXT_RESP),
    maxXmitFrag: u16,
    maxRecvFrag: u16,
    assocGroupId: u32,
    // latin1 without NUL: the port string a bind_ack carries ("49152", or empty).
    secondaryAddress: fc.string({ unit: fc.integer({ min: 1, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 20 }),
    results: fc.array(rec({ result: u16, reason: u16, transfer: syntax }), { maxLength: 6 }),
    auth: maybeAuth,
  }),
  rec({ ...common, flags: u8, ptype: fc.constant(PType.BIND_NAK), reason: u16, versions: fc.array(rec({ major: u8, minor: u8 }), { maxLength: 6 }) }),
  // The object UUID is there exactly when PFC_OBJECT_UUID says so (that flag is how a reader knows).
  fc.tuple(u8, fc.option(uuid, { nil: null })).chain(([f, object]) =>
    rec({
      ...common,
      flags: fc.constant(object === null ? f & ~PFC.OBJECT_UUID : f | PFC.OBJECT_UUID),
      ptype: fc.constant(PType.REQUEST),
      allocHint: u32,
      contextId: u16,
      opnum: u16,
      object: fc.constant(object),
      stub: bytes(200),
      auth: maybeAuth,
    }),
  ),
  rec({ ...common, flags: u8, ptype: fc.constant(PType.RESPONSE), allocHint: u32, contextId: u16, cancelCount: u8, stub: bytes(200), auth: maybeAuth }),
  rec({ ...common, flags: u8, ptype: fc.constant(PType.FAULT), allocHint: u32, contextId: u16, cancelCount: u8, status: u32, faultFlags: u8, stub: bytes(64) }),
  rec({ ...common, flags: u8, ptype: fc.constant(PType.AUTH3), auth: maybeAuth }),
  rec({ ...common, flags: u8, ptype: fc.constant(PType.SHUTDOWN) }),
  rec({ ...common, flags: u8, ptype: fc.constantFrom(PType.CO_CANCEL, PType.ORPHANED), auth: maybeAuth }),
);

/** Buffers compare by content in deepEqual only when both are Buffers: parsed views are, generated ones too. */
function samePdu(actual: Pdu, expected: Pdu): void {
  assert.deepEqual(actual, expected);
}

/** Arbitrary bytes that get past the common header: a plausible header (any ptype) and any body. */
const headedBytes = fc.tuple(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 20 }), u8, u16, u32, bytes(300)).map(([minor, ptype, flags, authLength, callId, body]) => {
  const b = Buffer.concat([Buffer.alloc(HEADER_SIZE), body]);
  b.writeUInt8(5, 0);
  b.writeUInt8(minor, 1);
  b.writeUInt8(ptype, 2);
  b.writeUInt8(flags, 3);
  b.writeUInt8(0x10, 4);
  b.writeUInt16LE(b.length, 8);
  b.writeUInt16LE(authLength % (body.length + 1), 10); // an auth_length that may or may not fit
  b.writeUInt32LE(callId, 12);
  return b;
});
/** A valid PDU's bytes with some bytes overwritten (extremes favoured) or cut short. */
const mutatedPdu = fc
  .tuple(pdu, fc.array(fc.tuple(fc.nat(), fc.oneof(u8, fc.constantFrom(0, 0xff))), { minLength: 1, maxLength: 4 }), fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: fc.nat(), weight: 1 }))
  .map(([p, edits, cut]) => {
    const b = serializePdu(p);
    for (const [at, v] of edits) b[at % b.length] = v;
    return cut === null ? b : b.subarray(0, cut % (b.length + 1));
  });
const hostileBytes = fc.oneof(bytes(300), headedBytes, mutatedPdu);

describe('properties: DCE/RPC PDUs', () => {
  it('serialize → parse gives the PDU back, and parse → serialize the same bytes', () => {
    fc.assert(
      fc.property(pdu, (p) => {
        const b = serializePdu(p);
        assert.equal(b.readUInt16LE(8), b.length, 'frag_length');
        const back = parsePdu(b);
        samePdu(back, p);
        assert.deepEqual(serializePdu(back), b);
      }),
      runs(0x5057_0001, 500),
    );
  });

  it('parseFragment agrees with parsePdu and its layout points at the stub, padding, trailer and auth value', () => {
    fc.assert(
      fc.property(pdu, (p) => {
        const b = serializePdu(p);
        const { pdu: q, layout } = parseFragment(b);
        samePdu(q, p);
        assert.equal(layout.bytes, b);
        if (p.ptype === PType.REQUEST || p.ptype === PType.RESPONSE) assert.deepEqual(b.subarray(layout.stubStart, layout.padStart), p.stub);
        const a = 'auth' in p ? p.auth : null;
        if (a) {
          assert.deepEqual(b.subarray(layout.padStart, layout.trailerStart), a.pad);
          assert.equal(layout.authStart, layout.trailerStart + 8);
          assert.deepEqual(b.subarray(layout.authStart), a.value);
        } else {
          assert.equal(layout.padStart, b.length);
        }
      }),
      runs(0x5057_0002),
    );
  });

  it('any bytes: a PDU or DecodeError, and what parses is a fixed point of serialize → parse', () => {
    fc.assert(
      fc.property(hostileBytes, (b) => {
        let p: Pdu;
        try {
          p = parsePdu(b);
        } catch (err) {
          if (err instanceof DecodeError) return;
          throw err;
        }
        onlyThrows(DecodeError, () => parseFragment(b));
        samePdu(parsePdu(serializePdu(p)), p);
      }),
      runs(0x5057_0003, 3000),
    );
  });
});

describe('properties: framing, fragments, reassembly', () => {
  it('Deframer: PDUs cut into arbitrary chunks come out whole and in order, nothing left over', () => {
    fc.assert(
      fc.property(fc.array(pdu, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 12 }), (ps, cuts) => {
        const frags = ps.map((p) => serializePdu(p));
        const stream = Buffer.concat(frags);
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const d = new Deframer(0xffff);
        const out: Buffer[] = [];
        let from = 0;
        for (const to of [...points, stream.length]) {
          out.push(...d.push(stream.subarray(from, to)));
          from = to;
        }
        assert.deepEqual(out, frags);
        assert.equal(d.bufferedBytes, 0);
      }),
      runs(0x5057_0010),
    );
  });

  it('Deframer: any byte stream gives fragments or DecodeError, and never holds more than one fragment limit', () => {
    const limit = 256;
    fc.assert(
      fc.property(fc.array(hostileBytes, { maxLength: 4 }), (chunks) => {
        const d = new Deframer(limit);
        for (const c of chunks) {
          let frags: Buffer[];
          try {
            frags = d.push(c);
          } catch (err) {
            if (err instanceof DecodeError) return;
            throw err;
          }
          for (const f of frags) {
            assert.ok(f.length >= HEADER_SIZE && f.length <= limit);
            assert.equal(f.readUInt8(0), 5);
          }
          assert.ok(d.bufferedBytes < limit, `${d.bufferedBytes} bytes held`);
          // The call_id of a fragment still arriving is the one in its header.
          const id = d.partialCallId();
          if (d.bufferedBytes >= HEADER_SIZE) assert.equal(typeof id, 'number');
          else assert.equal(id, null);
        }
      }),
      runs(0x5057_0011, 1000),
    );
  });

  it('fragmentResponse: fragments within max_xmit_frag, FIRST and LAST set right, 8-byte-aligned slices that rebuild the stub', () => {
    fc.assert(
      fc.property(u32, u16, bytes(2000), fc.integer({ min: 32, max: 600 }), (callId, contextId, stub, maxXmit) => {
        const frags = fragmentResponse(callId, contextId, stub, maxXmit);
        const parts: Buffer[] = [];
        frags.forEach((f, i) => {
          assert.ok(f.length <= maxXmit, `fragment ${i}: ${f.length} > ${maxXmit}`);
          const p = parsePdu(f);
          assert.equal(p.ptype, PType.RESPONSE);
          if (p.ptype !== PType.RESPONSE) return;
          assert.equal((p.flags & PFC.FIRST_FRAG) !== 0, i === 0);
          assert.equal((p.flags & PFC.LAST_FRAG) !== 0, i === frags.length - 1);
          assert.equal(p.callId, callId);
          assert.equal(p.contextId, contextId);
          if (i < frags.length - 1) assert.equal(p.stub.length % 8, 0);
          assert.equal(p.allocHint, stub.length - Buffer.concat(parts).length);
          parts.push(p.stub);
        });
        assert.deepEqual(Buffer.concat(parts), stub);
      }),
      runs(0x5057_0012),
    );
  });

  it('Reassembler: a request cut into fragments at any points is whole again after its last one', () => {
    fc.assert(
      fc.property(u32, u16, u16, bytes(1500), fc.array(fc.nat(), { maxLength: 8 }), (callId, contextId, opnum, stub, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (stub.length + 1)))].sort((a, b) => a - b);
        const bounds = [0, ...points, stub.length];
        const r = new Reassembler(stub.length);
        let whole: RequestPdu | null = null;
        for (let i = 0; i + 1 < bounds.length; i++) {
          const flags = (i === 0 ? PFC.FIRST_FRAG : 0) | (i + 2 === bounds.length ? PFC.LAST_FRAG : 0);
          const frag: RequestPdu = { ptype: PType.REQUEST, versionMinor: 0, flags, callId, allocHint: 0, contextId, opnum, object: null, stub: stub.subarray(bounds[i], bounds[i + 1]), auth: null };
          // What the reassembler gets has been through the wire codec, as on a connection.
          const parsed = parsePdu(serializePdu(frag));
          assert.equal(parsed.ptype, PType.REQUEST);
          if (parsed.ptype !== PType.REQUEST) return;
          const done = r.push(parsed);
          if (i + 2 < bounds.length) assert.equal(done, null);
          else whole = done;
        }
        assert.ok(whole !== null);
        assert.deepEqual(whole.stub, stub);
        assert.equal(whole.opnum, opnum);
        assert.equal(r.heldBytes, 0);
      }),
      runs(0x5057_0013),
    );
  });
});

describe('properties: verification trailer', () => {
  const expectations = rec({ ptype: fc.constant(PType.REQUEST), callId: u32, contextId: u16, opnum: u16, abstract: syntax, transfer: syntax, clientHeaderSigning: fc.boolean() });
  const trailerFor = (e: { ptype: number; callId: number; contextId: number; opnum: number; abstract: SyntaxId; transfer: SyntaxId; clientHeaderSigning: boolean }): Buffer => {
    const bitmask = Buffer.alloc(4);
    bitmask.writeUInt32LE(e.clientHeaderSigning ? 1 : 0);
    const pcontext = Buffer.alloc(40);
    uuidToWire(e.abstract.uuid).copy(pcontext, 0);
    pcontext.writeUInt16LE(e.abstract.version, 16);
    pcontext.writeUInt16LE(e.abstract.minor, 18);
    uuidToWire(e.transfer.uuid).copy(pcontext, 20);
    pcontext.writeUInt16LE(e.transfer.version, 36);
    pcontext.writeUInt16LE(e.transfer.minor, 38);
    const header2 = Buffer.alloc(16);
    header2.writeUInt8(e.ptype, 0);
    Buffer.from([0x10, 0, 0, 0]).copy(header2, 4);
    header2.writeUInt32LE(e.callId, 8);
    header2.writeUInt16LE(e.contextId, 12);
    header2.writeUInt16LE(e.opnum, 14);
    return buildVerificationTrailer([
      { command: VerificationCommand.BITMASK_1, body: bitmask },
      { command: VerificationCommand.PCONTEXT, body: pcontext },
      { command: VerificationCommand.HEADER2, body: header2 },
    ]);
  };

  it('a stub padded to 4 bytes plus a matching trailer: found where it starts, every command matches', () => {
    fc.assert(
      fc.property(bytes(300), expectations, (ndr, e) => {
        const padded = Buffer.concat([ndr, Buffer.alloc((4 - (ndr.length % 4)) % 4)]);
        const stub = Buffer.concat([padded, trailerFor(e)]);
        const c = checkVerificationTrailer(stub, { ...e, drep: Buffer.from([0x10, 0, 0, 0]) });
        assert.deepEqual(c, { stubEnd: padded.length, present: true, mismatch: null });
      }),
      runs(0x5057_0020),
    );
  });

  it('any stub: never throws; stubEnd within the stub and 4-aligned when a trailer is present', () => {
    const stubs = fc.oneof(
      bytes(300),
      // A real trailer with some bytes changed: its commands may or may not still parse.
      fc.tuple(bytes(40), expectations, fc.array(fc.tuple(fc.nat(), u8), { minLength: 1, maxLength: 4 })).map(([ndr, e, edits]) => {
        const b = Buffer.concat([ndr, Buffer.alloc((4 - (ndr.length % 4)) % 4), trailerFor(e)]);
        for (const [at, v] of edits) b[at % b.length] = v;
        return b;
      }),
    );
    fc.assert(
      fc.property(stubs, expectations, (stub, e) => {
        const c = checkVerificationTrailer(stub, { ...e, drep: Buffer.from([0x10, 0, 0, 0]) });
        assert.ok(c.stubEnd >= 0 && c.stubEnd <= stub.length);
        if (c.present) assert.equal(c.stubEnd % 4, 0);
        else assert.deepEqual(c, { stubEnd: stub.length, present: false, mismatch: null });
      }),
      runs(0x5057_0021, 1000),
    );
  });
});

describe('properties: NDR and GUIDs', () => {
  type Item =
    | { t: 'u8' | 'u16' | 'u32'; v: number }
    | { t: 'wide'; v: string }
    | { t: 'unique'; v: string | null }
    | { t: 'uuid'; v: string }
    | { t: 'handle'; v: Buffer };
  const item: fc.Arbitrary<Item> = fc.oneof(
    u8.map((v): Item => ({ t: 'u8', v })),
    u16.map((v): Item => ({ t: 'u16', v })),
    u32.map((v): Item => ({ t: 'u32', v })),
    wideString.map((v): Item => ({ t: 'wide', v })),
    fc.option(wideString, { nil: null }).map((v): Item => ({ t: 'unique', v })),
    uuid.map((v): Item => ({ t: 'uuid', v })),
    bytes(CONTEXT_HANDLE_SIZE, CONTEXT_HANDLE_SIZE).map((v): Item => ({ t: 'handle', v })),
  );
  const write = (items: readonly Item[]): Buffer => {
    const w = new NdrWriter();
    for (const i of items) {
      switch (i.t) {
        case 'u8':
          w.u8(i.v);
          break;
        case 'u16':
          w.u16(i.v);
          break;
        case 'u32':
          w.u32(i.v);
          break;
        case 'wide':
          w.wideString(i.v);
          break;
        case 'unique':
          w.uniqueWideString(i.v);
          break;
        case 'uuid':
          w.uuid(i.v);
          break;
        case 'handle':
          w.contextHandle(i.v);
          break;
      }
    }
    return w.finish();
  };
  const readAll = (r: NdrReader, shape: readonly Item[]): Item[] =>
    shape.map((i): Item => {
      switch (i.t) {
        case 'u8':
          return { t: 'u8', v: r.u8() };
        case 'u16':
          return { t: 'u16', v: r.u16() };
        case 'u32':
          return { t: 'u32', v: r.u32() };
        case 'wide':
          return { t: 'wide', v: r.wideString() };
        case 'unique':
          return { t: 'unique', v: r.uniqueWideString() };
        case 'uuid':
          return { t: 'uuid', v: r.uuid() };
        case 'handle':
          return { t: 'handle', v: r.contextHandle() };
      }
    });
  const read = (b: Buffer, shape: readonly Item[]): Item[] => readAll(new NdrReader(b), shape);

  it('any sequence of primitives, strings, GUIDs and handles reads back as written, using every byte', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 12 }), (items) => {
        const b = write(items);
        const r = new NdrReader(b);
        assert.deepEqual(readAll(r, items), items);
        assert.equal(r.remaining, 0);
        // Natural alignment: each u16 starts on an even offset, u32s, strings, GUIDs and handles on 4.
        assert.deepEqual(write(read(b, items)), b);
      }),
      runs(0x5057_0030, 500),
    );
  });

  it('any bytes read as any shape: values or DecodeError, and a string never allocates beyond the stub', () => {
    fc.assert(
      fc.property(hostileBytes, fc.array(item, { minLength: 1, maxLength: 6 }), (b, shape) => {
        let got: Item[];
        try {
          got = read(b, shape);
        } catch (err) {
          if (err instanceof DecodeError) return;
          throw err;
        }
        for (const g of got) if (g.t === 'wide' || (g.t === 'unique' && g.v !== null)) assert.ok((g.v ?? '').length * 2 <= b.length);
        // Normalised: what was read, written again, reads the same.
        assert.deepEqual(read(write(got), shape), got);
      }),
      runs(0x5057_0031, 2000),
    );
  });

  it('GUIDs: wire → string → wire is the identity, and string → wire → string for any case of the string', () => {
    fc.assert(
      fc.property(bytes(16, 16), fc.boolean(), (b, upper) => {
        const s = uuidFromWire(b);
        assert.match(s, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        assert.deepEqual(uuidToWire(upper ? s.toUpperCase() : s), b);
      }),
      runs(0x5057_0032),
    );
  });
});
