// The NTLMSSP acceptor (MS-NLMP §3.2, server side) as a SecurityContext for DCE/RPC:
//
//   NEGOTIATE     → CHALLENGE          step() returns { token: CHALLENGE, complete: false }
//   AUTHENTICATE  → (nothing)          step() returns { token: null, complete: true }
//
// (In DCE/RPC the AUTHENTICATE arrives in auth3 or alter_context; either way there is no third
// token.) The password is never checked here: the AUTHENTICATE response goes to the configured
// NtlmCredentialSource, which answers with the SessionBaseKey; from it come the KeyExchangeKey,
// the ExportedSessionKey (key exchange), the MIC check and the signing/sealing keys.
//
// Policy: NTLMv2 only unless allowNtlmV1; LM-only responses never; signing/sealing only with
// extended session security and 128-bit keys. Anonymous (§3.2.5.1.2: empty user, empty NT
// response, LM response empty or one zero byte) completes with an empty identity and no session
// key: the RPC layer refuses it for witness methods, and every protection call throws 'policy'.

import crypto from 'node:crypto';
import { randomBytes } from '../../bytes/random-pool.ts';
import { SecurityError, type Identity, type SecurityContext, type StepResult } from '../context.ts';
import type { NtlmCredentialSource, NtlmResponseVerified } from '../credentials.ts';
import { filetimeFromMs } from './avpairs.ts';
import { AvId, MessageType, NegotiateFlag, NTLMV1_RESPONSE_LENGTH } from './constants.ts';
import { guard, ntlmError, toSecurityError } from './errors.ts';
import { checkProtection, negotiatedFlags, selectChallengeFlags } from './flags.ts';
import { computeMic, exportedSessionKey, keyExchangeKey } from './keys.ts';
import { buildChallenge, messageTypeOf, parseAuthenticate, parseNegotiate, type AuthenticateMessage } from './messages.ts';
import { NtlmSession, SIGNATURE_SIZE } from './session.ts';

export interface NtlmAcceptorOptions {
  source: NtlmCredentialSource;
  /** Target info AV pairs (MS-NLMP §2.2.2.1); the NetBIOS ones are mandatory, DNS ones may be ''. */
  netbiosComputer: string;
  netbiosDomain: string;
  dnsComputer: string;
  dnsDomain: string;
  /** Default false: NTLMv1 and LM responses are refused with SecurityError('policy'). */
  allowNtlmV1?: boolean;
  /** Milliseconds since the epoch (fractions kept to the microsecond), for MsvAvTimestamp. */
  now?: () => number;
  /** n random bytes, for the server challenge. */
  random?: (n: number) => Buffer;
}

type State = 'initial' | 'challenged' | 'verifying' | 'complete' | 'failed';

/** What a good AUTHENTICATE establishes, committed only if the context is still waiting for it. */
interface Outcome {
  flags: number;
  identity: Identity;
  session: NtlmSession | null;
  anonymous: boolean;
  micChecked: boolean;
}

export class NtlmAcceptor implements SecurityContext {
  readonly mechanism = 'ntlmssp';
  readonly signatureSize = SIGNATURE_SIZE;
  /** NTLMSSP in DCE/RPC signs the whole PDU (header, body, padding, sec_trailer). */
  readonly signsWholePdu = true;

  private readonly opts: NtlmAcceptorOptions;
  private state: State = 'initial';
  private negotiateRaw: Buffer | null = null;
  private challengeRaw: Buffer | null = null;
  private challengeFlags = 0;
  private serverChallenge: Buffer | null = null;
  private flags = 0;
  private session: NtlmSession | null = null;
  private who: Identity | null = null;
  private anonymous = false;
  private micChecked = false;

  constructor(opts: NtlmAcceptorOptions) {
    this.opts = opts;
  }

  get complete(): boolean {
    return this.state === 'complete';
  }

  get identity(): Identity | null {
    return this.who;
  }

  /**
   * The negotiated flags once complete (0 before).
   * @testOnly the negotiated flags, checked by the capture tests.
   */
  get negotiateFlags(): number {
    return this.state === 'complete' ? this.flags : 0;
  }

  /** True for an anonymous logon (no session key). */
  get isAnonymous(): boolean {
    return this.anonymous;
  }

  /**
   * True when the client's AUTHENTICATE carried a MIC (MsvAvFlags 0x2) and it verified. SPNEGO
   * needs this: such a client also sends a mechListMIC and expects one back (MS-SPNG §3.1.5.1).
   * @testOnly whether a MIC was verified, checked by the capture tests.
   */
  get clientSentMic(): boolean {
    return this.micChecked;
  }

  /** True when getMic/verifyMic can be used (a session key and SIGN or SEAL negotiated). */
  get canSign(): boolean {
    return this.session !== null && (this.flags & (NegotiateFlag.SIGN | NegotiateFlag.SEAL)) !== 0;
  }

  async step(token: Buffer): Promise<StepResult> {
    try {
      const type = messageTypeOf(token);
      switch (this.state) {
        case 'initial':
          if (type !== MessageType.NEGOTIATE) throw ntlmError('malformed', `message type ${type} before NEGOTIATE`);
          return { token: this.onNegotiate(token), complete: false };
        case 'challenged':
          if (type !== MessageType.AUTHENTICATE) throw ntlmError('malformed', `message type ${type} where AUTHENTICATE was expected`);
          this.state = 'verifying';
          {
            const outcome = await this.onAuthenticate(token);
            // Another token may have arrived (and failed the context) while the source was busy.
            if (this.state !== 'verifying') throw ntlmError('malformed', 'the context failed while AUTHENTICATE was being checked');
            this.flags = outcome.flags;
            this.who = outcome.identity;
            this.session = outcome.session;
            this.anonymous = outcome.anonymous;
            this.micChecked = outcome.micChecked;
            this.state = 'complete';
            // The messages were kept for the MIC only. Each is a slice of an 8 KB socket or pool
            // buffer, which it would keep alive for as long as the connection lasts.
            this.negotiateRaw = null;
            this.challengeRaw = null;
            this.serverChallenge = null;
          }
          return { token: null, complete: true };
        case 'verifying':
          throw ntlmError('malformed', 'a token arrived while AUTHENTICATE was still being checked');
        case 'complete':
          throw ntlmError('malformed', 'a token arrived after the context was complete');
        case 'failed':
          throw ntlmError('malformed', 'a token arrived after the context had failed');
      }
    } catch (err) {
      // A context that has refused anything is finished: no second chance on the same context.
      if (this.state !== 'complete') this.state = 'failed';
      throw toSecurityError(err, 'step');
    }
  }

  private onNegotiate(token: Buffer): Buffer {
    const neg = parseNegotiate(token);
    const o = this.opts;
    const targetIsDomain = o.netbiosDomain.toUpperCase() !== o.netbiosComputer.toUpperCase();
    const flags = selectChallengeFlags(neg.flags, targetIsDomain);
    const challenge = (o.random ?? randomBytes)(8);
    if (!Buffer.isBuffer(challenge) || challenge.length !== 8) throw ntlmError('unavailable', 'the random source did not give 8 bytes');
    const now = (o.now ?? Date.now)();
    if (!Number.isFinite(now) || now < 0) throw ntlmError('unavailable', `the clock gave ${now}`);
    // A server that is a member of a domain names the domain; a standalone one (whose NetBIOS
    // domain is its own name, as Samba's is) names itself (§3.2.5.1.1, TargetName).
    const targetName = flags & NegotiateFlag.REQUEST_TARGET ? (targetIsDomain ? o.netbiosDomain : o.netbiosComputer) : '';
    const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');
    // Order as Windows and Samba send them; the DNS names even when empty (Samba does).
    const raw = buildChallenge({
      flags,
      serverChallenge: challenge,
      targetName,
      targetInfo: [
        { id: AvId.NB_DOMAIN_NAME, value: utf16(o.netbiosDomain) },
        { id: AvId.NB_COMPUTER_NAME, value: utf16(o.netbiosComputer) },
        { id: AvId.DNS_DOMAIN_NAME, value: utf16(o.dnsDomain) },
        { id: AvId.DNS_COMPUTER_NAME, value: utf16(o.dnsComputer) },
        { id: AvId.TIMESTAMP, value: filetimeFromMs(now) },
      ],
    });
    this.negotiateRaw = neg.raw;
    this.challengeRaw = raw;
    this.challengeFlags = flags;
    this.serverChallenge = Buffer.from(challenge);
    this.state = 'challenged';
    return raw;
  }

  private async onAuthenticate(token: Buffer): Promise<Outcome> {
    const auth = parseAuthenticate(token);
    const serverChallenge = this.serverChallenge;
    if (serverChallenge === null || this.negotiateRaw === null || this.challengeRaw === null) throw ntlmError('malformed', 'AUTHENTICATE without a CHALLENGE');
    const flags = negotiatedFlags(this.challengeFlags, auth.flags);

    if (isAnonymous(auth)) {
      return { flags, identity: { domain: '', user: '', workstation: auth.workstation, groups: [] }, session: null, anonymous: true, micChecked: false };
    }
    if (auth.user === '') throw ntlmError('logon-failure', 'empty user name with a non-empty response');
    if (auth.ntResponse.length === 0) throw ntlmError('policy', 'LM-only responses are not accepted');
    const v1 = auth.ntResponse.length === NTLMV1_RESPONSE_LENGTH;
    if (v1 && this.opts.allowNtlmV1 !== true) throw ntlmError('policy', `NTLMv1 response from ${auth.domain}\\${auth.user} refused (only NTLMv2 is allowed)`);
    checkProtection(flags, 'AUTHENTICATE');
    if (flags & NegotiateFlag.KEY_EXCH && auth.encryptedRandomSessionKey.length !== 16) {
      throw ntlmError('malformed', `EncryptedRandomSessionKey of ${auth.encryptedRandomSessionKey.length} bytes with key exchange, expected 16`);
    }

    const verified = await this.askSource(auth, serverChallenge);

    const kxkey = keyExchangeKey({ ntlmv2: !v1, flags, sessionBaseKey: verified.sessionBaseKey, serverChallenge, lmResponse: auth.lmResponse });
    const exported = exportedSessionKey(kxkey, flags, auth.encryptedRandomSessionKey);
    if (auth.mic !== null) {
      const mic = computeMic(exported, this.negotiateRaw, this.challengeRaw, auth.rawForMic);
      if (!crypto.timingSafeEqual(mic, auth.mic)) throw ntlmError('integrity', `AUTHENTICATE MIC does not verify for ${auth.domain}\\${auth.user}`);
    }
    // Keys only with extended session security (checkProtection refused SIGN/SEAL without it); a
    // connect-level client without it authenticates but cannot sign.
    const session = flags & NegotiateFlag.EXTENDED_SESSIONSECURITY ? new NtlmSession(exported, flags) : null;
    return { flags, identity: verified.identity, session, anonymous: false, micChecked: auth.mic !== null };
  }

  private async askSource(auth: AuthenticateMessage, serverChallenge: Buffer): Promise<NtlmResponseVerified> {
    let verified: NtlmResponseVerified;
    try {
      verified = await this.opts.source.verify({
        domain: auth.domain,
        user: auth.user,
        workstation: auth.workstation,
        serverChallenge: Buffer.from(serverChallenge),
        ntResponse: Buffer.from(auth.ntResponse),
        lmResponse: Buffer.from(auth.lmResponse),
      });
    } catch (err) {
      if (err instanceof SecurityError) throw err;
      const detail = err instanceof Error ? err.message : String(err);
      throw ntlmError('unavailable', `credential source ${this.opts.source.name} failed: ${detail}`);
    }
    if (verified.sessionBaseKey.length !== 16) {
      throw ntlmError('unavailable', `credential source ${this.opts.source.name} returned a ${verified.sessionBaseKey.length}-byte session key`);
    }
    return verified;
  }

  private requireSession(what: string): NtlmSession {
    if (this.state !== 'complete') throw ntlmError('malformed', `${what} before the context is complete`);
    if (this.session === null) {
      throw ntlmError('policy', this.anonymous ? `${what}: an anonymous context has no session key` : `${what}: no session key (extended session security was not negotiated)`);
    }
    return this.session;
  }

  getMic(data: Buffer): Buffer {
    return guard('getMic', () => this.requireSession('getMic').sign(data));
  }

  verifyMic(data: Buffer, signature: Buffer): void {
    guard('verifyMic', () => {
      this.requireSession('verifyMic').verify(data, signature);
    });
  }

  wrap(message: Buffer, start: number, end: number): Buffer {
    return guard('wrap', () => this.requireSession('wrap').seal(message, start, end));
  }

  unwrap(message: Buffer, start: number, end: number, signature: Buffer): void {
    guard('unwrap', () => {
      this.requireSession('unwrap').unseal(message, start, end, signature);
    });
  }

  /**
   * Re-keys both RC4 handles (sealing and checksum encryption) from the sealing keys, as they were
   * right after authentication. Sequence numbers are kept: they go on counting from where the
   * mechListMIC left them.
   *
   * For SPNEGO (auth_type 9) only, once its mechListMIC exchange is over: the SPNEGO acceptor
   * verifies the client's mechListMIC (verifyMic: client-to-server sequence number 0), makes its own
   * (getMic: server-to-client sequence number 0), then calls this before the first protected PDU.
   * MS-SPNG §3.3.5.1 ("NTLM RC4 Key State for MechListMIC and First Signed Message"): the SPNEGO
   * client saves its NTLM RC4 handle before generating the mechListMIC and restores it afterwards,
   * and the server does the same around validating it, so that the mechListMIC and the first
   * message signed by the application see the same RC4 state. As the mechListMIC is the first use
   * of the handles, restoring them is the same as re-keying them. The handle is only the RC4 state,
   * not the sequence number, and the captures agree: in the SPNEGO sessions of
   * test/fixtures/ntlm/README.md (python3-samba client, Samba server), the mechListMICs carry
   * sequence number 0, the first request and response after them carry 1, and their checksums
   * verify only with fresh RC4 handles (not with handles that went on after the mechListMICs, nor
   * with sequence numbers reset to 0). Plain NTLMSSP (auth_type 10) never calls this.
   */
  resetCrypto(): void {
    guard('resetCrypto', () => {
      this.requireSession('resetCrypto').resetHandles();
    });
  }
}

/** §3.2.5.1.2: empty UserName, empty NtChallengeResponse, LmChallengeResponse empty or Z(1). */
function isAnonymous(auth: AuthenticateMessage): boolean {
  const lmEmpty = auth.lmResponse.length === 0 || (auth.lmResponse.length === 1 && auth.lmResponse[0] === 0);
  return auth.user === '' && auth.ntResponse.length === 0 && lmEmpty;
}
