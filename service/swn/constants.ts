// MS-SWN constants (MS-SWN §2.2, §3.1.4). Values are wire values.

/** Witness interface: uuid ccd8c074-d0e5-4a40-92b4-d074faa6ba28, version 1.1 (the IDL's; §2.1's "1.0" contradicts it and real clients bind 1.1). */
export const WITNESS_INTERFACE = { uuid: 'ccd8c074-d0e5-4a40-92b4-d074faa6ba28', versionMajor: 1, versionMinor: 1 } as const;

/** Protocol versions carried inside Register (V1) and RegisterEx (V2). */
export const WitnessVersion = { V1: 0x00010001, V2: 0x00020000, UNSPECIFIED: 0xffffffff } as const;

export const Opnum = {
  GetInterfaceList: 0,
  Register: 1,
  UnRegister: 2,
  AsyncNotify: 3,
  RegisterEx: 4,
  UnRegisterEx: 5,
} as const;

/** WITNESS_INTERFACE_INFO.State. */
export const InterfaceState = { UNKNOWN: 0x0000, AVAILABLE: 0x0001, UNAVAILABLE: 0x00ff } as const;
export type InterfaceStateValue = (typeof InterfaceState)[keyof typeof InterfaceState];

/** WITNESS_INTERFACE_INFO.Flags. */
export const InterfaceFlags = { IPV4: 0x1, IPV6: 0x2, INTERFACE_WITNESS: 0x4 } as const;

/** RESP_ASYNC_NOTIFY.MessageType. */
export const MessageType = { RESOURCE_CHANGE: 1, CLIENT_MOVE: 2, SHARE_MOVE: 3, IP_CHANGE: 4 } as const;
export type MessageTypeValue = (typeof MessageType)[keyof typeof MessageType];

/** RESOURCE_CHANGE.ChangeType. */
export const ChangeType = { UNKNOWN: 0x00, AVAILABLE: 0x01, UNAVAILABLE: 0xff } as const;
export type ChangeTypeValue = (typeof ChangeType)[keyof typeof ChangeType];

/** IPADDR_INFO.Flags: V4/V6 are exclusive; ONLINE/OFFLINE are V2 only. */
export const IpAddrFlags = { V4: 0x01, V6: 0x02, ONLINE: 0x08, OFFLINE: 0x10 } as const;

/** RegisterEx Flags. */
export const RegisterFlags = { NONE: 0x0, IP_NOTIFICATION: 0x1 } as const;

/** Win32 error codes the witness methods return (MS-SWN §3.1.4, MS-ERREF). */
export const WinError = {
  SUCCESS: 0x0,
  ACCESS_DENIED: 0x5,
  OUTOFMEMORY: 0xe,
  INVALID_PARAMETER: 0x57,
  NO_MORE_ITEMS: 0x103,
  NOT_FOUND: 0x490,
  NOT_AUTHENTICATED: 0x4dc,
  REVISION_MISMATCH: 0x51a,
  NO_SYSTEM_RESOURCES: 0x5aa,
  TIMEOUT: 0x5b4,
  INVALID_STATE: 0x139f,
} as const;
export type WinErrorValue = (typeof WinError)[keyof typeof WinError];

/** InterfaceGroupName is WCHAR[260] on the wire, NUL included. */
export const INTERFACE_GROUP_NAME_CHARS = 260;

/**
 * Longest strings Register/RegisterEx accept (UTF-16 code units, the NUL not counted). MS-SWN gives
 * no lengths, but says what each string is; anything longer is no name a Windows or Samba client
 * sends, and is refused with ERROR_INVALID_PARAMETER before it is stored or logged in full.
 * - NetName is the cluster's name (ServerGlobalName, §3.1.1.1): a NetBIOS name (15 characters, KB
 *   909264) or a DNS name (255 octets at most, RFC 1035 §2.3.4; Windows: 255 bytes per FQDN).
 * - ClientComputerName: Windows sends its FQDN (MS-SWN <13>, <16>), Samba's clients their NetBIOS or
 *   DNS name: 255, as a DNS name.
 * - ShareName: "A share name MUST be no more than 80 characters in length" (MS-FSCC §2.1.6; NNLEN
 *   = 80 in Windows' lmcons.h).
 * - IpAddress: an address literal. The longest IPv6 text is 45 characters (RFC 4291 §2.2, with
 *   an embedded IPv4 address; POSIX INET6_ADDRSTRLEN = 46 with the NUL); Windows' INET6_ADDRSTRLEN
 *   is 65 to leave room for a %scope-id: 64 characters.
 */
export const MAX_NAME_CHARS = { netName: 255, clientName: 255, shareName: 80, ipAddress: 64 } as const;

/** Caps on live registrations (0 = no cap); see DEFAULT_REGISTRATION_LIMITS. */
export interface RegistrationLimits {
  /** All registrations this witnessd holds. */
  maxRegistrations: number;
  /** Made on one TCP connection. */
  maxRegistrationsPerConnection: number;
  /** Held by one DCE/RPC association (their context handles live there). */
  maxRegistrationsPerAssociation: number;
  /** With one ClientComputerName (compared case-insensitively). */
  maxRegistrationsPerClientName: number;
}

/**
 * Defaults no Windows client comes near. A Windows client registers once per cluster NetName it
 * uses, plus once per share for asymmetric (scale-out) shares, each on the binding it made to the
 * witness for that NetName (MS-SWN §3.2.4.1; Get-SmbWitnessClient lists "a handful" per client);
 * a stale registration of the same client lives at most 30 s (the unused-registration timer) or
 * until its association ends. So: 256 on a connection or an association (a client with 200
 * asymmetric shares open through one NetName still fits), 1,024 per client name (the same
 * client's registrations across several NetNames and a reconnect or two), and 100,000 in all:
 * twice maxConnections (50,000), at about 1 KiB of memory each (measured: 100,000 take 99 MB of
 * heap) and 0.24 KiB of store with usual names (up to 4 KiB with the longest names the caps
 * allow). A client whose registration is refused for a cap gets ERROR_NO_SYSTEM_RESOURCES
 * (MS-SWN §3.1.4.2, §3.1.4.5 list it for exactly this: "insufficient system resources exist to
 * complete the requested service"); Windows then tries its other interfaces, lists them again and
 * retries every 60 s (§3.2.4.1, <15>, <17>), which is right for a witness that is full. Not
 * ERROR_INVALID_STATE: that one says the IpAddress or ShareName is not one of the server's
 * (§3.1.4.5; smbtorture expects it for a bad share), which is not what happened, and would send an
 * admin reading a client's log after the wrong thing.
 */
export const DEFAULT_REGISTRATION_LIMITS: RegistrationLimits = {
  maxRegistrations: 100_000,
  maxRegistrationsPerConnection: 256,
  maxRegistrationsPerAssociation: 256,
  maxRegistrationsPerClientName: 1024,
};
