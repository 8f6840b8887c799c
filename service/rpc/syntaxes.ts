// Transfer syntaxes the server knows: NDR 2.0 (the only one it speaks) and the bind-time feature
// negotiation pseudo-syntax (MS-RPCE §2.2.2.14, §3.3.1.5.3).

import type { SyntaxId } from './pdu.ts';

/** NDR 2.0, the only transfer syntax we speak (Windows always proposes it, MS-RPCE <106>). */
export const NDR20: SyntaxId = { uuid: '8a885d04-1ceb-11c9-9fe8-08002b104860', version: 2, minor: 0 };

/** The all-zero syntax that rejections and negotiate_ack results carry. */
export const NULL_SYNTAX: SyntaxId = { uuid: '00000000-0000-0000-0000-000000000000', version: 0, minor: 0 };

/** Bind-time feature negotiation: transfer syntax 6cb71c2c-9812-4540-XXXX-000000000000 (version 1). */
const BIND_TIME_FEATURE_PREFIX = '6cb71c2c-9812-4540-';

export const BindTimeFeature = { SECURITY_CONTEXT_MULTIPLEXING: 0x1, KEEP_CONNECTION_ON_ORPHAN: 0x2 } as const;

/**
 * The feature bits a bind-time negotiation syntax offers, or null when `s` is not one. The bits
 * are a little-endian u16 in bytes 8–9 of the UUID, which the string form prints in wire order as
 * its fourth group: 6cb71c2c-9812-4540-0300-… offers 0x0003.
 */
export function bindTimeFeatures(s: SyntaxId): number | null {
  if (!s.uuid.toLowerCase().startsWith(BIND_TIME_FEATURE_PREFIX)) return null;
  const group = s.uuid.slice(19, 23);
  return parseInt(group.slice(0, 2), 16) | (parseInt(group.slice(2, 4), 16) << 8);
}

/**
 * The bind-time negotiation syntax offering `bits` (for clients and tests).
 * @testOnly the syntax a client offers for bind-time feature negotiation (the server reads it with bindTimeFeatures).
 */
export function bindTimeSyntax(bits: number): SyntaxId {
  const lo = (bits & 0xff).toString(16).padStart(2, '0');
  const hi = ((bits >> 8) & 0xff).toString(16).padStart(2, '0');
  return { uuid: `${BIND_TIME_FEATURE_PREFIX}${lo}${hi}-000000000000`, version: 1, minor: 0 };
}
