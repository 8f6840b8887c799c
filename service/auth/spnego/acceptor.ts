// The SPNEGO acceptor (RFC 4178, MS-SPNG): picks one of the mechanisms the server offers from the
// client's list, carries that mechanism's tokens inside NegTokenResp, and protects the choice with
// the mechListMIC exchange. Once complete it is a thin shell: every protection call goes to the
// inner mechanism's context.
//
// One exchange, as Samba 4.22 and its clients do it over DCE/RPC (the captures in
// test/fixtures/spnego/, auth_type 9):
//   bind          InitialContextToken{NegTokenInit{mechTypes [NTLMSSP], mechToken NEGOTIATE}}
//   bind_ack      NegTokenResp{accept-incomplete, supportedMech NTLMSSP, responseToken CHALLENGE}
//   alter_context NegTokenResp{responseToken AUTHENTICATE, mechListMIC}        (no negState)
//   alter_ctx_resp NegTokenResp{accept-completed, mechListMIC}
// Both mechListMICs are NTLMSSP signatures with sequence number 0 over the client's MechTypeList.
// The first request after that is signed with sequence number 1 but with the RC4 state as it was
// before the mechListMICs (MS-SPNG §3.3.5.1): see resetInnerCrypto.

import { SecurityError, type Identity, type SecurityContext, type StepResult } from '../context.ts';
import { NegState, Oid, buildInitialToken, buildNegTokenResp, parseInitialToken, parseNegTokenResp, NEG_HINT_NAME, type NegTokenRespFields } from './tokens.ts';

export interface SpnegoMech {
  /** Dotted OID as it appears in mechTypes. A mechanism known by two OIDs (Kerberos) is listed twice, with the same name. */
  oid: string;
  /** 'ntlmssp', 'kerberos': for logs, and to tell which entries are the same mechanism. */
  name: string;
  /** A fresh inner context for one negotiation. */
  create(): SecurityContext;
}

export interface SpnegoOptions {
  /** The mechanisms the server offers, most preferred first (e.g. Kerberos when configured, then NTLMSSP). */
  mechs: SpnegoMech[];
}

/**
 * What an inner context may offer beyond SecurityContext, found by looking (duck typing):
 * - resetCrypto(): NTLMSSP's "put the RC4 handles back as they were before the mechListMIC"
 *   (MS-SPNG §3.3.5.1); called once both mechListMICs have been processed;
 * - integrityAvailable: false when the negotiated context cannot sign (e.g. NTLMSSP without
 *   NEGOTIATE_SIGN); then no mechListMIC is exchanged (RFC 4178 §5). Absent means it can.
 */
interface InnerExtras {
  resetCrypto?: unknown;
  integrityAvailable?: unknown;
}

type State = 'start' | 'negotiating' | 'awaiting-mic' | 'complete' | 'failed';

function asSecurityError(e: unknown, mech: string): SecurityError {
  if (e instanceof SecurityError) return e;
  const why = e instanceof Error ? e.message : String(e);
  return new SecurityError('malformed', `SPNEGO: the ${mech} mechanism failed: ${why}`);
}

export class SpnegoAcceptor implements SecurityContext {
  private readonly mechs: SpnegoMech[];
  private state: State = 'start';
  private inner: SecurityContext | null = null;
  private chosen: { oid: string; mech: SpnegoMech } | null = null;
  /** The client's MechTypeList as it sent it: what both mechListMICs cover (RFC 4178 §5 a). */
  private mechTypesDer: Buffer | null = null;
  /** RFC 4178 §5: the MIC exchange is required (subject to the mechanism offering integrity). */
  private micRequired = false;
  private failure: SecurityError | null = null;
  private busy = false;

  constructor(options: SpnegoOptions) {
    // NEGOEX (MS-NEGOEX) would need its own message layer: never offered, never selected.
    this.mechs = options.mechs.filter((m) => m.oid !== Oid.NEGOEX);
    if (this.mechs.length === 0) throw new RangeError('SpnegoAcceptor needs at least one mechanism');
  }

  /** 'spnego', and the chosen mechanism once there is one ('spnego(kerberos)'): for logs. */
  get mechanism(): string {
    return this.chosen ? `spnego(${this.chosen.mech.name})` : 'spnego';
  }

  /**
   * The mechanism chosen from the client's list (its OID as the client spelt it), once chosen.
   * @testOnly the chosen mechanism, checked by the SPNEGO tests (the log names it).
   */
  get negotiated(): { oid: string; name: string } | null {
    return this.chosen ? { oid: this.chosen.oid, name: this.chosen.mech.name } : null;
  }

  get complete(): boolean {
    return this.state === 'complete';
  }

  get identity(): Identity | null {
    return this.state === 'complete' ? (this.inner?.identity ?? null) : null;
  }

  get signatureSize(): number {
    return this.state === 'complete' ? (this.inner?.signatureSize ?? 0) : 0;
  }

  get signsWholePdu(): boolean {
    return this.state === 'complete' ? (this.inner?.signsWholePdu ?? false) : false;
  }

  /**
   * A server-initiated NegTokenInit2 (MS-SPNG §3.2.5.2) listing our mechanisms, with the hint
   * Windows sends. DCE/RPC never needs it (the client speaks first); protocols like SMB2 do.
   * @testOnly the NegTokenInit a server may send first (MS-SPNG §3.2.5.2); DCE/RPC clients speak first, so only tests ask for it.
   */
  initialToken(): Buffer {
    return buildInitialToken({
      mechTypes: this.mechs.map((m) => m.oid),
      reqFlags: null,
      mechToken: null,
      negHints: { hintName: NEG_HINT_NAME, hintAddress: null },
      mechListMIC: null,
    });
  }

  async step(token: Buffer): Promise<StepResult> {
    if (this.state === 'failed') throw new SecurityError(this.failure?.code ?? 'malformed', 'SPNEGO: the negotiation already failed');
    if (this.state === 'complete') return this.fail(new SecurityError('malformed', 'SPNEGO: a token after the negotiation completed'));
    // Tokens are processed one at a time; a second one before the first is answered is the
    // caller's mistake and changes nothing.
    if (this.busy) throw new SecurityError('malformed', 'SPNEGO: a token while the previous one is still being processed');
    this.busy = true;
    try {
      switch (this.state) {
        case 'start':
          return await this.first(token);
        case 'negotiating':
          return await this.next(token);
        case 'awaiting-mic':
          return this.lateMic(token);
      }
    } catch (e) {
      return this.fail(asSecurityError(e, this.chosen?.mech.name ?? 'inner'));
    } finally {
      this.busy = false;
    }
  }

  private fail(e: SecurityError): never {
    this.state = 'failed';
    this.failure = e;
    this.inner = null;
    throw e;
  }

  /** The client's NegTokenInit: choose a mechanism, feed it the optimistic token when it is for it. */
  private async first(token: Buffer): Promise<StepResult> {
    const init = parseInitialToken(token);
    const offered = init.mechTypes;
    if (!offered || !init.mechTypesDer) throw new SecurityError('malformed', 'SPNEGO: NegTokenInit without mechTypes');
    // RFC 4178 §3.2 c: "the first one we support" in the client's order of preference; a
    // mechanism listed under two OIDs (Kerberos) keeps the OID the client used, which MS-SPNG
    // §3.2.5 wants echoed as supportedMech (the legacy 1.2.840.48018.1.2.2 included).
    let chosen: { oid: string; mech: SpnegoMech } | null = null;
    for (const oid of offered) {
      const mech = this.mechs.find((m) => m.oid === oid);
      if (mech) {
        chosen = { oid, mech };
        break;
      }
    }
    if (!chosen) {
      const ours = this.mechs.map((m) => m.oid).join(', ');
      throw new SecurityError('policy', `SPNEGO: no common mechanism (client offers ${offered.join(', ') || 'none'}; we offer ${ours})`);
    }
    this.chosen = chosen;
    this.mechTypesDer = init.mechTypesDer;
    // RFC 4178 §5: the MIC exchange is optional only when the mechanism is the first choice of
    // both sides; we would have preferred mechs[0] had the client offered it (§5, §6).
    const clientsFirst = offered[0] === chosen.oid;
    const oursFirst = chosen.mech.name === this.mechs[0]?.name;
    this.micRequired = !clientsFirst || !oursFirst;
    this.inner = chosen.mech.create();

    // RFC 4178 §3.2 c: the optimistic token is for the client's first mechanism; when we chose
    // another, it is dropped and the client restarts the chosen one from our reply.
    // Its mechListMIC, if any, was made with that mechanism's context and goes with it.
    if (!clientsFirst || init.mechToken === null) {
      if (clientsFirst && init.mechListMIC) throw new SecurityError('malformed', 'SPNEGO: a mechListMIC before the mechanism context is established');
      this.state = 'negotiating';
      // §3.2 c II: a required MIC exchange is announced with request-mic in the first reply.
      return this.reply({ negState: this.micRequired ? NegState.REQUEST_MIC : NegState.ACCEPT_INCOMPLETE, supportedMech: chosen.oid, responseToken: null, mechListMIC: null }, false);
    }
    return this.afterInnerStep(init.mechToken, init.mechListMIC, true);
  }

  /** A NegTokenResp while the inner mechanism is still exchanging tokens. */
  private async next(token: Buffer): Promise<StepResult> {
    const resp = parseNegTokenResp(token);
    this.refuseReject(resp.negState);
    // RFC 4178 §4.2.2: supportedMech belongs to the target's first reply; MS-SPNG §3.3.5 has
    // peers ignore it elsewhere, and so do we.
    if (!resp.responseToken) throw new SecurityError('malformed', 'SPNEGO: NegTokenResp without the mechanism token the negotiation needs');
    return this.afterInnerStep(resp.responseToken, resp.mechListMIC, false);
  }

  private refuseReject(state: NegState | null): void {
    if (state === NegState.REJECT) throw new SecurityError('policy', 'SPNEGO: the client rejected the negotiation');
  }

  /** Feeds one inner token; once the inner context completes, runs the mechListMIC rules. */
  private async afterInnerStep(innerToken: Buffer, clientMic: Buffer | null, firstReply: boolean): Promise<StepResult> {
    const inner = this.requireInner();
    const result = await inner.step(innerToken);
    const supportedMech = firstReply ? (this.chosen?.oid ?? null) : null;
    if (!result.complete) {
      if (clientMic) throw new SecurityError('malformed', 'SPNEGO: a mechListMIC before the mechanism context is established');
      this.state = 'negotiating';
      const negState = firstReply && this.micRequired ? NegState.REQUEST_MIC : NegState.ACCEPT_INCOMPLETE;
      return this.reply({ negState, supportedMech, responseToken: result.token, mechListMIC: null }, false);
    }

    const mechTypes = this.requireMechTypes();
    const integrity = (inner as InnerExtras).integrityAvailable !== false;
    if (clientMic) {
      // RFC 4178 §5 c I: the client's MIC came with its last mechanism token. Verify it, answer
      // with ours, accept-completed.
      this.verifyClientMic(inner, mechTypes, clientMic);
      const ours = inner.getMic(mechTypes);
      this.resetInnerCrypto(inner);
      this.state = 'complete';
      return this.reply({ negState: NegState.ACCEPT_COMPLETED, supportedMech, responseToken: result.token, mechListMIC: ours }, true);
    }
    if (this.micRequired && integrity) {
      // §5 b (we send the last mechanism token) and §5 c IV (the optimistic token completed the
      // context, request-mic in the first reply): we send our MIC first, the client answers with
      // its own, and only then is the context complete (lateMic). When the client sent the last
      // mechanism token after our first reply without the MIC it was asked for: §5 c V.
      if (result.token === null && !firstReply) {
        throw new SecurityError('integrity', 'SPNEGO: the client did not send the mechListMIC the negotiation requires');
      }
      const ours = inner.getMic(mechTypes);
      this.state = 'awaiting-mic';
      const negState = firstReply ? NegState.REQUEST_MIC : NegState.ACCEPT_INCOMPLETE;
      return this.reply({ negState, supportedMech, responseToken: result.token, mechListMIC: ours }, false);
    }
    // The MIC exchange is optional and the client skipped it (or the mechanism cannot sign):
    // §5 c III / b, no MIC from us either (Appendix C: what legacy Windows expects).
    this.state = 'complete';
    return this.reply({ negState: NegState.ACCEPT_COMPLETED, supportedMech, responseToken: result.token, mechListMIC: null }, true);
  }

  /** The client's mechListMIC, in the message after ours (RFC 4178 §5 b I, c IV). */
  private lateMic(token: Buffer): StepResult {
    const resp = parseNegTokenResp(token);
    this.refuseReject(resp.negState);
    if (resp.responseToken) throw new SecurityError('malformed', 'SPNEGO: a mechanism token after the mechanism context completed');
    if (!resp.mechListMIC) throw new SecurityError('integrity', 'SPNEGO: the client did not send the mechListMIC the negotiation requires');
    const inner = this.requireInner();
    this.verifyClientMic(inner, this.requireMechTypes(), resp.mechListMIC);
    this.resetInnerCrypto(inner);
    this.state = 'complete';
    // Our MIC went out already; GSS_Accept_sec_context completes with no output token.
    return { token: null, complete: true };
  }

  private verifyClientMic(inner: SecurityContext, mechTypes: Buffer, mic: Buffer): void {
    try {
      inner.verifyMic(mechTypes, mic);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new SecurityError('integrity', `SPNEGO: the client's mechListMIC does not verify (${why})`);
    }
  }

  /**
   * MS-SPNG §3.3.5.1 ("NTLM RC4 Key State for MechListMIC and First Signed Message"): the RC4 key
   * state used for the mechListMIC must be the state the first application message uses, so each
   * side restores its RC4 handles after computing or checking the mechListMIC. Sequence numbers
   * are not restored: in every captured Samba session the mechListMICs carry sequence number 0
   * and the first request and response carry 1, their checksums sealed with fresh RC4 handles.
   * Done once, after both MICs, which is the same thing because nothing else touches the handles
   * in between. Inner mechanisms without such state (Kerberos) have no resetCrypto.
   */
  private resetInnerCrypto(inner: SecurityContext): void {
    const reset = (inner as InnerExtras).resetCrypto;
    if (typeof reset === 'function') reset.call(inner);
  }

  private reply(fields: NegTokenRespFields, complete: boolean): StepResult {
    return { token: buildNegTokenResp(fields), complete };
  }

  private requireInner(): SecurityContext {
    if (!this.inner) throw new SecurityError('malformed', 'SPNEGO: no mechanism negotiated');
    return this.inner;
  }

  private requireMechTypes(): Buffer {
    if (!this.mechTypesDer) throw new SecurityError('malformed', 'SPNEGO: no mechTypes negotiated');
    return this.mechTypesDer;
  }

  /** The inner context, when the negotiation is complete; the protection calls use it. */
  private established(): SecurityContext {
    if (this.state !== 'complete' || !this.inner) {
      throw new SecurityError('integrity', `SPNEGO: the context is not established (${this.state})`);
    }
    return this.inner;
  }

  getMic(data: Buffer): Buffer {
    return this.established().getMic(data);
  }

  verifyMic(data: Buffer, signature: Buffer): void {
    this.established().verifyMic(data, signature);
  }

  wrap(message: Buffer, start: number, end: number): Buffer {
    return this.established().wrap(message, start, end);
  }

  unwrap(message: Buffer, start: number, end: number, signature: Buffer): void {
    this.established().unwrap(message, start, end, signature);
  }
}
