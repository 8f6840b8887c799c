// The NTLMSSP acceptor and what credential sources need from it.
export { NtlmAcceptor, type NtlmAcceptorOptions } from './acceptor.ts';
export { verifyNtlmv2WithNtHash } from './verify.ts';
export { NtlmSession, SIGNATURE_SIZE } from './session.ts';
export { NegotiateFlag } from './constants.ts';
export { ntHash } from '../crypto/md4.ts';
