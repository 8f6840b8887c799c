// The Kerberos acceptor (auth type 16, RPC_C_AUTHN_GSS_KERBEROS, and SPNEGO's Kerberos), over MIT's
// GSS-API through gss.node. DCE style (MS-RPCE §3.3.1.5.2, RFC 4121 §4.2.8 with GSS_C_DCE_STYLE),
// as Windows and Samba clients bind:
//   bind / alter_context   AP-REQ (mutual authentication requested)
//   bind_ack               AP-REP (with the acceptor's subkey)
//   auth3 / alter_context  the client's AP-REP, answering ours; no token back, complete
// A client that does not ask for DCE style completes after the first leg (two-leg mutual auth).
//
// Protection: MIC tokens (RFC 4121 §4.2.6.1; 28 bytes for AES) at integrity, DCE-style wrap
// tokens at privacy (the header carries the rotated trailer: 76 bytes for AES, gss_wrap_iov with
// SIGN_ONLY buffers for what header signing covers but does not encrypt). Which bytes are covered
// follows PFC_SUPPORT_HEADER_SIGN (signsWholePdu false), as Windows does with Kerberos.
import { AuthLevel, SecurityError, type Identity, type SecurityContext, type StepResult } from '../context.ts';
import { summarizeApReq, type TicketSummary } from './ap-req.ts';
import { acceptError, KerberosError, protectionError } from './errors.ts';
import type { KeytabCredentials } from './keytab.ts';
import type { GroupNamer } from './group-names.ts';
import { gss, type GssCtx } from './native.ts';
import { parseLogonInfo } from './pac.ts';

export interface KerberosAcceptorOptions {
  keytab: KeytabCredentials;
  /** The DCE/RPC auth level the context is for: privacy signs with wrap tokens, the others with MICs. */
  level: number;
  /** Names the PAC's group SIDs for the allow-list's @group entries (absent: SIDs only). */
  nameGroups?: GroupNamer;
}

/** What a completed context tells about the session, for the log line and tests. */
export interface KerberosSessionInfo {
  /** "user@REALM", as the ticket names the client. */
  principal: string;
  /** The service the ticket was for ("cifs/FILESRV@WITNESS.TEST"), its etype and kvno. */
  ticket: TicketSummary | null;
  dceStyle: boolean;
  mutual: boolean;
  /** The PAC's logon info was present and parsed. */
  pac: boolean;
}

/** RFC 6680 name attribute of MIT's PAC plugin: the PAC's KERB_VALIDATION_INFO buffer (MS-PAC §2.5). */
const LOGON_INFO = 'urn:mspac:logon-info';

export class KerberosAcceptor implements SecurityContext {
  readonly mechanism = 'kerberos';
  /** Header signing decides what is covered (MS-RPCE §3.3.1.5.2.2), unlike NTLMSSP. */
  readonly signsWholePdu = false;
  private readonly keytab: KeytabCredentials;
  private readonly level: number;
  private readonly nameGroups: GroupNamer | undefined;
  private ctx: GssCtx | null = null;
  private done = false;
  private failed = false;
  private ticket: TicketSummary | null = null;
  private sigSize = 0;
  private id: Identity | null = null;
  private info: KerberosSessionInfo | null = null;

  constructor(options: KerberosAcceptorOptions) {
    this.keytab = options.keytab;
    this.level = options.level;
    this.nameGroups = options.nameGroups;
  }

  get complete(): boolean {
    return this.done;
  }

  get identity(): Identity | null {
    return this.id;
  }

  get signatureSize(): number {
    return this.sigSize;
  }

  /** Set once complete. */
  get session(): KerberosSessionInfo | null {
    return this.info;
  }

  step(token: Buffer): Promise<StepResult> {
    // Synchronous underneath (see docs/kerberos.md: an accept is ~0.1–0.3 ms of CPU and reads
    // only local files); a promise because that is the interface.
    try {
      const r = this.accept(token);
      const id = this.id;
      // Group names, when the allow-list wants them, before the identity is read (through winbind,
      // cached; a SID it cannot name stays a SID).
      if (!r.complete || id === null || this.nameGroups === undefined) return Promise.resolve(r);
      return this.nameGroups(id).then((groups) => {
        this.id = Object.assign({}, id, { groups });
        return r;
      });
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private accept(token: Buffer): StepResult {
    if (this.failed) throw new SecurityError('logon-failure', 'Kerberos: the exchange already failed');
    if (this.done) throw new SecurityError('malformed', 'Kerberos: a token after the context completed');
    const first = this.ctx === null;
    const cred = this.keytab.current();
    if (first) {
      this.ticket = summarizeApReq(token);
      this.checkPrincipal(this.ticket);
    }
    const api = gss();
    let step;
    try {
      step = api.accept(cred, this.ctx, token);
    } catch (e) {
      this.failed = true;
      this.ctx = null;
      const t = this.ticket;
      throw acceptError(e, t, first, t === null ? undefined : () => api.ticketClient(this.keytab.file, t.der));
    }
    this.ctx = step.ctx;
    if (!step.complete) return { token: step.token, complete: false };
    this.finish(step.ctx, step.flags);
    return { token: step.token, complete: true };
  }

  /**
   * The ticket must name a principal of the keytab, with a kvno the keytab has for it: MIT would
   * otherwise try every key and accept a ticket for any other SPN of the same account.
   */
  private checkPrincipal(t: TicketSummary | null): void {
    const known = this.keytab.principals;
    if (t === null || known === null) return;
    const kvnos = known.get(t.service.toLowerCase());
    const about = `(ticket for ${t.service}, ${t.etypeName}, kvno ${t.kvno ?? 'none'})`;
    if (kvnos === undefined) {
      this.failed = true;
      throw new KerberosError('logon-failure', 'wrong-service', `Kerberos [wrong-service]: a ticket for a service that is not in the keytab ${about}; the keytab serves ${[...known.keys()].join(', ')}`);
    }
    if (t.kvno !== null && !kvnos.has(t.kvno)) {
      this.failed = true;
      throw new KerberosError('logon-failure', 'no-key-for-kvno', `Kerberos [no-key-for-kvno]: the keytab has no key of that version for the service ${about}; it has kvno ${[...kvnos].join(', ')}`);
    }
  }

  private finish(ctx: GssCtx, flags: number): void {
    const api = gss();
    const principal = api.peerName(ctx);
    if (principal === null) {
      this.failed = true;
      throw new SecurityError('logon-failure', 'Kerberos: the context completed without a client name');
    }
    const integ = (flags & api.flags.INTEG) !== 0;
    const conf = (flags & api.flags.CONF) !== 0;
    if (this.level >= AuthLevel.CALL && !integ) {
      this.failed = true;
      throw new SecurityError('policy', `Kerberos: ${principal} asked for auth level ${this.level} without integrity in the context`);
    }
    if (this.level === AuthLevel.PRIVACY && !conf) {
      this.failed = true;
      throw new SecurityError('policy', `Kerberos: ${principal} asked for privacy without confidentiality in the context`);
    }
    const sizes = api.sizes(ctx, 16);
    this.sigSize = this.level === AuthLevel.PRIVACY ? sizes.wrap : sizes.mic;
    const at = principal.lastIndexOf('@');
    const user = at >= 0 ? principal.slice(0, at) : principal;
    const realm = at >= 0 ? principal.slice(at + 1) : '';
    let logon = null;
    const raw = api.peerAttribute(ctx, LOGON_INFO);
    if (raw !== null) logon = parseLogonInfo(raw);
    // The PAC names the account's NetBIOS domain, so the identity reads DOMAIN\user as it does
    // over NTLM (one allow-list entry for both); without a PAC, the realm.
    this.id = {
      domain: logon?.domain ?? realm,
      user: logon?.user ?? user,
      workstation: '',
      groups: logon?.groupSids ?? [],
    };
    this.info = { principal, ticket: this.ticket, dceStyle: (flags & api.flags.DCE_STYLE) !== 0, mutual: (flags & api.flags.MUTUAL) !== 0, pac: logon !== null };
    this.done = true;
  }

  private established(): GssCtx {
    if (!this.done || this.ctx === null) throw new SecurityError('integrity', 'Kerberos: the context is not established');
    return this.ctx;
  }

  getMic(data: Buffer): Buffer {
    try {
      return gss().getMic(this.established(), data);
    } catch (e) {
      throw protectionError(e, 'signing');
    }
  }

  verifyMic(data: Buffer, signature: Buffer): void {
    try {
      gss().verifyMic(this.established(), data, signature);
    } catch (e) {
      throw protectionError(e, 'MIC');
    }
  }

  wrap(message: Buffer, start: number, end: number): Buffer {
    try {
      return gss().wrap(this.established(), message, start, end);
    } catch (e) {
      throw protectionError(e, 'sealing');
    }
  }

  unwrap(message: Buffer, start: number, end: number, signature: Buffer): void {
    try {
      gss().unwrap(this.established(), message, start, end, signature);
    } catch (e) {
      throw protectionError(e, 'wrap token');
    }
  }
}
