// The one small interface between the DCE/RPC layer and a security mechanism (NTLMSSP, SPNEGO,
// later Kerberos). service/rpc knows nothing of any mechanism: it feeds the tokens it finds in
// bind / alter_context / auth3 verifiers to `step`, and once the context is complete it asks it to
// sign, verify, seal and unseal PDUs. Mirrors GSS-API's accept_sec_context, GetMIC/VerifyMIC and
// WrapEx/UnwrapEx (RFC 2743, MS-RPCE §3.3.1.5.2.2), seen from the acceptor (server) side.

/** DCE/RPC auth_type values (MS-RPCE §2.2.1.1.7). */
export const AuthType = {
  NONE: 0,
  SPNEGO: 9, // RPC_C_AUTHN_GSS_NEGOTIATE
  NTLMSSP: 10, // RPC_C_AUTHN_WINNT
  KERBEROS: 16, // RPC_C_AUTHN_GSS_KERBEROS
} as const;

/** DCE/RPC auth_level values (MS-RPCE §2.2.1.1.8). */
export const AuthLevel = {
  NONE: 1,
  CONNECT: 2,
  CALL: 3,
  PKT: 4,
  INTEGRITY: 5,
  PRIVACY: 6,
} as const;

/** Who authenticated: what the registration's `identity` column, the audit and the allow-list see. */
export interface Identity {
  /** The NetBIOS domain (or realm) the client named, as the credential source confirmed it. */
  domain: string;
  user: string;
  /** The client's workstation name when the mechanism carries one (NTLMSSP does). */
  workstation: string;
  /** Group names or SIDs when the credential source tells them (winbind, a PAC); may be empty. */
  groups: string[];
}

/** "DOMAIN\user" (or "user" when there is no domain): how identities are shown and matched. */
export function principalName(id: Identity): string {
  return id.domain === '' ? id.user : `${id.domain}\\${id.user}`;
}

/** Why a call is refused: `code` is one of a few fixed words (log rate-limiting keys on it), `message` says it for the log. */
export interface Refusal {
  code: string;
  message: string;
}

/** How an RPC call was authenticated: the security context its request came in on (what the
 * interfaces' access checks see). */
export interface CallAuth {
  /** auth_type (AuthType) and auth_level (AuthLevel) of the security context. */
  type: number;
  level: number;
  /** Who authenticated; null until the mechanism names someone. */
  identity: Identity | null;
}

/** The result of one accept step. */
export interface StepResult {
  /** The token for the client (the auth_value of bind_ack / alter_context_resp); null: send none. */
  token: Buffer | null;
  /** The context is established: identity is known and the protection calls may be used. */
  complete: boolean;
}

/**
 * Why a security operation failed. `code` decides the answer on the wire and in the log:
 * - 'logon-failure': wrong password, unknown user, account refused by the credential source;
 * - 'policy': a client the configuration refuses (NTLMv1/LM, anonymous, too weak);
 * - 'malformed': a token or signature that cannot be parsed;
 * - 'integrity': a signature that does not verify, a sequence error, a replay, a bad MIC;
 * - 'unavailable': the credential source could not answer (winbind down, helper timed out).
 */
export type SecurityErrorCode = 'logon-failure' | 'policy' | 'malformed' | 'integrity' | 'unavailable';

export class SecurityError extends Error {
  readonly code: SecurityErrorCode;
  constructor(code: SecurityErrorCode, message: string) {
    super(message);
    this.name = 'SecurityError';
    this.code = code;
  }
}

/**
 * One security context, acceptor side (one per auth_context_id on a connection). Every method
 * that checks input throws SecurityError, never anything else, for bad input.
 *
 * Directions: getMic/wrap protect what the server sends (server-to-client keys and sequence
 * numbers); verifyMic/unwrap check what the client sent (client-to-server keys and sequence
 * numbers). Each call consumes one sequence number of its direction, in call order, as the
 * mechanism defines it.
 */
export interface SecurityContext {
  /** 'ntlmssp', 'spnego', 'kerberos': for logs. */
  readonly mechanism: string;
  /** Feeds the client's next token. Rejects with SecurityError. */
  step(token: Buffer): Promise<StepResult>;
  readonly complete: boolean;
  /** Set once complete. */
  readonly identity: Identity | null;
  /** Length of the signature (auth_value) getMic and wrap produce, once complete (NTLMSSP: 16). */
  readonly signatureSize: number;
  /**
   * True when the mechanism protects the whole PDU (header, body, sec_trailer) whatever the
   * header-signing negotiation says: NTLMSSP does (Samba and Windows sign the whole PDU with it);
   * Kerberos follows PFC_SUPPORT_HEADER_SIGN.
   */
  readonly signsWholePdu: boolean;
  /** GSS_GetMIC: a signature over `data`. */
  getMic(data: Buffer): Buffer;
  /** GSS_VerifyMIC: throws SecurityError('integrity') when `signature` does not cover `data`. */
  verifyMic(data: Buffer, signature: Buffer): void;
  /**
   * GSS_WrapEx: encrypts message[start, end) in place and returns the signature, which covers
   * the whole of `message` (the parts outside [start, end) are integrity-only).
   */
  wrap(message: Buffer, start: number, end: number): Buffer;
  /** GSS_UnwrapEx: decrypts message[start, end) in place and checks `signature` over `message`. */
  unwrap(message: Buffer, start: number, end: number, signature: Buffer): void;
}

/**
 * Makes a fresh acceptor context for an auth_type (NTLMSSP, SPNEGO, ...), or null when not offered.
 * `authLevel` (the verifier's auth_level) matters to Kerberos, whose signature is a MIC token at
 * integrity and a longer wrap token at privacy; NTLMSSP ignores it.
 */
export type SecurityContextFactory = (authType: number, authLevel: number) => SecurityContext | null;
