// NTLMSSP wire constants (MS-NLMP §2.2) and this acceptor's limits.

/** "NTLMSSP\0", the first 8 bytes of every message (§2.2.1). */
export const NTLMSSP_SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');

/** MessageType (§2.2.1.1-3). */
export const MessageType = {
  NEGOTIATE: 1,
  CHALLENGE: 2,
  AUTHENTICATE: 3,
} as const;

/** NegotiateFlags bits (§2.2.2.5), by their MS-NLMP names. */
export const NegotiateFlag = {
  UNICODE: 0x00000001,
  OEM: 0x00000002,
  REQUEST_TARGET: 0x00000004,
  SIGN: 0x00000010,
  SEAL: 0x00000020,
  DATAGRAM: 0x00000040,
  LM_KEY: 0x00000080,
  NTLM: 0x00000200,
  ANONYMOUS: 0x00000800,
  OEM_DOMAIN_SUPPLIED: 0x00001000,
  OEM_WORKSTATION_SUPPLIED: 0x00002000,
  ALWAYS_SIGN: 0x00008000,
  TARGET_TYPE_DOMAIN: 0x00010000,
  TARGET_TYPE_SERVER: 0x00020000,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  IDENTIFY: 0x00100000,
  REQUEST_NON_NT_SESSION_KEY: 0x00400000,
  TARGET_INFO: 0x00800000,
  VERSION: 0x02000000,
  NEGOTIATE_128: 0x20000000,
  KEY_EXCH: 0x40000000,
  NEGOTIATE_56: 0x80000000,
} as const;

/** AV_PAIR AvId values (§2.2.2.1). */
export const AvId = {
  EOL: 0,
  NB_COMPUTER_NAME: 1,
  NB_DOMAIN_NAME: 2,
  DNS_COMPUTER_NAME: 3,
  DNS_DOMAIN_NAME: 4,
  DNS_TREE_NAME: 5,
  FLAGS: 6,
  TIMESTAMP: 7,
  SINGLE_HOST: 8,
  TARGET_NAME: 9,
  CHANNEL_BINDINGS: 10,
} as const;

/** MsvAvFlags bits (§2.2.2.1). */
export const AvFlag = {
  /** The client's AUTHENTICATE carries a MIC (§3.1.5.1.2). */
  MIC_PRESENT: 0x00000002,
} as const;

/**
 * The VERSION structure (§2.2.2.10) we put in CHALLENGE: 6.1 build 0, NTLMSSP_REVISION_W2K3 (15).
 * The same value Samba announces; it only informs the client (debugging, §2.2.2.10) and is not
 * checked by anyone.
 */
export const SERVER_VERSION = Buffer.from([6, 1, 0, 0, 0, 0, 0, 15]);

/** Fixed-size parts of the messages (§2.2.1). */
export const Layout = {
  /** NEGOTIATE up to and including NegotiateFlags; the domain/workstation/version fields are optional in practice. */
  NEGOTIATE_MIN: 16,
  /** CHALLENGE header with Version, where the payload starts. */
  CHALLENGE_HEADER: 56,
  /** AUTHENTICATE up to and including NegotiateFlags. */
  AUTHENTICATE_BASE: 64,
  /** Offset of Version in AUTHENTICATE. */
  AUTH_VERSION_OFFSET: 64,
  /** Offset of the MIC in AUTHENTICATE (after Version), when the client says it sent one. */
  AUTH_MIC_OFFSET: 72,
  MIC_LENGTH: 16,
} as const;

/** Bounds on what a client may send; beyond them the token is refused as malformed. */
export const Limits = {
  /** A NEGOTIATE is a few dozen bytes; a DCE/RPC fragment could carry far more. */
  NEGOTIATE_MAX: 1024,
  AUTHENTICATE_MAX: 8192,
  /** NTLMv2 responses are 16 bytes of proof plus the blob (its AV pairs echo our target info, plus a few of the client's): a few hundred bytes. */
  NT_RESPONSE_MAX: 4096,
  LM_RESPONSE_MAX: 24,
  /** Domain, user and workstation names, in bytes of UTF-16LE (256 characters). */
  NAME_MAX: 512,
  /** At most this many AV pairs in a client blob. */
  AV_PAIRS_MAX: 64,
} as const;

/** Length of an NTLMv1 (or NTLM2 session) response; NTLMv2 responses are longer (§3.3.1, §2.2.2.8). */
export const NTLMV1_RESPONSE_LENGTH = 24;
/** NTProofStr (16) + the fixed part of NTLMv2_CLIENT_CHALLENGE (28) + MsvAvEOL (4) (§2.2.2.7-8). */
export const NTLMV2_RESPONSE_MIN = 48;
/** Where the AV pairs start inside NTLMv2_CLIENT_CHALLENGE (§2.2.2.7). */
export const NTLMV2_BLOB_AVPAIRS_OFFSET = 28;

/** 1970-01-01 as a FILETIME: 100 ns ticks since 1601-01-01 (MsvAvTimestamp is a FILETIME, §2.2.2.1). */
export const FILETIME_UNIX_EPOCH = 116444736000000000n;
