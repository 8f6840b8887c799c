// The typed face of gss.node (native/gss.c): MIT Kerberos's GSS-API, loaded once, lazily, so that
// witnessd without --keytab never needs the addon built.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

declare const credBrand: unique symbol;
declare const ctxBrand: unique symbol;
/** Acceptor credentials from one keytab (an N-API external). */
export type GssCred = { readonly [credBrand]: true };
/** One security context (an N-API external); freed by release() or the garbage collector. */
export type GssCtx = { readonly [ctxBrand]: true };

export interface GssStep {
  ctx: GssCtx;
  /** The token for the peer, null when there is none. */
  token: Buffer | null;
  complete: boolean;
  /** GSS ret_flags (GSS_C_*_FLAG, GSS_C_DCE_STYLE). */
  flags: number;
}

/** What a failed call throws: an Error with GSS's major status and the mechanism's minor (com_err) code. */
export interface GssFailure extends Error {
  major: number;
  minor: number;
}

export interface TicketClient {
  /** "user@REALM" */
  client: string;
  authtime: number;
  /** 0 when the ticket has none (then it starts at authtime). */
  starttime: number;
  endtime: number;
}

export interface GssApi {
  acquire(keytab: string): GssCred;
  accept(cred: GssCred, ctx: GssCtx | null, token: Buffer): GssStep;
  init(target: string, ctx: GssCtx | null, token: Buffer | null, flags: number): GssStep;
  peerName(ctx: GssCtx): string | null;
  peerAttribute(ctx: GssCtx, name: string): Buffer | null;
  sizes(ctx: GssCtx, dataLength: number): { mic: number; wrap: number };
  getMic(ctx: GssCtx, data: Buffer): Buffer;
  verifyMic(ctx: GssCtx, data: Buffer, token: Buffer): void;
  wrap(ctx: GssCtx, message: Buffer, start: number, end: number): Buffer;
  unwrap(ctx: GssCtx, message: Buffer, start: number, end: number, token: Buffer): void;
  release(ctx: GssCtx): void;
  /**
   * Who a ticket (its DER, AP-REQ's [3]) was issued to and its times (seconds since the epoch),
   * decrypted with the keytab's key; null when it does not decode or decrypt. For log lines of
   * refusals only: GSS-API names no client when the accept fails.
   */
  ticketClient(keytab: string, ticket: Buffer): TicketClient | null;
  /** com_err and GSS status codes, from MIT's headers. */
  codes: Record<'AP_ERR_TKT_EXPIRED' | 'AP_ERR_TKT_NYV' | 'AP_ERR_REPEAT' | 'AP_ERR_NOT_US' | 'AP_ERR_SKEW' | 'AP_ERR_MODIFIED' | 'AP_ERR_BAD_INTEGRITY' | 'AP_ERR_BADKEYVER' | 'AP_ERR_NOKEY' | 'AP_WRONG_PRINC' | 'KT_NOTFOUND' | 'KT_KVNONOTFOUND' | 'KT_END' | 'S_DEFECTIVE_TOKEN' | 'S_BAD_MECH' | 'S_BAD_SIG' | 'S_DUPLICATE_TOKEN' | 'S_CREDENTIALS_EXPIRED' | 'S_NO_CRED', number>;
  flags: Record<'DELEG' | 'MUTUAL' | 'REPLAY' | 'SEQUENCE' | 'CONF' | 'INTEG' | 'DCE_STYLE', number>;
}

export function isGssFailure(e: unknown): e is GssFailure {
  return e instanceof Error && typeof (e as Partial<GssFailure>).major === 'number' && typeof (e as Partial<GssFailure>).minor === 'number';
}

/**
 * Where gss.node is: beside this file's source (tsx), in the source tree when running from dist/,
 * or in the package's native/ directory, two levels above its bundles (packaging/bundle.ts).
 */
function addonPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'native/gss.node'), path.resolve(here, '../../../../service/auth/krb5/native/gss.node'), path.resolve(here, '../../native/gss.node')];
  const found = candidates.find((p) => fs.existsSync(p));
  if (found === undefined) throw new Error(`the Kerberos addon is not built (${candidates[0] ?? ''}): run npm run build (needs libkrb5-dev)`);
  return found;
}

let api: GssApi | null = null;

export function gss(): GssApi {
  api ??= createRequire(import.meta.url)(addonPath()) as GssApi;
  return api;
}
