// Golden bytes: PDUs captured from Samba's witness server and clients (test/fixtures/rpc/README.md)
// are parsed, checked field by field, and serialised back to exactly the same bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { DecodeError } from '../../service/bytes/decode-error.ts';
import { BindTimeFeature } from '../../service/rpc/syntaxes.ts';
import { ContextResult, FaultStatus, parsePdu, PFC, PType, serializePdu, type Pdu } from '../../service/rpc/pdu.ts';

const fixture = (name: string): Buffer => Buffer.from(fs.readFileSync(new URL(`../fixtures/rpc/${name}.hex`, import.meta.url), 'utf8').trim(), 'hex');
const EPM = 'e1af8308-5d1f-11c9-91a4-08002b14a0fa';
const WITNESS = 'ccd8c074-d0e5-4a40-92b4-d074faa6ba28';
const NDR = '8a885d04-1ceb-11c9-9fe8-08002b104860';

function roundTrip(name: string): Pdu {
  const bytes = fixture(name);
  const p = parsePdu(bytes);
  assert.deepEqual(serializePdu(p), bytes, `${name} serialises back to the captured bytes`);
  return p;
}

describe('PDU golden bytes', () => {
  it('bind with bind-time feature negotiation (rpcclient → EPM)', () => {
    const p = roundTrip('epm-bind-features');
    assert.equal(p.ptype, PType.BIND);
    if (p.ptype !== PType.BIND) return;
    assert.equal(p.assocGroupId, 0);
    assert.equal(p.maxXmitFrag, 5840);
    assert.deepEqual(p.contexts.map((c) => [c.contextId, c.abstract.uuid, c.abstract.version, c.transfers.map((t) => t.uuid)]), [
      [0, EPM, 3, [NDR]],
      [1, EPM, 3, ['6cb71c2c-9812-4540-0300-000000000000']],
    ]);
    assert.equal(p.auth, null);
  });
  it('bind_ack with acceptance and negotiate_ack (Samba)', () => {
    const p = roundTrip('epm-bind-ack-features');
    assert.equal(p.ptype, PType.BIND_ACK);
    if (p.ptype !== PType.BIND_ACK) return;
    assert.equal(p.secondaryAddress, '135');
    assert.deepEqual(p.results.map((r) => [r.result, r.reason]), [[ContextResult.ACCEPTANCE, 0], [ContextResult.NEGOTIATE_ACK, BindTimeFeature.SECURITY_CONTEXT_MULTIPLEXING | BindTimeFeature.KEEP_CONNECTION_ON_ORPHAN]]);
  });
  it('bind and bind_ack carrying SPNEGO auth verifiers', () => {
    const b = roundTrip('witness-bind-ntlmssp');
    assert.ok(b.ptype === PType.BIND && b.auth !== null);
    if (b.ptype !== PType.BIND || !b.auth) return;
    assert.equal(b.contexts[0]?.abstract.uuid, WITNESS);
    assert.deepEqual([b.contexts[0]?.abstract.version, b.contexts[0]?.abstract.minor], [1, 1]);
    assert.equal(b.auth.type, 9); // SPNEGO
    assert.equal(b.auth.level, 6); // privacy
    assert.equal(b.auth.value.subarray(0, 2).toString('hex'), '6048'); // NegTokenInit, DER application 0
    const a = roundTrip('witness-bind-ack-ntlmssp');
    assert.ok(a.ptype === PType.BIND_ACK && a.auth?.type === 9);
  });
  it('sealed and signed requests and responses: stub, padding as sent, sec_trailer', () => {
    const q = roundTrip('getinterfacelist-request-sealed');
    assert.ok(q.ptype === PType.REQUEST);
    if (q.ptype !== PType.REQUEST || !q.auth) return assert.fail('no auth');
    assert.equal(q.opnum, 0);
    assert.equal(q.auth.level, 6); // packet privacy (sealed)
    assert.equal(q.auth.value.length, 16); // NTLMSSP signature
    const r = roundTrip('getinterfacelist-response-sealed');
    assert.ok(r.ptype === PType.RESPONSE && r.flags === (PFC.FIRST_FRAG | PFC.LAST_FRAG));
    roundTrip('registerex-request-signed');
    roundTrip('registerex-response-invalid-state-signed');
  });
  it('faults and co_cancel', () => {
    const proto = roundTrip('fault-proto-error');
    assert.ok(proto.ptype === PType.FAULT && proto.status === FaultStatus.PROTO_ERROR);
    const cancel = roundTrip('fault-cancel');
    assert.ok(cancel.ptype === PType.FAULT && cancel.status === FaultStatus.CANCEL);
    const cc = roundTrip('co-cancel');
    assert.equal(cc.ptype, PType.CO_CANCEL);
  });
  it('generates a fault, a bind_nak, a shutdown, an auth3 and an orphaned that parse back', () => {
    const pdus: Pdu[] = [
      { ptype: PType.FAULT, versionMinor: 0, flags: 3 | PFC.DID_NOT_EXECUTE, callId: 7, allocHint: 0, contextId: 1, cancelCount: 0, faultFlags: 0, status: FaultStatus.OP_RNG_ERROR, stub: Buffer.alloc(0) },
      { ptype: PType.BIND_NAK, versionMinor: 0, flags: 3, callId: 1, reason: 8, versions: [{ major: 5, minor: 0 }] },
      { ptype: PType.SHUTDOWN, versionMinor: 0, flags: 3, callId: 0 },
      { ptype: PType.AUTH3, versionMinor: 0, flags: 3, callId: 2, auth: { type: 10, level: 6, pad: Buffer.alloc(0), contextId: 0, value: Buffer.from('NTLMSSP\0', 'latin1') } },
      { ptype: PType.ORPHANED, versionMinor: 0, flags: 3, callId: 9, auth: null },
    ];
    for (const p of pdus) assert.deepEqual(parsePdu(serializePdu(p)), p);
    // A fault is 32 bytes: header, alloc_hint, p_cont_id, cancel_count, flags, status, reserved.
    assert.equal(serializePdu(pdus[0] as Pdu).toString('hex'), '0500032310000000200000000700000000000000010000000200011c00000000');
  });
  it('rejects what is not a PDU with exact messages', () => {
    const ok = fixture('co-cancel');
    const cases: [Buffer, string][] = [
      [ok.subarray(0, 10), 'PDU header: need 16 bytes, 10 left'],
      [Buffer.concat([ok, Buffer.alloc(4)]), `frag_length ${ok.length} but the fragment holds ${ok.length + 4} bytes`],
      [Buffer.from(ok).fill(4, 0, 1), 'unsupported RPC version 4.0'],
      [(() => { const b = Buffer.from(ok); b[2] = 99; return b; })(), 'unknown PDU type 99'],
      [(() => { const b = Buffer.from(ok); b[4] = 0; return b; })(), 'big-endian data representation is not supported'],
      [(() => { const b = Buffer.from(ok); b.writeUInt16LE(ok.length, 10); return b; })(), `auth_length ${ok.length} does not fit in a ${ok.length}-byte fragment`],
    ];
    for (const [b, msg] of cases) assert.throws(() => parsePdu(b), new DecodeError(msg));
  });
  it('refuses absurd counts before allocating', () => {
    const b = Buffer.from(fixture('epm-bind-features'));
    b[24] = 255; // n_context_elem
    assert.throws(() => parsePdu(b), new DecodeError(`255 presentation context elements: need ${255 * 24} bytes, ${b.length - 28} left`));
  });
});
