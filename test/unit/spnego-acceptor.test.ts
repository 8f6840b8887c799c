// The SPNEGO acceptor's negotiation logic, over a fake inner mechanism (test/fixtures/spnego/fake-mech.ts):
// mechanism choice, optimistic tokens, the mechListMIC rules of RFC 4178 §5 in each of their cases,
// the MS-SPNG §3.3.5.1 reset, refusals, and a seeded fuzz loop over mutated captured tokens.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SecurityError, type SecurityErrorCode } from '../../service/auth/context.ts';
import { SpnegoAcceptor, type SpnegoMech } from '../../service/auth/spnego/acceptor.ts';
import {
  NEG_HINT_NAME,
  NegState,
  Oid,
  buildInitialToken,
  buildNegTokenResp,
  encodeMechTypes,
  parseInitialToken,
  parseNegTokenResp,
  type NegTokenResp,
  type NegTokenRespFields,
} from '../../service/auth/spnego/tokens.ts';
import { CLIENT_TOKENS, SESSIONS, capturedToken } from '../fixtures/spnego/captures.ts';
import { FAKE_IDENTITY, FakeMech, fakeSignature, type FakeMechOptions } from '../fixtures/spnego/fake-mech.ts';
import { prng } from '../helpers/prng.ts';

interface Spec {
  oid: string;
  name?: string;
  opts?: FakeMechOptions;
}

/** An acceptor over fake mechanisms; `created` collects every inner context it made. */
function acceptor(...specs: Spec[]): { spnego: SpnegoAcceptor; created: FakeMech[]; inner: () => FakeMech } {
  const created: FakeMech[] = [];
  const mechs: SpnegoMech[] = specs.map((s) => ({
    oid: s.oid,
    name: s.name ?? s.oid,
    create: () => {
      const m = new FakeMech(s.opts);
      created.push(m);
      return m;
    },
  }));
  const spnego = new SpnegoAcceptor({ mechs });
  return {
    spnego,
    created,
    inner: () => {
      assert.equal(created.length, 1, 'exactly one inner context');
      return created[0]!;
    },
  };
}

const init = (mechTypes: string[], mechToken: string | null, mechListMIC: Buffer | null = null): Buffer =>
  buildInitialToken({ mechTypes, reqFlags: null, mechToken: mechToken === null ? null : Buffer.from(mechToken), negHints: null, mechListMIC });

const resp = (f: Partial<NegTokenRespFields> & { token?: string }): Buffer =>
  buildNegTokenResp({ negState: f.negState ?? null, supportedMech: f.supportedMech ?? null, responseToken: f.token === undefined ? null : Buffer.from(f.token), mechListMIC: f.mechListMIC ?? null });

const clientMic = (mechTypes: string[], seq = 0): Buffer => fakeSignature('c2s', seq, 0, encodeMechTypes(mechTypes));
const serverMic = (mechTypes: string[], seq = 0): Buffer => fakeSignature('s2c', seq, 0, encodeMechTypes(mechTypes));

async function stepOk(s: SpnegoAcceptor, token: Buffer): Promise<{ reply: NegTokenResp | null; complete: boolean }> {
  const r = await s.step(token);
  return { reply: r.token ? parseNegTokenResp(r.token) : null, complete: r.complete };
}

async function refused(p: Promise<unknown>, code: SecurityErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof SecurityError, `not a SecurityError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

function assertDead(s: SpnegoAcceptor): void {
  assert.equal(s.complete, false);
  assert.equal(s.identity, null);
  assert.throws(() => s.getMic(Buffer.from('x')), SecurityError);
}

const NTLM = [Oid.NTLMSSP];

describe('SPNEGO acceptor against the captured NegTokenInit', () => {
  for (const set of [...SESSIONS, 'auth3'] as const) {
    it(`${set}: answers with the structure of Samba's reply`, async () => {
      const { spnego, inner } = acceptor({ oid: Oid.NTLMSSP, name: 'ntlmssp' });
      const bind = capturedToken(`${set}-bind`);
      const { reply, complete } = await stepOk(spnego, bind);
      const samba = parseNegTokenResp(capturedToken(`${set}-bind-ack`));
      assert.ok(reply);
      assert.equal(complete, false);
      assert.equal(reply.negState, samba.negState);
      assert.equal(reply.supportedMech, samba.supportedMech);
      assert.equal(reply.responseToken !== null, samba.responseToken !== null);
      assert.equal(reply.mechListMIC, samba.mechListMIC);
      // The optimistic NEGOTIATE went to the inner mechanism untouched.
      assert.deepEqual(inner().received, [parseInitialToken(bind).mechToken]);
      assert.deepEqual(spnego.negotiated, { oid: Oid.NTLMSSP, name: 'ntlmssp' });
    });
  }
});

describe('SPNEGO acceptor: the mechListMIC in the same message as the last mechanism token (RFC 4178 §5 c I)', () => {
  it('verifies the client MIC, answers with its own, resets the inner crypto once, then delegates', async () => {
    const { spnego, inner } = acceptor({ oid: Oid.NTLMSSP, name: 'ntlmssp' });
    const first = await stepOk(spnego, init(NTLM, 'C1'));
    assert.deepEqual(first.reply, { kind: 'resp', negState: NegState.ACCEPT_INCOMPLETE, supportedMech: Oid.NTLMSSP, responseToken: Buffer.from('FAKE-S1'), mechListMIC: null });
    assert.equal(spnego.identity, null);
    assert.equal(spnego.signatureSize, 0);
    assert.throws(() => spnego.getMic(Buffer.from('early')), /not established/);

    const last = await stepOk(spnego, resp({ token: 'C2', mechListMIC: clientMic(NTLM) }));
    assert.equal(last.complete, true);
    // Samba's shape: accept-completed and a mechListMIC, nothing else (ifl-alter-resp).
    assert.deepEqual(last.reply, { kind: 'resp', negState: NegState.ACCEPT_COMPLETED, supportedMech: null, responseToken: null, mechListMIC: serverMic(NTLM) });
    assert.deepEqual(inner().log, ['verify:0', 'mic:0', 'reset']);
    assert.equal(spnego.complete, true);
    assert.deepEqual(spnego.identity, FAKE_IDENTITY);
    assert.equal(spnego.signatureSize, 16);
    assert.equal(spnego.signsWholePdu, true);

    // The first messages after: sequence number 1, handle state as before the MICs.
    const data = Buffer.from('request stub');
    spnego.verifyMic(data, fakeSignature('c2s', 1, 0, data));
    assert.deepEqual(spnego.getMic(data), fakeSignature('s2c', 1, 0, data));
    const msg = Buffer.from('header|secret|trailer');
    const sig = spnego.wrap(msg, 7, 13);
    assert.notEqual(msg.toString(), 'header|secret|trailer');
    assert.deepEqual(sig, fakeSignature('s2c', 2, 1, Buffer.from('header|secret|trailer')));
    assert.throws(() => { spnego.verifyMic(data, fakeSignature('c2s', 1, 0, data)); }, (e: unknown) => e instanceof SecurityError && e.code === 'integrity');
  });

  it('with the MIC optional and not sent, completes without one and resets nothing', async () => {
    const { spnego, inner } = acceptor({ oid: Oid.NTLMSSP });
    await stepOk(spnego, init(NTLM, 'C1'));
    const last = await stepOk(spnego, resp({ token: 'C2' }));
    assert.equal(last.complete, true);
    assert.deepEqual(last.reply, { kind: 'resp', negState: NegState.ACCEPT_COMPLETED, supportedMech: null, responseToken: null, mechListMIC: null });
    assert.deepEqual(inner().log, []);
    const data = Buffer.from('first');
    spnego.verifyMic(data, fakeSignature('c2s', 0, 0, data));
  });

  it('a mechanism without resetCrypto (Kerberos) is simply not reset', async () => {
    const { spnego, inner } = acceptor({ oid: Oid.NTLMSSP, opts: { resettable: false } });
    await stepOk(spnego, init(NTLM, 'C1'));
    const last = await stepOk(spnego, resp({ token: 'C2', mechListMIC: clientMic(NTLM) }));
    assert.equal(last.complete, true);
    assert.deepEqual(inner().log, ['verify:0', 'mic:0']);
  });

  it('a bad mechListMIC is an integrity failure, and the context is dead', async () => {
    const { spnego } = acceptor({ oid: Oid.NTLMSSP });
    await stepOk(spnego, init(NTLM, 'C1'));
    const bad = clientMic(NTLM);
    bad[0] = (bad[0] ?? 0) ^ 1;
    await refused(spnego.step(resp({ token: 'C2', mechListMIC: bad })), 'integrity', /client's mechListMIC does not verify/);
    assertDead(spnego);
    await refused(spnego.step(resp({ token: 'C2', mechListMIC: clientMic(NTLM) })), 'integrity', /already failed/);
  });

  it('a MIC over another mechanism list (a downgrade) does not verify', async () => {
    const { spnego } = acceptor({ oid: Oid.NTLMSSP });
    await stepOk(spnego, init(NTLM, 'C1'));
    await refused(spnego.step(resp({ token: 'C2', mechListMIC: clientMic([Oid.KERBEROS, Oid.NTLMSSP]) })), 'integrity', /does not verify/);
  });
});

describe('SPNEGO acceptor: the mechListMIC in a later message', () => {
  it('RFC 4178 §5 b: we send the last mechanism token with our MIC; complete only after the client MIC', async () => {
    // Kerberos-like: one client token, our token last. Chosen from the second place (NEGOEX is
    // never chosen), so the MIC exchange is required.
    const offered = [Oid.NEGOEX, Oid.KERBEROS];
    const { spnego, inner } = acceptor({ oid: Oid.KERBEROS, name: 'kerberos', opts: { rounds: 1, finalToken: true } });
    const first = await stepOk(spnego, init(offered, 'NEGOEX-OPTIMISTIC'));
    assert.deepEqual(first.reply, { kind: 'resp', negState: NegState.REQUEST_MIC, supportedMech: Oid.KERBEROS, responseToken: null, mechListMIC: null });
    assert.deepEqual(inner().received, [], 'the NEGOEX optimistic token is not fed to Kerberos');

    const second = await stepOk(spnego, resp({ token: 'K1' }));
    assert.equal(second.complete, false);
    assert.deepEqual(second.reply, { kind: 'resp', negState: NegState.ACCEPT_INCOMPLETE, supportedMech: null, responseToken: Buffer.from('FAKE-SFINAL'), mechListMIC: serverMic(offered) });
    assert.equal(spnego.identity, null);
    assert.throws(() => spnego.getMic(Buffer.from('x')), /not established/);

    const third = await spnego.step(resp({ negState: NegState.ACCEPT_COMPLETED, mechListMIC: clientMic(offered) }));
    assert.deepEqual(third, { token: null, complete: true });
    assert.deepEqual(inner().log, ['mic:0', 'verify:0', 'reset']);
    assert.deepEqual(spnego.identity, FAKE_IDENTITY);
  });

  it('RFC 4178 §5 c IV: the optimistic token completes the context, request-mic with our MIC in the first reply', async () => {
    // We prefer Kerberos; the client offers only NTLMSSP: the MIC exchange is required (§5, §6).
    const { spnego, created } = acceptor({ oid: Oid.KERBEROS, name: 'kerberos' }, { oid: Oid.NTLMSSP, name: 'ntlmssp', opts: { rounds: 1 } });
    const first = await stepOk(spnego, init(NTLM, 'ONLY'));
    assert.equal(first.complete, false);
    assert.deepEqual(first.reply, { kind: 'resp', negState: NegState.REQUEST_MIC, supportedMech: Oid.NTLMSSP, responseToken: null, mechListMIC: serverMic(NTLM) });
    const last = await spnego.step(resp({ mechListMIC: clientMic(NTLM) }));
    assert.deepEqual(last, { token: null, complete: true });
    assert.deepEqual(created[0]?.log, ['mic:0', 'verify:0', 'reset']);
  });

  it('the late message must carry the MIC and no more mechanism tokens', async () => {
    const setup = async (): Promise<SpnegoAcceptor> => {
      const { spnego } = acceptor({ oid: Oid.KERBEROS }, { oid: Oid.NTLMSSP, opts: { rounds: 1 } });
      await stepOk(spnego, init(NTLM, 'ONLY'));
      return spnego;
    };
    await refused((await setup()).step(resp({ negState: NegState.ACCEPT_COMPLETED })), 'integrity', /did not send the mechListMIC/);
    await refused((await setup()).step(resp({ token: 'MORE', mechListMIC: clientMic(NTLM) })), 'malformed', /mechanism token after the mechanism context completed/);
    await refused((await setup()).step(resp({ negState: NegState.REJECT })), 'policy', /rejected/);
    const bad = clientMic(NTLM, 1);
    await refused((await setup()).step(resp({ mechListMIC: bad })), 'integrity', /does not verify/);
  });

  it('RFC 4178 §5 c V: request-mic was sent and the last client token comes without the MIC', async () => {
    const { spnego } = acceptor({ oid: Oid.KERBEROS }, { oid: Oid.NTLMSSP });
    const first = await stepOk(spnego, init(NTLM, 'C1'));
    assert.equal(first.reply?.negState, NegState.REQUEST_MIC);
    await refused(spnego.step(resp({ token: 'C2' })), 'integrity', /did not send the mechListMIC the negotiation requires/);
    assertDead(spnego);
  });

  it('no MIC exchange when the inner context says it cannot sign', async () => {
    const { spnego, inner } = acceptor({ oid: Oid.KERBEROS }, { oid: Oid.NTLMSSP, opts: { integrityAvailable: false } });
    await stepOk(spnego, init(NTLM, 'C1'));
    const last = await stepOk(spnego, resp({ token: 'C2' }));
    assert.equal(last.complete, true);
    assert.equal(last.reply?.negState, NegState.ACCEPT_COMPLETED);
    assert.equal(last.reply?.mechListMIC, null);
    assert.deepEqual(inner().log, []);
  });
});

describe('SPNEGO acceptor: choosing the mechanism', () => {
  it("the client's first choice we cannot do: its optimistic token is dropped, request-mic names ours", async () => {
    const offered = [Oid.KERBEROS_MS_LEGACY, Oid.KERBEROS, Oid.NTLMSSP];
    const { spnego, inner } = acceptor({ oid: Oid.NTLMSSP, name: 'ntlmssp' });
    // The optimistic Kerberos token came with a (Kerberos) MIC: it goes with the token.
    const first = await stepOk(spnego, init(offered, 'AP-REQ', Buffer.from('kerberos mic')));
    assert.deepEqual(first.reply, { kind: 'resp', negState: NegState.REQUEST_MIC, supportedMech: Oid.NTLMSSP, responseToken: null, mechListMIC: null });
    assert.deepEqual(inner().received, []);
    const second = await stepOk(spnego, resp({ token: 'C1' }));
    assert.deepEqual(second.reply, { kind: 'resp', negState: NegState.ACCEPT_INCOMPLETE, supportedMech: null, responseToken: Buffer.from('FAKE-S1'), mechListMIC: null });
    const last = await stepOk(spnego, resp({ token: 'C2', mechListMIC: clientMic(offered) }));
    assert.equal(last.complete, true);
    assert.deepEqual(last.reply?.mechListMIC, serverMic(offered));
    assert.deepEqual(inner().received.map(String), ['C1', 'C2']);
  });

  it('a required MIC missing after the restart is refused', async () => {
    const { spnego } = acceptor({ oid: Oid.NTLMSSP });
    await stepOk(spnego, init([Oid.KERBEROS, Oid.NTLMSSP], 'AP-REQ'));
    await stepOk(spnego, resp({ token: 'C1' }));
    await refused(spnego.step(resp({ token: 'C2' })), 'integrity', /did not send the mechListMIC/);
  });

  it('Kerberos under the legacy OID: supportedMech echoes the OID the client used (MS-SPNG §3.2.5)', async () => {
    const { spnego, created } = acceptor({ oid: Oid.KERBEROS, name: 'kerberos' }, { oid: Oid.KERBEROS_MS_LEGACY, name: 'kerberos' }, { oid: Oid.NTLMSSP, name: 'ntlmssp' });
    const first = await stepOk(spnego, init([Oid.KERBEROS_MS_LEGACY, Oid.KERBEROS, Oid.NTLMSSP], 'AP-REQ'));
    assert.equal(first.reply?.supportedMech, Oid.KERBEROS_MS_LEGACY);
    // Both sides' first choice (the same mechanism under either OID): the MIC is optional.
    assert.equal(first.reply?.negState, NegState.ACCEPT_INCOMPLETE);
    assert.deepEqual(created[0]?.received.map(String), ['AP-REQ']);
    assert.deepEqual(spnego.negotiated, { oid: Oid.KERBEROS_MS_LEGACY, name: 'kerberos' });
  });

  it("the client's order decides among the mechanisms we offer", async () => {
    const { spnego } = acceptor({ oid: Oid.KERBEROS, name: 'kerberos' }, { oid: Oid.NTLMSSP, name: 'ntlmssp' });
    const first = await stepOk(spnego, init([Oid.NTLMSSP, Oid.KERBEROS], 'C1'));
    assert.equal(first.reply?.supportedMech, Oid.NTLMSSP);
    // Not our favourite: the exchange is required, announced with request-mic.
    assert.equal(first.reply?.negState, NegState.REQUEST_MIC);
  });

  it('NEGOEX is never chosen, even when configured', async () => {
    const { spnego, created } = acceptor({ oid: Oid.NEGOEX, name: 'negoex' }, { oid: Oid.NTLMSSP, name: 'ntlmssp' });
    const first = await stepOk(spnego, init([Oid.NEGOEX, Oid.NTLMSSP], 'NEGOEX-TOKEN'));
    assert.equal(first.reply?.supportedMech, Oid.NTLMSSP);
    assert.equal(first.reply?.negState, NegState.REQUEST_MIC);
    assert.equal(created.length, 1);
    assert.deepEqual(created[0]?.received, []);
    assert.throws(() => new SpnegoAcceptor({ mechs: [{ oid: Oid.NEGOEX, name: 'negoex', create: () => new FakeMech() }] }), RangeError);
  });

  it('no common mechanism is a policy refusal', async () => {
    const { spnego, created } = acceptor({ oid: Oid.NTLMSSP });
    await refused(spnego.step(init([Oid.KERBEROS, Oid.NEGOEX], 'AP-REQ')), 'policy', /no common mechanism \(client offers 1\.2\.840\.113554\.1\.2\.2, 1\.3\.6\.1\.4\.1\.311\.2\.2\.30; we offer 1\.3\.6\.1\.4\.1\.311\.2\.2\.10\)/);
    assert.equal(created.length, 0);
    assertDead(spnego);
    const empty = acceptor({ oid: Oid.NTLMSSP });
    await refused(empty.spnego.step(init([], null)), 'policy', /client offers none/);
  });

  it('no optimistic token: the first reply only names the mechanism', async () => {
    const { spnego, inner } = acceptor({ oid: Oid.NTLMSSP });
    const first = await stepOk(spnego, init(NTLM, null));
    assert.deepEqual(first.reply, { kind: 'resp', negState: NegState.ACCEPT_INCOMPLETE, supportedMech: Oid.NTLMSSP, responseToken: null, mechListMIC: null });
    await stepOk(spnego, resp({ token: 'C1' }));
    const last = await stepOk(spnego, resp({ token: 'C2', mechListMIC: clientMic(NTLM) }));
    assert.equal(last.complete, true);
    assert.deepEqual(inner().received.map(String), ['C1', 'C2']);
  });

  it('initialToken(): a NegTokenInit2 with our mechanisms and the Windows hint', () => {
    const { spnego } = acceptor({ oid: Oid.NEGOEX }, { oid: Oid.KERBEROS }, { oid: Oid.NTLMSSP });
    const t = parseInitialToken(spnego.initialToken());
    assert.deepEqual(t.mechTypes, [Oid.KERBEROS, Oid.NTLMSSP]);
    assert.deepEqual(t.negHints, { hintName: NEG_HINT_NAME, hintAddress: null });
    assert.equal(t.mechToken, null);
  });
});

describe('SPNEGO acceptor: refusals', () => {
  it('a reject from the client is a policy refusal; the context is dead', async () => {
    const { spnego } = acceptor({ oid: Oid.NTLMSSP });
    await stepOk(spnego, init(NTLM, 'C1'));
    await refused(spnego.step(resp({ negState: NegState.REJECT })), 'policy', /the client rejected the negotiation/);
    assertDead(spnego);
    await refused(spnego.step(resp({ token: 'C2' })), 'policy', /already failed/);
  });

  it('malformed first and later tokens', async () => {
    const truncated = acceptor({ oid: Oid.NTLMSSP });
    const bind = capturedToken('ifl-bind');
    await refused(truncated.spnego.step(bind.subarray(0, bind.length - 1)), 'malformed', /claims/);
    assertDead(truncated.spnego);

    const wrongOid = acceptor({ oid: Oid.NTLMSSP });
    const krb = Buffer.from(bind);
    krb.set(Buffer.from('06062b0601050503', 'hex'), 2); // 1.3.6.1.5.5.3, not SPNEGO
    await refused(wrongOid.spnego.step(krb), 'malformed', /not SPNEGO/);

    const respFirst = acceptor({ oid: Oid.NTLMSSP });
    await refused(respFirst.spnego.step(capturedToken('ifl-alter')), 'malformed', /InitialContextToken/);

    const empty = acceptor({ oid: Oid.NTLMSSP });
    await refused(empty.spnego.step(Buffer.alloc(0)), 'malformed', /missing/);

    const initTwice = acceptor({ oid: Oid.NTLMSSP });
    await stepOk(initTwice.spnego, init(NTLM, 'C1'));
    await refused(initTwice.spnego.step(init(NTLM, 'C1')), 'malformed', /expected negTokenResp/);

    const noToken = acceptor({ oid: Oid.NTLMSSP });
    await stepOk(noToken.spnego, init(NTLM, 'C1'));
    await refused(noToken.spnego.step(resp({ negState: NegState.ACCEPT_INCOMPLETE })), 'malformed', /without the mechanism token/);
  });

  it('a mechListMIC before the mechanism context is established', async () => {
    const inInit = acceptor({ oid: Oid.NTLMSSP });
    await refused(inInit.spnego.step(init(NTLM, 'C1', Buffer.from('early'))), 'malformed', /mechListMIC before the mechanism context is established/);
    const noOptimistic = acceptor({ oid: Oid.NTLMSSP });
    await refused(noOptimistic.spnego.step(init(NTLM, null, Buffer.from('early'))), 'malformed', /mechListMIC before/);
    const midway = acceptor({ oid: Oid.NTLMSSP, opts: { rounds: 3 } });
    await stepOk(midway.spnego, init(NTLM, 'C1'));
    await refused(midway.spnego.step(resp({ token: 'C2', mechListMIC: clientMic(NTLM) })), 'malformed', /mechListMIC before/);
  });

  it('garbage after completion is refused and ends the context', async () => {
    const { spnego } = acceptor({ oid: Oid.NTLMSSP });
    await stepOk(spnego, init(NTLM, 'C1'));
    await stepOk(spnego, resp({ token: 'C2', mechListMIC: clientMic(NTLM) }));
    assert.equal(spnego.complete, true);
    await refused(spnego.step(Buffer.from('garbage')), 'malformed', /after the negotiation completed/);
    assertDead(spnego);
  });

  it('a second token while the first is being processed is refused and changes nothing', async () => {
    const { spnego } = acceptor({ oid: Oid.NTLMSSP });
    const first = spnego.step(init(NTLM, 'C1'));
    await refused(spnego.step(init(NTLM, 'C1')), 'malformed', /still being processed/);
    assert.equal((await first).complete, false);
    const last = await stepOk(spnego, resp({ token: 'C2', mechListMIC: clientMic(NTLM) }));
    assert.equal(last.complete, true);
  });

  it("the inner mechanism's SecurityError passes through; anything else becomes one", async () => {
    const badpw = acceptor({ oid: Oid.NTLMSSP, name: 'ntlmssp' });
    await stepOk(badpw.spnego, init(NTLM, 'C1'));
    await refused(badpw.spnego.step(resp({ token: 'FAKE-BADPW', mechListMIC: clientMic(NTLM) })), 'logon-failure', /wrong password/);
    assertDead(badpw.spnego);
    const bug = acceptor({ oid: Oid.NTLMSSP, name: 'ntlmssp' });
    await refused(bug.spnego.step(init(NTLM, 'FAKE-THROW')), 'malformed', /the ntlmssp mechanism failed: fake: a bug/);
  });
});

describe('SPNEGO acceptor: seeded fuzzing over mutated captured tokens', () => {
  function mutate(src: Buffer, rnd: () => number): Buffer {
    const b = Buffer.from(src);
    const pick = (n: number): number => Math.floor(rnd() * n);
    switch (pick(6)) {
      case 0: // flip bits
        for (let i = 0, n = 1 + pick(4); i < n; i++) b[pick(b.length)] = (b[pick(b.length)] ?? 0) ^ (1 << pick(8));
        return b;
      case 1: // a random byte somewhere in the first 40 (where the tags and lengths are)
        b[pick(Math.min(40, b.length))] = pick(256);
        return b;
      case 2: // truncate
        return b.subarray(0, pick(b.length));
      case 3: { // insert random bytes
        const at = pick(b.length);
        return Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + pick(8) }, () => pick(256))), b.subarray(at)]);
      }
      case 4: { // duplicate a slice
        const at = pick(b.length);
        const len = pick(Math.min(64, b.length - at) + 1);
        return Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
      }
      default: // a length octet made long or indefinite
        b[1 + pick(Math.min(20, b.length - 1))] = [0x80, 0x81, 0x84, 0xff, 0x7f][pick(5)] ?? 0x80;
        return b;
    }
  }

  it('only SecurityError escapes, in bounded time', async () => {
    const rnd = prng(0x5eed5);
    const inits = CLIENT_TOKENS.filter((n) => n.endsWith('-bind')).map(capturedToken);
    const later = CLIENT_TOKENS.filter((n) => !n.endsWith('-bind')).map(capturedToken);
    const t0 = Date.now();
    let accepted = 0;
    for (let i = 0; i < 4000; i++) {
      const { spnego } = acceptor({ oid: Oid.NTLMSSP, opts: { rounds: 2 } }, { oid: Oid.KERBEROS, opts: { rounds: 1, finalToken: true } });
      const firstSrc = inits[i % inits.length]!;
      const laterSrc = later[i % later.length]!;
      const mutateFirst = i % 2 === 0;
      try {
        await spnego.step(mutateFirst ? mutate(firstSrc, rnd) : firstSrc);
        await spnego.step(mutateFirst ? laterSrc : mutate(laterSrc, rnd));
        accepted++;
      } catch (e) {
        assert.ok(e instanceof SecurityError, `iteration ${i}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      }
    }
    // Mutations that keep the structure (inside the NTLMSSP bytes) still negotiate: the fake mechanism takes any token.
    assert.ok(accepted > 0);
    assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`);
  });

  it('the token parsers alone: only SecurityError, on random bytes too', () => {
    const rnd = prng(42);
    const all = [...CLIENT_TOKENS].map(capturedToken);
    for (let i = 0; i < 20_000; i++) {
      const input = i % 10 === 0 ? Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256))) : mutate(all[i % all.length]!, rnd);
      for (const parse of [parseInitialToken, parseNegTokenResp]) {
        try {
          parse(input);
        } catch (e) {
          assert.ok(e instanceof SecurityError, `iteration ${i}: ${String(e)}`);
        }
      }
    }
  });
});
