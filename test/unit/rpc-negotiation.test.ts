// Bind, alter_context and auth3 negotiation in-process (no sockets), against the bind/bind_ack
// pairs captured from Samba's witness server (test/fixtures/rpc/README.md): with a stand-in
// mechanism that answers the captured token, our acks are the captured bytes exactly.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import pino from 'pino';
import { AuthLevel, AuthType, SecurityError, type SecurityContext, type StepResult } from '../../service/auth/context.ts';
import type { RpcInterfaceDef } from '../../service/rpc/interface.ts';
import { Negotiator, type Outcome } from '../../service/rpc/negotiation.ts';
import { ContextResult, FaultStatus, parseFragment, parsePdu, PFC, PType, RejectReason, serializePdu, type BindPdu, type Pdu, type RequestPdu } from '../../service/rpc/pdu.ts';
import { ProtectionError, unprotectRequest } from '../../service/rpc/protection.ts';
import { NtlmAcceptor } from '../../service/auth/ntlm/acceptor.ts';
import { authenticateMessage, ClientSession, CLIENT_SIGN_FLAGS, negotiateMessage } from '../fixtures/ntlm/client.ts';
import { TableSource } from '../fixtures/ntlm/source.ts';
import { BindTimeFeature, bindTimeFeatures, bindTimeSyntax, NDR20 } from '../../service/rpc/syntaxes.ts';
import { WITNESS_INTERFACE } from '../../service/swn/constants.ts';

const fixture = (name: string): Buffer => Buffer.from(fs.readFileSync(new URL(`../fixtures/rpc/${name}.hex`, import.meta.url), 'utf8').trim(), 'hex');
const log = pino({ level: 'silent' });

const witness: RpcInterfaceDef = { name: 'witness', uuid: WITNESS_INTERFACE.uuid, versionMajor: 1, versionMinor: 1, ops: new Map() };
const epm: RpcInterfaceDef = { name: 'epm', uuid: 'e1af8308-5d1f-11c9-91a4-08002b14a0fa', versionMajor: 3, versionMinor: 0, ops: new Map() };

/** A mechanism that answers its first leg with `challenge` and completes on the second (or refuses it). */
class ScriptedMech implements SecurityContext {
  readonly mechanism = 'scripted';
  complete = false;
  identity: SecurityContext['identity'] = null;
  readonly signatureSize = 16;
  readonly signsWholePdu = true;
  legs: Buffer[] = [];
  private readonly challenge: Buffer;
  private readonly refuse: boolean;
  constructor(challenge: Buffer, refuse = false) {
    this.challenge = challenge;
    this.refuse = refuse;
  }
  step(token: Buffer): Promise<StepResult> {
    this.legs.push(Buffer.from(token));
    if (this.legs.length === 1) return Promise.resolve({ token: this.challenge, complete: false });
    if (this.refuse) return Promise.reject(new SecurityError('logon-failure', 'wrong password for \\swnuser'));
    this.complete = true;
    this.identity = { domain: '', user: 'swnuser', workstation: 'X', groups: [] };
    return Promise.resolve({ token: null, complete: true });
  }
  getMic(): Buffer { return Buffer.alloc(16); }
  verifyMic(): void { /* not used here */ }
  wrap(): Buffer { return Buffer.alloc(16); }
  unwrap(): void { /* not used here */ }
}

function negotiator(opts: { assoc: number; port: string; mech?: ScriptedMech | null; interfaces?: RpcInterfaceDef[] }): Negotiator {
  const ifaces = opts.interfaces ?? [witness];
  return new Negotiator({
    findInterface: (s) => ifaces.find((i) => i.uuid === s.uuid && i.versionMajor === s.version),
    associate: (id) => (id === 0 ? opts.assoc : null),
    security: opts.mech === null ? null : (type) => (type === AuthType.NTLMSSP || type === AuthType.SPNEGO ? (opts.mech ?? null) : null),
    secondaryAddress: opts.port,
    log: () => log,
  });
}

const authValue = (p: Pdu): Buffer => {
  if ((p.ptype === PType.BIND_ACK || p.ptype === PType.BIND) && p.auth) return p.auth.value;
  throw new Error('no auth verifier');
};
const asBind = (b: Buffer): BindPdu => {
  const p = parsePdu(b);
  if (p.ptype !== PType.BIND && p.ptype !== PType.ALTER_CONTEXT) throw new Error('not a bind');
  return p;
};
const reply = (o: Outcome): Buffer => {
  assert.equal(o.fatal, null);
  assert.ok(o.reply);
  return o.reply;
};

describe('bind negotiation against Samba captures', () => {
  it('NTLMSSP at packet level: our bind_ack is Samba\'s, byte for byte; AUTH3 completes without a reply', async () => {
    const samba = fixture('ntlmssp-bind-ack-pkt');
    const ack = parsePdu(samba);
    assert.ok(ack.ptype === PType.BIND_ACK);
    const mech = new ScriptedMech(authValue(ack));
    const n = negotiator({ assoc: ack.assocGroupId, port: ack.secondaryAddress, mech });
    const mine = reply(await n.bind(asBind(fixture('ntlmssp-bind-pkt'))));
    assert.deepEqual(mine.toString('hex'), samba.toString('hex'));
    const auth3 = parsePdu(fixture('ntlmssp-auth3-pkt'));
    assert.ok(auth3.ptype === PType.AUTH3);
    const o = await n.auth3(auth3);
    assert.deepEqual(o, { reply: null, fatal: null });
    assert.equal(mech.complete, true);
    assert.equal(mech.legs[1]?.subarray(0, 8).toString('latin1'), 'NTLMSSP\0');
    const s = n.sessions.get(1);
    assert.ok(s && s.level === AuthLevel.PKT && s.type === AuthType.NTLMSSP && s.failed === null);
    assert.equal(n.headerSigning, false); // this bind did not set PFC_SUPPORT_HEADER_SIGN
  });

  it('the third leg in alter_context: our alter_context_resp is Samba\'s (an empty verifier)', async () => {
    const ack = parsePdu(fixture('ntlmssp-bind-ack-pkt-alter'));
    assert.ok(ack.ptype === PType.BIND_ACK);
    const mech = new ScriptedMech(authValue(ack));
    const n = negotiator({ assoc: ack.assocGroupId, port: ack.secondaryAddress, mech });
    assert.deepEqual(reply(await n.bind(asBind(fixture('ntlmssp-bind-pkt-alter')))), fixture('ntlmssp-bind-ack-pkt-alter'));
    const resp = reply(await n.alterContext(asBind(fixture('ntlmssp-alter-auth-pkt'))));
    assert.deepEqual(resp.toString('hex'), fixture('ntlmssp-alter-resp-pkt').toString('hex'));
    assert.equal(mech.complete, true);
  });

  it('SPNEGO at privacy with header signing: bind_ack echoes PFC_SUPPORT_HEADER_SIGN as Samba\'s does', async () => {
    const samba = fixture('witness-bind-ack-ntlmssp');
    const ack = parsePdu(samba);
    assert.ok(ack.ptype === PType.BIND_ACK);
    const n = negotiator({ assoc: ack.assocGroupId, port: ack.secondaryAddress, mech: new ScriptedMech(authValue(ack)) });
    const mine = reply(await n.bind(asBind(fixture('witness-bind-ntlmssp'))));
    assert.deepEqual(mine.toString('hex'), samba.toString('hex'));
    assert.equal(n.headerSigning, true);
    assert.equal(n.clientHeaderSigning, true);
  });

  it('a wrong password in the alter_context leg gets fault access denied and closes, as Samba answers', async () => {
    const ack = parsePdu(fixture('ntlmssp-bind-ack-pkt-alter'));
    assert.ok(ack.ptype === PType.BIND_ACK);
    const n = negotiator({ assoc: ack.assocGroupId, port: ack.secondaryAddress, mech: new ScriptedMech(authValue(ack), true) });
    await n.bind(asBind(fixture('ntlmssp-bind-pkt-alter')));
    const o = await n.alterContext(asBind(fixture('ntlmssp-alter-auth-wrong-password')));
    assert.ok(o.fatal !== null && o.reply);
    const f = parsePdu(o.reply);
    const samba = parsePdu(fixture('fault-access-denied-alter'));
    assert.ok(f.ptype === PType.FAULT && samba.ptype === PType.FAULT);
    assert.deepEqual([f.status, f.callId, f.flags], [samba.status, samba.callId, samba.flags]);
    assert.equal(f.status, FaultStatus.ACCESS_DENIED);
  });

  it('a wrong password in AUTH3 marks the session failed (its next call is refused)', async () => {
    const ack = parsePdu(fixture('ntlmssp-bind-ack-pkt'));
    assert.ok(ack.ptype === PType.BIND_ACK);
    const n = negotiator({ assoc: ack.assocGroupId, port: ack.secondaryAddress, mech: new ScriptedMech(authValue(ack), true) });
    await n.bind(asBind(fixture('ntlmssp-bind-pkt')));
    const auth3 = parsePdu(fixture('ntlmssp-auth3-pkt'));
    assert.ok(auth3.ptype === PType.AUTH3);
    assert.deepEqual(await n.auth3(auth3), { reply: null, fatal: null });
    assert.match(n.sessions.get(1)?.failed ?? '', /wrong password/);
    assert.equal(n.connectSession(), null);
  });

  it('an authenticated bind without security configured, or of an unknown type, gets bind_nak 8', async () => {
    const b = asBind(fixture('ntlmssp-bind-pkt'));
    assert.ok(b.auth);
    const cases: [Negotiator, BindPdu][] = [
      [negotiator({ assoc: 1, port: '1', mech: null }), b], // --auth none
      [negotiator({ assoc: 1, port: '1' }), { ...b, auth: { ...b.auth, type: 0x44 } }], // a type we do not offer
    ];
    for (const [n, pdu] of cases) {
      const nak = parsePdu(reply(await n.bind(pdu)));
      assert.ok(nak.ptype === PType.BIND_NAK);
      assert.equal(nak.reason, RejectReason.AUTHENTICATION_TYPE_NOT_RECOGNIZED);
      assert.equal(n.bound, false);
    }
  });
});

describe('bind-time feature negotiation (MS-RPCE §2.2.2.14)', () => {
  it('reads the offered bits from bytes 8–9 of the syntax UUID', () => {
    assert.equal(bindTimeFeatures({ uuid: '6cb71c2c-9812-4540-0300-000000000000', version: 1, minor: 0 }), 3);
    assert.equal(bindTimeFeatures({ uuid: '6cb71c2c-9812-4540-0100-000000000000', version: 1, minor: 0 }), 1);
    assert.equal(bindTimeFeatures(NDR20), null);
    assert.deepEqual(bindTimeSyntax(3).uuid, '6cb71c2c-9812-4540-0300-000000000000');
  });

  it('grants multiplexing and keep-connection-on-orphan to rpcclient\'s offer: Samba\'s bind_ack, byte for byte', () => {
    const samba = fixture('epm-bind-ack-features');
    const ack = parsePdu(samba);
    assert.ok(ack.ptype === PType.BIND_ACK);
    const n = negotiator({ assoc: ack.assocGroupId, port: ack.secondaryAddress, interfaces: [epm] });
    const o = n.bind(asBind(fixture('epm-bind-features')));
    assert.ok(!(o instanceof Promise));
    assert.deepEqual(reply(o).toString('hex'), samba.toString('hex'));
    assert.equal(n.features, BindTimeFeature.SECURITY_CONTEXT_MULTIPLEXING | BindTimeFeature.KEEP_CONNECTION_ON_ORPHAN);
  });

  it('grants only what it implements of what is offered', () => {
    const n = negotiator({ assoc: 7, port: '1' });
    const bind: BindPdu = {
      ptype: PType.BIND, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId: 1, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0,
      contexts: [
        { contextId: 0, abstract: { uuid: WITNESS_INTERFACE.uuid, version: 1, minor: 1 }, transfers: [NDR20] },
        { contextId: 1, abstract: { uuid: WITNESS_INTERFACE.uuid, version: 1, minor: 1 }, transfers: [bindTimeSyntax(0xff02)] },
      ],
      auth: null,
    };
    const o = n.bind(bind);
    assert.ok(!(o instanceof Promise));
    const ack = parsePdu(reply(o));
    assert.ok(ack.ptype === PType.BIND_ACK);
    assert.deepEqual(ack.results.map((r) => [r.result, r.reason]), [[ContextResult.ACCEPTANCE, 0], [ContextResult.NEGOTIATE_ACK, BindTimeFeature.KEEP_CONNECTION_ON_ORPHAN]]);
    assert.equal(serializePdu(ack).length, reply(o).length);
  });
});

describe('security context multiplexing (MS-RPCE §3.3.1.5.4)', () => {
  // Two NTLMSSP contexts on one connection, each with its own keys and sequence numbers, built with
  // the test initiator against the real acceptor; then a request signed on each verifies only there.
  async function twoContexts(offer: number): Promise<{ n: Negotiator; clients: Map<number, ClientSession>; second: Outcome }> {
    const n = new Negotiator({
      findInterface: () => witness,
      associate: () => 9,
      security: () => new NtlmAcceptor({ source: new TableSource({ alice: 'pw' }), netbiosComputer: 'FILESRV', netbiosDomain: 'WG', dnsComputer: '', dnsDomain: '' }),
      secondaryAddress: '5999',
      log: () => log,
    });
    const clients = new Map<number, ClientSession>();
    const leg = async (kind: 'bind' | 'alter', contextId: number): Promise<Outcome> => {
      const negotiate = negotiateMessage(CLIENT_SIGN_FLAGS);
      const base: BindPdu = {
        ptype: kind === 'bind' ? PType.BIND : PType.ALTER_CONTEXT, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG | PFC.SUPPORT_HEADER_SIGN, callId: contextId, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0,
        contexts: [{ contextId: 0, abstract: { uuid: WITNESS_INTERFACE.uuid, version: 1, minor: 1 }, transfers: [NDR20] }, ...(kind === 'bind' ? [{ contextId: 1, abstract: { uuid: WITNESS_INTERFACE.uuid, version: 1, minor: 1 }, transfers: [bindTimeSyntax(offer)] }] : [])],
        auth: { type: AuthType.NTLMSSP, level: AuthLevel.INTEGRITY, pad: Buffer.alloc(0), contextId, value: negotiate },
      };
      const first = kind === 'bind' ? await n.bind(base) : await n.alterContext(base);
      if (first.fatal !== null || !first.reply) return first;
      const ack = parsePdu(first.reply);
      assert.ok((ack.ptype === PType.BIND_ACK || ack.ptype === PType.ALTER_CONTEXT_RESP) && ack.auth);
      const a = authenticateMessage({ negotiate, challenge: ack.auth.value, user: 'alice', domain: 'WG', password: 'pw' });
      clients.set(contextId, new ClientSession(a.exportedSessionKey, a.flags));
      return n.auth3({ ptype: PType.AUTH3, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId: contextId + 100, auth: { type: AuthType.NTLMSSP, level: AuthLevel.INTEGRITY, pad: Buffer.alloc(0), contextId, value: a.message } });
    };
    await leg('bind', 1);
    const second = await leg('alter', 2);
    return { n, clients, second };
  }

  /** A signed request on auth context `contextId`, as the client of that context makes it. */
  function signedRequest(c: ClientSession, contextId: number, callId: number): ReturnType<typeof parseFragment> {
    const pdu = serializePdu({ ptype: PType.REQUEST, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId, allocHint: 0, contextId: 0, opnum: 0, object: null, stub: Buffer.alloc(0), auth: { type: AuthType.NTLMSSP, level: AuthLevel.INTEGRITY, pad: Buffer.alloc(0), contextId, value: Buffer.alloc(16) } });
    c.sign(pdu.subarray(0, pdu.length - 16)).copy(pdu, pdu.length - 16);
    return parseFragment(pdu);
  }

  it('granted: a second context is built in alter_context, and each verifies its own requests', async () => {
    const { n, clients, second } = await twoContexts(BindTimeFeature.SECURITY_CONTEXT_MULTIPLEXING);
    assert.equal(second.fatal, null);
    assert.deepEqual([...n.sessions.keys()], [1, 2]);
    const r2 = signedRequest(clients.get(2)!, 2, 5);
    assert.ok(r2.pdu.ptype === PType.REQUEST);
    assert.equal(unprotectRequest(n, r2.pdu, r2.layout)?.contextId, 2);
    const r1 = signedRequest(clients.get(1)!, 1, 6);
    assert.ok(r1.pdu.ptype === PType.REQUEST);
    assert.equal(unprotectRequest(n, r1.pdu, r1.layout)?.contextId, 1);
    // Context 1's keys do not sign for context 2.
    const wrong = signedRequest(clients.get(1)!, 2, 7);
    assert.ok(wrong.pdu.ptype === PType.REQUEST);
    assert.throws(() => unprotectRequest(n, wrong.pdu as RequestPdu, wrong.layout), ProtectionError);
  });

  it('not offered: a second context is refused with a fault, and the connection closes', async () => {
    const { n, second } = await twoContexts(BindTimeFeature.KEEP_CONNECTION_ON_ORPHAN);
    assert.match(second.fatal ?? '', /without security context multiplexing/);
    const f = parsePdu(second.reply!);
    assert.ok(f.ptype === PType.FAULT && f.status === FaultStatus.ACCESS_DENIED);
    assert.deepEqual([...n.sessions.keys()], [1]);
  });
});
