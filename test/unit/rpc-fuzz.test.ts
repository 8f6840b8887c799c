// Seeded, bounded fuzzing of every decoder that reads wire bytes: random mutations of captured
// PDUs and stubs must give a value or the decoder's own error type — never another exception,
// never a hang, never a huge allocation. The mutations are fast-check values with fixed seeds: a
// failure prints the fixture and the edits that broke it, shrunk to the fewest. Round-trip
// properties of the same codecs: properties-rpc and properties-swn tests.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fc from 'fast-check';
import { DecodeError } from '../../service/bytes/decode-error.ts';
import { Deframer } from '../../service/rpc/framing.ts';
import { parseFragment, parsePdu, serializePdu, type ContextElement, type SyntaxId } from '../../service/rpc/pdu.ts';
import { NDR20 } from '../../service/rpc/syntaxes.ts';
import pino from 'pino';
import { NtlmAcceptor } from '../../service/auth/ntlm/acceptor.ts';
import { SpnegoAcceptor } from '../../service/auth/spnego/acceptor.ts';
import { Oid } from '../../service/auth/spnego/tokens.ts';
import type { RpcInterfaceDef } from '../../service/rpc/interface.ts';
import { Negotiator } from '../../service/rpc/negotiation.ts';
import { ProtectionError, unprotectRequest } from '../../service/rpc/protection.ts';
import { WITNESS_INTERFACE } from '../../service/swn/constants.ts';
import { loadSession } from '../fixtures/ntlm/sessions.ts';
import { pinnedNtlm } from '../fixtures/ntlm/pinned.ts';
import { decodeAsyncNotifyResponse, decodeHandle, decodeInterfaceListResponse, decodeRegister, decodeRegisterEx } from '../../service/swn/codec.ts';
import { decodeIpAddrInfoList, decodeResourceChanges, MessageDecodeError } from '../../service/swn/messages.ts';
import { parseMapTower, TowerError } from '../../service/epm/tower.ts';

/**
 * One mutation, as data: a cut at a fraction of the input's length, or one to eight bytes (at
 * fractions of its length) set to random values, or to the extremes 0xff or 0x00, which make the
 * worst counts and lengths.
 */
type Mutation = { cut: number } | { fill: 'random' | 0xff | 0x00; edits: [at: number, value: number][] };
// Fractions on a uniform grid: fast-check's doubles are spread over the representable values, most
// of them tiny, which would put nearly every edit at the start of the input.
const fraction = fc.integer({ min: 0, max: 0xffff }).map((n) => n / 0x10000);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fraction.map((cut) => ({ cut })), weight: 1 },
  { arbitrary: fc.record({ fill: fc.constantFrom('random' as const, 0xff as const, 0x00 as const), edits: fc.array(fc.tuple(fraction, fc.integer({ min: 0, max: 0xff })), { minLength: 1, maxLength: 8 }) }), weight: 3 },
);

function mutate(input: Buffer, m: Mutation): Buffer {
  const b = Buffer.from(input);
  if ('cut' in m) return b.subarray(0, Math.floor(m.cut * b.length));
  if (b.length === 0) return b;
  for (const [at, v] of m.edits) b[Math.floor(at * b.length)] = m.fill === 'random' ? v : m.fill;
  return b;
}

const captured = fs.readdirSync(new URL('../fixtures/rpc/', import.meta.url)).filter((f) => f.endsWith('.hex'))
  .map((f) => Buffer.from(fs.readFileSync(new URL(`../fixtures/rpc/${f}`, import.meta.url), 'utf8').trim(), 'hex'));

/** Seeds built for the hostile cases (test/peers/hostile.test.ts): odd binds a real client never sends. */
function structuredSeeds(): Buffer[] {
  const iface: SyntaxId = { uuid: WITNESS_INTERFACE.uuid, version: 1, minor: 1 };
  const bind = (contexts: ContextElement[]): Buffer =>
    serializePdu({ ptype: 11, versionMinor: 0, flags: 3, callId: 1, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0, contexts, auth: null });
  const bigEndian = bind([{ contextId: 0, abstract: iface, transfers: [NDR20] }]);
  bigEndian[4] = 0;
  bigEndian.writeUInt16BE(bigEndian.length, 8);
  return [
    bigEndian,
    bind([{ contextId: 0, abstract: iface, transfers: [] }]), // no transfer syntax
    bind(Array.from({ length: 255 }, (_, i) => ({ contextId: i, abstract: iface, transfers: [NDR20] }))),
    bind([{ contextId: 0, abstract: iface, transfers: [NDR20, NDR20, NDR20] }, { contextId: 0, abstract: iface, transfers: [NDR20] }]), // a duplicate context id
  ];
}
const fixtures = [...captured, ...structuredSeeds()];
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const registerStub = hex('01000100 00000200 05000000 00000000 05000000 73006f0066007300 0000 0000 04000200 0d000000 00000000 0d000000 3100390032002e003100360038002e0033002e00340035000000 0000 08000200 09000000 00000000 09000000 4d005400480045004c0045004e0041000000');
const notifyStub = hex('00000200 01000000 12000000 01000000 04000200 12000000 12000000 ff000000 53004f0046005300 0000 0000 00000000');

function expectOnly(errorType: new (...a: never[]) => Error, f: () => unknown): void {
  try {
    f();
  } catch (err) {
    if (!(err instanceof errorType)) throw err;
  }
}

/** A negotiator with no security, answering binds for the witness interface. */
function bindNegotiator(): Negotiator {
  const witness: RpcInterfaceDef = { name: 'witness', uuid: WITNESS_INTERFACE.uuid, versionMajor: 1, versionMinor: 1, ops: new Map() };
  return new Negotiator({ findInterface: (x) => (x.uuid === witness.uuid ? witness : undefined), associate: () => 1, security: null, secondaryAddress: '1', log: () => pino({ level: 'silent' }) });
}

describe('seeded fuzzing', () => {
  it('PDU parser and deframer: 20,000 mutations', () => {
    const t0 = Date.now();
    fc.assert(fc.property(fc.constantFrom(...fixtures), mutation, (fixture, m) => {
      const input = mutate(fixture, m);
      expectOnly(DecodeError, () => parsePdu(input));
      expectOnly(DecodeError, () => new Deframer(8192).push(input));
      // What parses goes on to the negotiator, as a connection would hand it over.
      let p: ReturnType<typeof parsePdu> | null = null;
      try {
        p = parsePdu(input);
      } catch {
        // refused above
      }
      if (p?.ptype === 11) {
        const o = bindNegotiator().bind(p);
        assert.ok(!(o instanceof Promise) && o.reply !== null);
      }
    }), { seed: 0x5157_4e01, numRuns: 20_000 });
    assert.ok(Date.now() - t0 < 20_000);
  });
  it('witness stub decoders: 20,000 mutations', () => {
    fc.assert(fc.property(mutation, mutation, fc.integer({ min: 1, max: 3 }), (mReg, mNotify, count) => {
      const reg = mutate(registerStub, mReg);
      expectOnly(DecodeError, () => decodeRegister(reg));
      expectOnly(DecodeError, () => decodeRegisterEx(reg));
      expectOnly(DecodeError, () => decodeHandle(reg));
      expectOnly(DecodeError, () => decodeInterfaceListResponse(reg));
      const n = mutate(notifyStub, mNotify);
      expectOnly(DecodeError, () => decodeAsyncNotifyResponse(n));
      expectOnly(MessageDecodeError, () => decodeResourceChanges(n.subarray(24), count));
      expectOnly(MessageDecodeError, () => decodeIpAddrInfoList(n.subarray(24)));
      expectOnly(TowerError, () => parseMapTower(n));
    }), { seed: 0x5157_4e02, numRuns: 20_000 });
  });
  it('absurd counts fail fast instead of allocating', () => {
    const stub = Buffer.from(registerStub);
    stub.writeUInt32LE(0x7fffffff, 8); // NetName max_count
    stub.writeUInt32LE(0x7fffffff, 16); // actual_count
    assert.throws(() => decodeRegister(stub), new DecodeError('NetName characters: need 4294967294 bytes, 90 left'));
    const list = hex('00000200 ffffffff 04000200 ffffffff 00000000');
    assert.throws(() => decodeInterfaceListResponse(list), /do not fit/);
  });
});

describe('seeded fuzzing of the security layer', () => {
  // Captured authenticated sessions (NTLMSSP and SPNEGO, AUTH3 and alter_context legs) replayed
  // through the negotiator and per-PDU protection with one client PDU mutated: the outcome may be
  // a refusal of any kind, but never an exception other than the layer's own, and never an
  // internal error in a mechanism (logged at error level).
  const sessions = ['03-rpcclient-ntlmssp-sign', '04-rpcclient-ntlmssp-seal', '01-python-spnego-sign', '02-python-spnego-seal'].map((n) => loadSession(n));
  it('2,000 sessions with one mutated client PDU each', async () => {
    const errors: string[] = [];
    const log = pino({ level: 'error' }, { write: (l: string) => { errors.push(l); } });
    const witness: RpcInterfaceDef = { name: 'witness', uuid: WITNESS_INTERFACE.uuid, versionMajor: 1, versionMinor: 1, ops: new Map() };
    const t0 = Date.now();
    let verified = 0;
    const session = fc.constantFrom(...sessions);
    // Which client PDU is mutated: uniformly (fast-check's default bias towards the bounds would
    // mostly hit the first, the bind, and few sessions would reach their calls).
    await fc.assert(fc.asyncProperty(session, fc.noBias(fraction), mutation, async (s, which, m) => {
      const clientPdus: Buffer[] = s.pdus.filter((p) => p.from === 'client').map((p) => Buffer.from(p.bytes));
      const victim = Math.floor(which * clientPdus.length);
      clientPdus[victim] = mutate(clientPdus[victim]!, m);
      const n = new Negotiator({
        findInterface: () => witness,
        associate: () => 1,
        security: (type) => {
          // Samba's challenge: unmutated legs verify, so mutations reach the calls too.
          const ntlm = (): NtlmAcceptor => pinnedNtlm(s);
          return type === 10 ? ntlm() : type === 9 ? new SpnegoAcceptor({ mechs: [{ oid: Oid.NTLMSSP, name: 'ntlmssp', create: ntlm }] }) : null;
        },
        secondaryAddress: '1',
        log: () => log,
      });
      for (const b of clientPdus) {
        let f: ReturnType<typeof parseFragment>;
        try {
          f = parseFragment(b);
        } catch (err) {
          if (err instanceof DecodeError) break;
          throw err;
        }
        const p = f.pdu;
        try {
          if (p.ptype === 11) await n.bind(p);
          else if (p.ptype === 14) await n.alterContext(p);
          else if (p.ptype === 16) await n.auth3(p);
          else if (p.ptype === 0 && unprotectRequest(n, p, f.layout) !== null) verified++;
        } catch (err) {
          if (err instanceof ProtectionError) break;
          throw err;
        }
      }
    }), { seed: 0x5157_4e03, numRuns: 2_000 });
    assert.deepEqual(errors, []);
    // The sessions whose mutation came late reached their calls: requests were verified.
    assert.ok(verified > 1000, `only ${verified} requests verified`);
    assert.ok(Date.now() - t0 < 30_000);
  });
});
