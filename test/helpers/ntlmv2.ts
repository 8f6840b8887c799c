// A client's side of NTLMv2 (MS-NLMP §3.3.2), computed here with node:crypto only, so tests of
// credential sources do not lean on the code they test: the NT response a client would send for
// a password's NT hash, and the SessionBaseKey the server must arrive at.

import crypto from 'node:crypto';
import type { NtlmResponseCheck } from '../../service/auth/credentials.ts';

const hmacMd5 = (key: Buffer, ...data: Buffer[]): Buffer => {
  const h = crypto.createHmac('md5', key);
  for (const d of data) h.update(d);
  return h.digest();
};

/** MS-NLMP's example password "Password" (§4.2.1): its NT hash. */
export const PASSWORD_NT_HASH = Buffer.from('a4f49c406510bdcab6824ee7c30fd852', 'hex');

export interface Ntlmv2Options {
  ntHash: Buffer;
  user: string;
  domain: string;
  workstation?: string;
  serverChallenge?: Buffer;
  clientChallenge?: Buffer;
  /** AV pairs inside the blob, before MsvAvEOL (already encoded). */
  avPairs?: Buffer;
  /** When the NTOWFv2 is computed with other names than the ones sent (a client's spelling). */
  hashUser?: string;
  hashDomain?: string;
}

export interface Ntlmv2Result {
  check: NtlmResponseCheck;
  sessionBaseKey: Buffer;
}

/** The AUTHENTICATE fields a client would send, and the key both sides must derive. */
export function ntlmv2Response(o: Ntlmv2Options): Ntlmv2Result {
  const serverChallenge = o.serverChallenge ?? crypto.randomBytes(8);
  const clientChallenge = o.clientChallenge ?? crypto.randomBytes(8);
  const ntowfv2 = hmacMd5(o.ntHash, Buffer.from((o.hashUser ?? o.user).toUpperCase() + (o.hashDomain ?? o.domain), 'utf16le'));
  const time = Buffer.alloc(8);
  time.writeBigUInt64LE((BigInt(Date.now()) + 11_644_473_600_000n) * 10_000n);
  const blob = Buffer.concat([
    Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]),
    time,
    clientChallenge,
    Buffer.alloc(4),
    o.avPairs ?? Buffer.alloc(0),
    Buffer.from([0, 0, 0, 0]), // MsvAvEOL
    Buffer.alloc(4),
  ]);
  const proof = hmacMd5(ntowfv2, serverChallenge, blob);
  const lmv2 = Buffer.concat([hmacMd5(ntowfv2, serverChallenge, clientChallenge), clientChallenge]);
  return {
    check: {
      domain: o.domain,
      user: o.user,
      workstation: o.workstation ?? 'CLIENT1',
      serverChallenge,
      ntResponse: Buffer.concat([proof, blob]),
      lmResponse: lmv2,
    },
    sessionBaseKey: hmacMd5(ntowfv2, proof),
  };
}
