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
