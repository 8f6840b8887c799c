// The whole DCE/RPC security layer against real sessions (test/fixtures/ntlm/README.md: Samba
// 4.22's witness server and rpcclient / python3-samba, user swnuser, password Swn-Pass1). Our
// Negotiator and per-PDU protection take Samba's place with an acceptor that picks Samba's
// challenge and timestamp: every ack we send is Samba's byte for byte, every captured request
// passes unprotectRequest (verified, or decrypted in place, with its verification trailer
// checked), and every response protectResponse builds is Samba's captured fragment exactly —
// header, padding, sec_trailer, ciphertext and signature.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { AuthType, type SecurityContext } from '../../service/auth/context.ts';
import { ntHash } from '../../service/auth/crypto/md4.ts';
import { exportedSessionKey } from '../../service/auth/ntlm/keys.ts';
import { parseAuthenticate } from '../../service/auth/ntlm/messages.ts';
import { verifyNtlmv2WithNtHash } from '../../service/auth/ntlm/verify.ts';
import { SpnegoAcceptor } from '../../service/auth/spnego/acceptor.ts';
import { Oid } from '../../service/auth/spnego/tokens.ts';
import type { RpcInterfaceDef } from '../../service/rpc/interface.ts';
import { Negotiator, type AuthSession, type Outcome } from '../../service/rpc/negotiation.ts';
import { parseFragment, parsePdu, PType } from '../../service/rpc/pdu.ts';
import { protectResponse, ProtectionError, unprotectRequest } from '../../service/rpc/protection.ts';
import { NDR20 } from '../../service/rpc/syntaxes.ts';
import { checkVerificationTrailer } from '../../service/rpc/verification-trailer.ts';
import { WITNESS_INTERFACE } from '../../service/swn/constants.ts';
import { ClientSession } from '../fixtures/ntlm/client.ts';
import { loadSession, sessionTokens, type CapturedSession } from '../fixtures/ntlm/sessions.ts';
import { CAPTURE_PASSWORD as PASSWORD, pinnedNtlm } from '../fixtures/ntlm/pinned.ts';

const witness: RpcInterfaceDef = { name: 'witness', uuid: WITNESS_INTERFACE.uuid, versionMajor: 1, versionMinor: 1, ops: new Map() };

/** The client's keys, to read what the server sealed (the plaintext our layer must seal again). */
function clientView(s: CapturedSession, firstSeq: number): ClientSession {
  const { challenge, authenticate } = sessionTokens(s);
  const a = parseAuthenticate(authenticate);
  const sbk = verifyNtlmv2WithNtHash(ntHash(PASSWORD), { domain: a.domain, user: a.user, workstation: a.workstation, serverChallenge: challenge.subarray(24, 32), ntResponse: a.ntResponse, lmResponse: a.lmResponse });
  return new ClientSession(exportedSessionKey(sbk, a.flags, a.encryptedRandomSessionKey), a.flags, firstSeq);
}

interface Replay {
  acks: number;
  requests: number;
  responses: number;
  trailers: number;
}

async function replay(name: string, firstSeq: number): Promise<Replay> {
  const s = loadSession(name);
  const ackOf = s.pdus.find((p) => p.from === 'server' && p.bytes[2] === PType.BIND_ACK);
  assert.ok(ackOf);
  const ack = parsePdu(ackOf.bytes);
  assert.ok(ack.ptype === PType.BIND_ACK);
  const n = new Negotiator({
    findInterface: (x) => (x.uuid === witness.uuid ? witness : undefined),
    associate: () => ack.assocGroupId,
    security: (type): SecurityContext | null => {
      if (type === AuthType.NTLMSSP) return pinnedNtlm(s);
      if (type === AuthType.SPNEGO) return new SpnegoAcceptor({ mechs: [{ oid: Oid.NTLMSSP, name: 'ntlmssp', create: () => pinnedNtlm(s) }] });
      return null;
    },
    secondaryAddress: ack.secondaryAddress,
    log: () => pino({ level: 'silent' }),
  });
  const client = clientView(s, firstSeq);
  const out: Replay = { acks: 0, requests: 0, responses: 0, trailers: 0 };
  let session: AuthSession | null = null;
  let pendingReply: Buffer | null = null;
  for (const p of s.pdus) {
    if (p.from === 'client') {
      const { pdu, layout } = parseFragment(Buffer.from(p.bytes));
      let o: Outcome | null = null;
      if (pdu.ptype === PType.BIND) o = await n.bind(pdu);
      else if (pdu.ptype === PType.ALTER_CONTEXT) o = await n.alterContext(pdu);
      else if (pdu.ptype === PType.AUTH3) o = await n.auth3(pdu);
      else if (pdu.ptype === PType.REQUEST) {
        session = unprotectRequest(n, pdu, layout);
        assert.ok(session?.ctx.complete, `frame ${p.frame}: a request on an established context`);
        const vt = checkVerificationTrailer(pdu.stub, { ptype: PType.REQUEST, drep: layout.bytes.subarray(4, 8), callId: pdu.callId, contextId: pdu.contextId, opnum: pdu.opnum, abstract: { uuid: witness.uuid, version: 1, minor: 1 }, transfer: NDR20, clientHeaderSigning: n.clientHeaderSigning });
        assert.equal(vt.mismatch, null, `frame ${p.frame}: ${vt.mismatch ?? ''}`);
        if (vt.present) out.trailers++;
        out.requests++;
      }
      if (o) {
        assert.equal(o.fatal, null);
        pendingReply = o.reply;
      }
      continue;
    }
    const parts = parseFragment(Buffer.from(p.bytes));
    if (parts.pdu.ptype === PType.RESPONSE) {
      assert.ok(session);
      // The plaintext stub as the client reads it, then sealed or signed again by our layer.
      const plain = Buffer.from(p.bytes);
      const l = parts.layout;
      const ok = session.level === 6 ? client.unseal(plain.subarray(0, l.authStart), l.stubStart, l.trailerStart, plain.subarray(l.authStart)) : client.verify(plain.subarray(0, l.authStart), plain.subarray(l.authStart));
      assert.ok(ok, `frame ${p.frame}: the client's view verifies`);
      const frags = protectResponse(n, session, parts.pdu.callId, parts.pdu.contextId, plain.subarray(l.stubStart, l.padStart), parts.pdu.versionMinor);
      assert.equal(frags.length, 1);
      assert.equal(frags[0]?.toString('hex'), p.bytes.toString('hex'), `frame ${p.frame}: our response is Samba's, byte for byte`);
      out.responses++;
    } else if (parts.pdu.ptype === PType.BIND_ACK || parts.pdu.ptype === PType.ALTER_CONTEXT_RESP) {
      assert.equal(pendingReply?.toString('hex'), p.bytes.toString('hex'), `frame ${p.frame}: our ack is Samba's, byte for byte`);
      pendingReply = null;
      out.acks++;
    }
  }
  return out;
}

describe('the security layer replaying captured sessions', () => {
  it('03 rpcclient, NTLMSSP at integrity (AUTH3): acks, requests and signed responses as Samba', async () => {
    const r = await replay('03-rpcclient-ntlmssp-sign', 0);
    assert.deepEqual([r.acks, r.requests, r.responses], [1, 5, 5]);
    assert.ok(r.trailers >= 1);
  });
  it('04 rpcclient, NTLMSSP at privacy (AUTH3): sealed requests decrypted in place, sealed responses as Samba', async () => {
    const r = await replay('04-rpcclient-ntlmssp-seal', 0);
    assert.ok(r.requests >= 4 && r.responses === r.requests, JSON.stringify(r));
  });
  it('01 python3-samba, SPNEGO at integrity with header signing (alter_context leg, mechListMICs)', async () => {
    const r = await replay('01-python-spnego-sign', 1);
    assert.deepEqual([r.acks, r.requests, r.responses], [2, 5, 5]);
  });
  it('02 python3-samba, SPNEGO at privacy', async () => {
    const r = await replay('02-python-spnego-seal', 1);
    assert.ok(r.acks === 2 && r.requests >= 4 && r.responses === r.requests, JSON.stringify(r));
  });
  it('a captured request replayed on a fresh negotiation of the same session is refused (sequence number)', async () => {
    const s = loadSession('03-rpcclient-ntlmssp-sign');
    const reqs = s.pdus.filter((p) => p.from === 'client' && p.bytes[2] === PType.REQUEST);
    const n = new Negotiator({ findInterface: () => witness, associate: () => 1, security: () => pinnedNtlm(s), secondaryAddress: '1', log: () => pino({ level: 'silent' }) });
    for (const p of s.pdus.filter((x) => x.from === 'client' && x.bytes[2] !== PType.REQUEST)) {
      const { pdu } = parseFragment(Buffer.from(p.bytes));
      if (pdu.ptype === PType.BIND) await n.bind(pdu);
      if (pdu.ptype === PType.AUTH3) await n.auth3(pdu);
    }
    // The second request arrives first: it carries sequence number 1 where 0 is due.
    const { pdu, layout } = parseFragment(Buffer.from(reqs[1]!.bytes));
    assert.ok(pdu.ptype === PType.REQUEST);
    assert.throws(() => unprotectRequest(n, pdu, layout), (e: unknown) => e instanceof ProtectionError && e.status === 0x721);
  });
});

describe('SPNEGO ending with AUTH3 (capture 05, frames 201–205)', () => {
  it('completes: the client\'s mechListMIC verifies, ours is dropped (auth3 has no reply), the session is usable', async () => {
    const s = loadSession('05-spnego-integrity-auth3');
    const ack = parsePdu(s.pdus[1]!.bytes);
    assert.ok(ack.ptype === PType.BIND_ACK);
    const n = new Negotiator({
      findInterface: () => witness,
      associate: () => ack.assocGroupId,
      security: () => new SpnegoAcceptor({ mechs: [{ oid: Oid.NTLMSSP, name: 'ntlmssp', create: () => pinnedNtlm(s) }] }),
      secondaryAddress: ack.secondaryAddress,
      log: () => pino({ level: 'silent' }),
    });
    const bind = parseFragment(Buffer.from(s.pdus[0]!.bytes)).pdu;
    assert.ok(bind.ptype === PType.BIND);
    assert.equal((await n.bind(bind)).reply?.toString('hex'), s.pdus[1]!.bytes.toString('hex'));
    const auth3 = parseFragment(Buffer.from(s.pdus[2]!.bytes)).pdu;
    assert.ok(auth3.ptype === PType.AUTH3);
    assert.deepEqual(await n.auth3(auth3), { reply: null, fatal: null });
    const session = n.sessions.get(1);
    assert.ok(session?.ctx.complete && session.failed === null);
    assert.equal(session.ctx.identity?.user, 'swnuser');
  });
});
