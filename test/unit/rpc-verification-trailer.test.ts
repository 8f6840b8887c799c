// The verification trailer (MS-RPCE §2.2.2.13): found at the end of the stub, each command checked
// against the PDU it came in; captured trailers from Samba's clients are checked in rpc-protection.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PType } from '../../service/rpc/pdu.ts';
import { NDR20 } from '../../service/rpc/syntaxes.ts';
import { uuidToWire } from '../../service/rpc/uuid.ts';
import { buildVerificationTrailer, checkVerificationTrailer, VerificationCommand as C, type TrailerExpectations } from '../../service/rpc/verification-trailer.ts';
import { WITNESS_INTERFACE } from '../../service/swn/constants.ts';

const iface = { uuid: WITNESS_INTERFACE.uuid, version: 1, minor: 1 };
const expect: TrailerExpectations = { ptype: PType.REQUEST, drep: Buffer.from([0x10, 0, 0, 0]), callId: 7, contextId: 0, opnum: 4, abstract: iface, transfer: NDR20, clientHeaderSigning: true };

function syntax(s: { uuid: string; version: number; minor: number }): Buffer {
  const b = Buffer.alloc(20);
  uuidToWire(s.uuid).copy(b);
  b.writeUInt16LE(s.version, 16);
  b.writeUInt16LE(s.minor, 18);
  return b;
}
function header2(o: Partial<{ ptype: number; callId: number; contextId: number; opnum: number; drep: Buffer }> = {}): Buffer {
  const b = Buffer.alloc(16);
  b[0] = o.ptype ?? PType.REQUEST;
  (o.drep ?? expect.drep).copy(b, 4);
  b.writeUInt32LE(o.callId ?? 7, 8);
  b.writeUInt16LE(o.contextId ?? 0, 12);
  b.writeUInt16LE(o.opnum ?? 4, 14);
  return b;
}
const bitmask = (bits: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(bits); return b; };
const stubWith = (...commands: { command: number; body: Buffer }[]): Buffer => Buffer.concat([Buffer.from('0123456789ab'), buildVerificationTrailer(commands)]);
const all = (o: Parameters<typeof header2>[0] = {}, pctx = Buffer.concat([syntax(iface), syntax(NDR20)])) => [
  { command: C.BITMASK_1, body: bitmask(1) },
  { command: C.PCONTEXT, body: pctx },
  { command: C.HEADER2, body: header2(o) },
];

describe('verification trailer', () => {
  it('found after the stub and checked: every command matches, the stub ends where the trailer starts', () => {
    const r = checkVerificationTrailer(stubWith(...all()), expect);
    assert.deepEqual(r, { stubEnd: 12, present: true, mismatch: null });
  });
  it('absent: the whole stub is the stub', () => {
    assert.deepEqual(checkVerificationTrailer(Buffer.from('0123456789ab'), expect), { stubEnd: 12, present: false, mismatch: null });
  });
  it('stub bytes that look like the signature but are not followed by commands to the end are not a trailer', () => {
    const fake = Buffer.concat([buildVerificationTrailer(all()).subarray(0, 8), Buffer.alloc(5)]);
    assert.equal(checkVerificationTrailer(fake, expect).present, false);
  });
  for (const [what, o, re] of [
    ['opnum', { opnum: 5 }, /opnum/],
    ['call_id', { callId: 8 }, /call_id/],
    ['p_cont_id', { contextId: 1 }, /p_cont_id/],
    ['ptype', { ptype: 2 }, /ptype/],
    ['drep', { drep: Buffer.from([0, 0, 0, 0]) }, /drep/],
  ] as const) {
    it(`HEADER2 with another ${what} than the PDU is a mismatch`, () => {
      assert.match(checkVerificationTrailer(stubWith(...all(o)), expect).mismatch ?? '', re);
    });
  }
  it('PCONTEXT naming another interface or transfer syntax is a mismatch', () => {
    const other = { uuid: 'e1af8308-5d1f-11c9-91a4-08002b14a0fa', version: 3, minor: 0 };
    assert.match(checkVerificationTrailer(stubWith(...all({}, Buffer.concat([syntax(other), syntax(NDR20)]))), expect).mismatch ?? '', /another interface/);
    assert.match(checkVerificationTrailer(stubWith(...all({}, Buffer.concat([syntax(iface), syntax(other)]))), expect).mismatch ?? '', /another transfer syntax/);
  });
  it('BITMASK_1 claiming header signing the bind did not ask for is a mismatch', () => {
    assert.match(checkVerificationTrailer(stubWith(...all()), { ...expect, clientHeaderSigning: false }).mismatch ?? '', /header signing/);
  });
  it('an unknown command is ignored, unless it is marked must-process', () => {
    assert.equal(checkVerificationTrailer(stubWith({ command: 0x0042, body: Buffer.alloc(4) }, ...all()), expect).mismatch, null);
    assert.match(checkVerificationTrailer(stubWith({ command: 0x8042, body: Buffer.alloc(4) }, ...all()), expect).mismatch ?? '', /must-process/);
  });
});
