// Auth type 16 (RPC_C_AUTHN_GSS_KERBEROS) through the negotiator and the per-PDU layer, with a
// stand-in for the GSS context that records what it is given: the DCE-style three legs (AP-REQ in
// the bind, AP-REP in the bind_ack, the client's AP-REP in AUTH3 or alter_context), the auth level
// reaching the factory (Kerberos signs with a 28-byte MIC at integrity and a 76-byte wrap token at
// privacy), and which bytes the signature covers: with header signing the whole PDU up to the
// verifier, without it only the stub and padding (a Kerberos context does not cover the whole PDU
// on its own, unlike NTLMSSP). Real tokens: test/peers/auth-krb5.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { AuthLevel, AuthType, type SecurityContext, type StepResult } from '../../service/auth/context.ts';
import type { RpcInterfaceDef } from '../../service/rpc/interface.ts';
import { Negotiator } from '../../service/rpc/negotiation.ts';
import { parseFragment, parsePdu, PFC, PType, serializePdu, type BindPdu } from '../../service/rpc/pdu.ts';
import { protectResponse, unprotectRequest } from '../../service/rpc/protection.ts';
import { NDR20 } from '../../service/rpc/syntaxes.ts';
import { WITNESS_INTERFACE } from '../../service/swn/constants.ts';

const witness: RpcInterfaceDef = { name: 'witness', uuid: WITNESS_INTERFACE.uuid, versionMajor: 1, versionMinor: 1, ops: new Map() };
const AP_REQ = Buffer.from('6082AP-REQ');
const AP_REP = Buffer.from('6f-AP-REP-server');
const CLIENT_AP_REP = Buffer.from('6f-AP-REP-client');

/** DCE style: incomplete after the AP-REQ (answers the AP-REP), complete after the client's AP-REP. */
class DceStyleStandIn implements SecurityContext {
  readonly mechanism = 'kerberos';
  readonly signsWholePdu = false;
  complete = false;
  identity: SecurityContext['identity'] = null;
  readonly legs: Buffer[] = [];
  readonly covered: { op: string; bytes: Buffer; start?: number; end?: number }[] = [];
  readonly level: number;
  constructor(level: number) {
    this.level = level;
  }
  get signatureSize(): number {
    return this.level === AuthLevel.PRIVACY ? 76 : 28;
  }
  step(token: Buffer): Promise<StepResult> {
    this.legs.push(Buffer.from(token));
    if (this.legs.length === 1) return Promise.resolve({ token: AP_REP, complete: false });
    this.complete = true;
    this.identity = { domain: 'WITNESS', user: 'witnessuser', workstation: '', groups: [] };
    return Promise.resolve({ token: null, complete: true });
  }
  getMic(data: Buffer): Buffer {
    this.covered.push({ op: 'getMic', bytes: Buffer.from(data) });
    return Buffer.alloc(this.signatureSize, 0x4d);
  }
  verifyMic(data: Buffer, sig: Buffer): void {
    assert.equal(sig.length, this.signatureSize);
    this.covered.push({ op: 'verifyMic', bytes: Buffer.from(data) });
  }
  wrap(message: Buffer, start: number, end: number): Buffer {
    this.covered.push({ op: 'wrap', bytes: Buffer.from(message), start, end });
    return Buffer.alloc(this.signatureSize, 0x57);
  }
  unwrap(message: Buffer, start: number, end: number, sig: Buffer): void {
    assert.equal(sig.length, this.signatureSize);
    this.covered.push({ op: 'unwrap', bytes: Buffer.from(message), start, end });
  }
}

function setup(): { n: Negotiator; made: { type: number; level: number; ctx: DceStyleStandIn }[] } {
  const made: { type: number; level: number; ctx: DceStyleStandIn }[] = [];
  const n = new Negotiator({
    findInterface: (s) => (s.uuid === witness.uuid ? witness : undefined),
    associate: () => 0x1234,
    security: (type, level) => {
      if (type !== AuthType.KERBEROS) return null;
      const ctx = new DceStyleStandIn(level);
      made.push({ type, level, ctx });
      return ctx;
    },
    secondaryAddress: '5999',
    log: () => pino({ level: 'silent' }),
  });
  return { n, made };
}

function bind(level: number, headerSign: boolean, ptype: typeof PType.BIND | typeof PType.ALTER_CONTEXT = PType.BIND, value = AP_REQ, callId = 1): BindPdu {
  const p = parsePdu(serializePdu({
    ptype, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG | (headerSign ? PFC.SUPPORT_HEADER_SIGN : 0), callId, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0,
    contexts: [{ contextId: 0, abstract: { uuid: WITNESS_INTERFACE.uuid, version: 1, minor: 1 }, transfers: [NDR20] }],
    auth: { type: AuthType.KERBEROS, level, pad: Buffer.alloc(0), contextId: 7, value },
  }));
  assert.ok(p.ptype === PType.BIND || p.ptype === PType.ALTER_CONTEXT);
  return p;
}

function request(level: number, sigSize: number, stub: Buffer): ReturnType<typeof parseFragment> {
  const pad = (16 - (stub.length % 16)) % 16;
  return parseFragment(serializePdu({ ptype: PType.REQUEST, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId: 2, allocHint: stub.length, contextId: 0, opnum: 0, object: null, stub, auth: { type: AuthType.KERBEROS, level, pad: Buffer.alloc(pad), contextId: 7, value: Buffer.alloc(sigSize, 0x11) } }));
}

describe('auth type 16 (Kerberos) framing', () => {
  it('bind (AP-REQ) → bind_ack (type 16, the level, the AP-REP, header signing echoed) → AUTH3 (client AP-REP) completes with no reply', async () => {
    const { n, made } = setup();
    const o = await n.bind(bind(AuthLevel.INTEGRITY, true));
    assert.equal(o.fatal, null);
    const ack = parsePdu(o.reply ?? Buffer.alloc(0));
    assert.ok(ack.ptype === PType.BIND_ACK && ack.auth);
    assert.deepEqual([ack.auth.type, ack.auth.level, ack.auth.contextId], [AuthType.KERBEROS, AuthLevel.INTEGRITY, 7]);
    assert.deepEqual(ack.auth.value, AP_REP);
    assert.ok((ack.flags & PFC.SUPPORT_HEADER_SIGN) !== 0);
    assert.deepEqual(made.map((m) => [m.type, m.level]), [[AuthType.KERBEROS, AuthLevel.INTEGRITY]]);
    const auth3 = parsePdu(serializePdu({ ptype: PType.AUTH3, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId: 1, auth: { type: AuthType.KERBEROS, level: AuthLevel.INTEGRITY, pad: Buffer.alloc(0), contextId: 7, value: CLIENT_AP_REP } }));
    assert.ok(auth3.ptype === PType.AUTH3);
    assert.deepEqual(await n.auth3(auth3), { reply: null, fatal: null });
    assert.deepEqual(made[0]?.ctx.legs, [AP_REQ, CLIENT_AP_REP]);
    assert.equal(made[0]?.ctx.complete, true);
  });

  it('the third leg in alter_context: alter_context_resp with an empty type-16 verifier', async () => {
    const { n, made } = setup();
    await n.bind(bind(AuthLevel.PRIVACY, true));
    const o = await n.alterContext(bind(AuthLevel.PRIVACY, true, PType.ALTER_CONTEXT, CLIENT_AP_REP, 2));
    assert.equal(o.fatal, null);
    const raw = o.reply ?? Buffer.alloc(0);
    assert.equal(parsePdu(raw).ptype, PType.ALTER_CONTEXT_RESP);
    // auth_length 0, and a sec_trailer (type 16, privacy, no padding, context 7) closing the PDU.
    assert.equal(raw.readUInt16LE(10), 0);
    assert.deepEqual(raw.subarray(-8), Buffer.from([AuthType.KERBEROS, AuthLevel.PRIVACY, 0, 0, 7, 0, 0, 0]));
    assert.equal(made.length, 1);
    assert.equal(made[0]?.ctx.complete, true);
  });

  for (const headerSign of [true, false]) {
    it(`integrity ${headerSign ? 'with' : 'without'} header signing: a 28-byte MIC over ${headerSign ? 'the PDU up to the verifier' : 'the stub and padding only'}, both ways`, async () => {
      const { n, made } = setup();
      await n.bind(bind(AuthLevel.INTEGRITY, headerSign));
      await n.alterContext(bind(AuthLevel.INTEGRITY, headerSign, PType.ALTER_CONTEXT, CLIENT_AP_REP, 2));
      const ctx = made[0]!.ctx;
      const stub = Buffer.from('0123456789abcdefXYZ');
      const r = request(AuthLevel.INTEGRITY, 28, stub);
      assert.ok(r.pdu.ptype === PType.REQUEST);
      unprotectRequest(n, r.pdu, r.layout);
      const seen = ctx.covered.at(-1);
      assert.equal(seen?.op, 'verifyMic');
      const b = r.layout.bytes;
      assert.deepEqual(seen.bytes, headerSign ? b.subarray(0, r.layout.authStart) : b.subarray(r.layout.stubStart, r.layout.trailerStart));
      const s = n.sessions.get(7)!;
      const [frag] = protectResponse(n, s, 2, 0, stub, 0);
      assert.ok(frag);
      const sent = parseFragment(frag);
      assert.ok(sent.pdu.ptype === PType.RESPONSE);
      assert.equal(sent.pdu.auth?.value.length, 28);
      assert.equal(frag.readUInt16LE(10), 28); // auth_length
      const signed = ctx.covered.at(-1);
      assert.equal(signed?.op, 'getMic');
      assert.deepEqual(signed.bytes, headerSign ? frag.subarray(0, sent.layout.authStart) : frag.subarray(sent.layout.stubStart, sent.layout.trailerStart));
      // A MIC of the privacy size is refused before any check.
      const wrongSize = request(AuthLevel.INTEGRITY, 76, stub);
      assert.ok(wrongSize.pdu.ptype === PType.REQUEST);
      assert.throws(() => unprotectRequest(n, wrongSize.pdu as never, wrongSize.layout), /76-byte verifier where the mechanism signs with 28/);
    });
  }

  it('privacy with header signing: a 76-byte wrap token; the stub is the DATA, header and trailer SIGN_ONLY', async () => {
    const { n, made } = setup();
    await n.bind(bind(AuthLevel.PRIVACY, true));
    await n.alterContext(bind(AuthLevel.PRIVACY, true, PType.ALTER_CONTEXT, CLIENT_AP_REP, 2));
    const ctx = made[0]!.ctx;
    const r = request(AuthLevel.PRIVACY, 76, Buffer.alloc(40, 0x33));
    assert.ok(r.pdu.ptype === PType.REQUEST);
    unprotectRequest(n, r.pdu, r.layout);
    const seen = ctx.covered.at(-1);
    assert.deepEqual([seen?.op, seen?.bytes.length, seen?.start, seen?.end], ['unwrap', r.layout.authStart, r.layout.stubStart, r.layout.trailerStart]);
    const [frag] = protectResponse(n, n.sessions.get(7)!, 2, 0, Buffer.alloc(100, 0x44), 0);
    assert.ok(frag);
    const sent = parseFragment(frag);
    assert.ok(sent.pdu.ptype === PType.RESPONSE);
    assert.equal(sent.pdu.auth?.value.length, 76);
    const sealed = ctx.covered.at(-1);
    assert.deepEqual([sealed?.op, sealed?.bytes.length, sealed?.start, sealed?.end], ['wrap', sent.layout.authStart, sent.layout.stubStart, sent.layout.trailerStart]);
  });
});
