// witnessd's configuration: command line, optional JSON config file, defaults. Values given on
// the command line win over the file; the file wins over defaults.

import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { DEFAULT_DB_PATH, DEFAULT_EPM_PORT, DEFAULT_FORCE_UNREGISTER_AFTER_S, DEFAULT_LISTEN_ADDRESS, DEFAULT_MIN_AUTH_LEVEL, DEFAULT_WITNESS_PORT } from '../store/defaults.ts';
import { AUTH_MODES, type AuthConfig, type AuthMode } from './auth/config.ts';
import { MIN_AUTH_LEVELS, type MinAuthLevel } from './auth/policy.ts';
import type { LogFormat } from './log.ts';
import { isLogLevel, type LogLevel } from '../store/log-levels.ts';
import type { RpcLimits } from './rpc/connection.ts';
import { DEFAULT_REGISTRATION_LIMITS, type RegistrationLimits } from './swn/constants.ts';


export interface HostPort {
  host: string;
  port: number;
}

export interface WitnessdConfig {
  db: string;
  listen: HostPort;
  /** null: no endpoint mapper. */
  epm: HostPort | null;
  netnames: string[];
  node: string;
  auth: AuthConfig;
  logLevel: LogLevel;
  logFormat: LogFormat;
  limits: RpcLimitsConfig & WitnessLimitsConfig;
  /** Seconds before an unused registration is removed (MS-SWN: 30 s). */
  unusedTimeoutSec: number;
  /** Windows workaround: seconds after an UNAVAILABLE/move notification before the registration is dropped; 0 = off. */
  forceUnregisterAfterSec: number;
  /** Days of audit rows (and removed registrations) kept in the store. */
  auditRetentionDays: number;
}

/** The DCE/RPC layer's limits (service/rpc/connection.ts says what each bounds). */
export type RpcLimitsConfig = RpcLimits;

export const DEFAULT_LIMITS: RpcLimitsConfig = {
  maxConnections: 50_000,
  maxCallsPerConnection: 64,
  // Windows and Samba use one security context per connection; a few more allow multiplexing.
  maxAuthContextsPerConnection: 4,
  maxFragment: 65_535,
  maxRequestBytes: 1024 * 1024,
  bindTimeoutMs: 10_000,
  // Unfinished input of all clients together (partial frames, requests being reassembled):
  // a witness request is a few hundred bytes, so 64 MiB is thousands of times what honest
  // clients hold at once.
  maxPendingBytes: 64 * 1024 * 1024,
  partialTimeoutMs: 30_000,
  // Windows keeps an AsyncNotify pending on its witness connection all the time (the call is
  // in flight, so the connection is not idle) and re-issues it at once after each answer; a
  // connection with nothing in flight for 15 minutes is not one a client is using.
  idleTimeoutMs: 15 * 60_000,
};

/**
 * What witnessd keeps in the store for clients (registrations and the audit trail), so clients can
 * never fill the disk the agent needs for cluster events. Sizes measured in the store (row and
 * index entries): a registration with usual names takes 0.24 KiB, with the longest names the caps
 * allow (MAX_NAME_CHARS) 0.9 KiB in ASCII and up to 4 KiB in CJK (3 bytes a character in UTF-8);
 * an audit row 0.13 KiB.
 */
export interface StoreLimitsConfig {
  /**
   * MiB the client-driven tables (registrations, notifications, their indexes) may take in the
   * store: witnessd's own connection gets PRAGMA max_page_count = the pages of everything else +
   * this, so its writes can never grow the file past it while the agent's connection still can.
   */
  storeBudgetMB: number;
  /**
   * Below this much free space (MiB) on the store's file system witnessd stops growing the file:
   * its rows go into pages it already has, so the agent's checkpoints and events still fit.
   */
  storeMinFreeMB: number;
  /** Rows in `registrations`, live and removed: beyond, the oldest removed ones go first. */
  maxStoredRegistrations: number;
  /** Rows in `notifications` (the audit trail): beyond, the oldest go first. */
  maxAuditRows: number;
  /** Audit rows and removed registrations held in memory while the store cannot take them (disk full, locked): beyond, new ones are dropped and counted. */
  maxQueuedRows: number;
}

/** Caps on registrations (service/swn/constants.ts says why these values) and on the store. */
export type WitnessLimitsConfig = RegistrationLimits & StoreLimitsConfig;

export const DEFAULT_WITNESS_LIMITS: WitnessLimitsConfig = {
  ...DEFAULT_REGISTRATION_LIMITS,
  // 200,000 registration rows (the 100,000 live at most and as many removed ones, for the audit:
  // ~48 MiB with usual names) and 500,000 audit rows (~65 MiB: 50 notifications for each of
  // 10,000 clients) fit in 256 MiB; with the longest names a client may send the byte budget
  // stops them first (the oldest removed rows go; live registrations whose rows no longer fit
  // still work, from memory, but wait to be listed). The retention (auditRetentionDays) usually
  // prunes long before either.
  storeBudgetMB: 256,
  // Four times the WAL's usual size (SQLite checkpoints it at 1,000 pages, 4 MiB).
  storeMinFreeMB: 16,
  maxStoredRegistrations: 200_000,
  maxAuditRows: 500_000,
  // ~200 bytes of memory each: a full disk for as long as it takes to fix costs at most ~20 MiB.
  maxQueuedRows: 100_000,
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses HOST:PORT, [V6]:PORT or PORT. */
export function parseHostPort(s: string, defaultHost = DEFAULT_LISTEN_ADDRESS): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s) ?? /^()()(\d+)$/.exec(s);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`bad address ${JSON.stringify(s)}: expected HOST:PORT, [IPv6]:PORT or PORT`);
  const host = m[1] ?? (m[2] !== undefined && m[2] !== '' ? m[2] : defaultHost);
  return { host, port };
}

/** The local Pacemaker node name (crm_node -n), else the host name. */
export function localNodeName(): string {
  try {
    const n = execFileSync('crm_node', ['-n'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (n !== '') return n;
  } catch {
    // not on a cluster node (demo, tests): fall back to the host name
  }
  return os.hostname().split('.')[0] ?? os.hostname();
}

export interface CliValues {
  config?: string;
  db?: string;
  listen?: string;
  epm?: string;
  netname?: string[];
  node?: string;
  auth?: string;
  logLevel?: string;
  logFormat?: string;
  forceUnregisterAfter?: string;
  accounts?: string;
  smbConf?: string;
  minAuthLevel?: string;
  allow?: string[];
  allowNtlmv1?: boolean;
  keytab?: string;
}

type FileConfig = Partial<Record<'db' | 'listen' | 'epm' | 'node' | 'auth' | 'logLevel' | 'logFormat' | 'accounts' | 'smbConf' | 'ntlmAuth' | 'minAuthLevel' | 'domain' | 'dnsDomain' | 'keytab', string>> & {
  allow?: string[];
  allowNtlmV1?: boolean;
  winbindHelpers?: number;
  winbindTimeoutMs?: number;
  winbindDirect?: boolean;
  netname?: string | string[];
  limits?: Partial<RpcLimitsConfig & WitnessLimitsConfig>;
  unusedTimeoutSec?: number;
  forceUnregisterAfterSec?: number;
  auditRetentionDays?: number;
};

function readFileConfig(file: string): FileConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v;
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid: ${(err as Error).message}`);
  }
}


export function resolveConfig(cli: CliValues, nodeName: () => string = localNodeName): WitnessdConfig {
  const file = cli.config !== undefined ? readFileConfig(cli.config) : {};
  const netnames = cli.netname ?? (Array.isArray(file.netname) ? file.netname : file.netname !== undefined ? [file.netname] : []);
  const names = netnames.flatMap((n) => n.split(/[\s,]+/)).filter((n) => n !== '');
  if (names.length === 0) throw new ConfigError('no --netname given: name the cluster name(s) clients use to reach the file server');
  const auth = resolveAuth(cli, file);
  const logLevel = cli.logLevel ?? file.logLevel ?? 'info';
  if (!isLogLevel(logLevel)) throw new ConfigError(`unknown log level ${JSON.stringify(logLevel)}`);
  const logFormat = cli.logFormat ?? file.logFormat ?? 'json';
  if (logFormat !== 'json' && logFormat !== 'journal') throw new ConfigError(`unknown log format ${JSON.stringify(logFormat)}; json or journal`);
  const epmText = cli.epm ?? file.epm ?? `${DEFAULT_LISTEN_ADDRESS}:${DEFAULT_EPM_PORT}`;
  const limits = { ...DEFAULT_LIMITS, ...DEFAULT_WITNESS_LIMITS, ...(file.limits ?? {}) };
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`limits.${k} must be a positive integer`);
  }
  const unused = file.unusedTimeoutSec ?? 30;
  if (!Number.isFinite(unused) || unused <= 0) throw new ConfigError('unusedTimeoutSec must be a positive number');
  const retire = cli.forceUnregisterAfter !== undefined ? Number(cli.forceUnregisterAfter) : (file.forceUnregisterAfterSec ?? DEFAULT_FORCE_UNREGISTER_AFTER_S);
  if (!Number.isFinite(retire) || retire < 0) throw new ConfigError('the forced-unregister delay must be 0 (off) or a positive number of seconds');
  const retention = file.auditRetentionDays ?? 30;
  if (!Number.isFinite(retention) || retention <= 0) throw new ConfigError('auditRetentionDays must be a positive number');
  return {
    db: cli.db ?? file.db ?? DEFAULT_DB_PATH,
    listen: parseHostPort(cli.listen ?? file.listen ?? `${DEFAULT_LISTEN_ADDRESS}:${DEFAULT_WITNESS_PORT}`),
    epm: epmText === 'off' ? null : parseHostPort(epmText),
    netnames: names,
    node: cli.node ?? file.node ?? nodeName(),
    auth,
    logLevel,
    logFormat,
    limits,
    unusedTimeoutSec: unused,
    forceUnregisterAfterSec: retire,
    auditRetentionDays: retention,
  };
}

/** Authentication settings: an account file given means mode accounts, else winbind, unless --auth says otherwise. */
function resolveAuth(cli: CliValues, file: FileConfig): AuthConfig {
  const accounts = cli.accounts ?? file.accounts ?? null;
  const mode = cli.auth ?? file.auth ?? (accounts !== null ? 'accounts' : 'winbind');
  if (!(AUTH_MODES as readonly string[]).includes(mode)) throw new ConfigError(`unknown --auth ${JSON.stringify(mode)}; supported: ${AUTH_MODES.join(', ')}`);
  if (mode === 'none' && (cli.keytab ?? file.keytab) !== undefined) throw new ConfigError('--keytab with --auth none would be ignored: Kerberos needs authentication on');
  if (mode === 'accounts' && accounts === null) throw new ConfigError('--auth accounts needs --accounts FILE (make one with: witnessctl user add DOMAIN\\USER --accounts FILE)');
  const minLevel = cli.minAuthLevel ?? file.minAuthLevel ?? DEFAULT_MIN_AUTH_LEVEL;
  if (!(MIN_AUTH_LEVELS as readonly string[]).includes(minLevel)) throw new ConfigError(`unknown --min-auth-level ${JSON.stringify(minLevel)}; one of ${MIN_AUTH_LEVELS.join(', ')}`);
  const allow = (cli.allow ?? file.allow ?? []).flatMap((a) => a.split(',')).map((a) => a.trim()).filter((a) => a !== '');
  const helpers = file.winbindHelpers ?? 2;
  const timeout = file.winbindTimeoutMs ?? 5000;
  if (!Number.isInteger(helpers) || helpers < 1 || helpers > 32) throw new ConfigError('winbindHelpers must be an integer from 1 to 32');
  if (!Number.isInteger(timeout) || timeout < 100) throw new ConfigError('winbindTimeoutMs must be an integer of at least 100');
  if (file.winbindDirect !== undefined && typeof file.winbindDirect !== 'boolean') throw new ConfigError('winbindDirect must be true or false');
  return {
    mode: mode as AuthMode,
    accounts,
    smbConf: cli.smbConf ?? file.smbConf ?? null,
    ntlmAuth: file.ntlmAuth ?? 'ntlm_auth',
    winbindHelpers: helpers,
    winbindTimeoutMs: timeout,
    winbindDirect: file.winbindDirect ?? true,
    minLevel: minLevel as MinAuthLevel,
    allow,
    allowNtlmV1: cli.allowNtlmv1 ?? file.allowNtlmV1 ?? false,
    domain: file.domain ?? null,
    dnsDomain: file.dnsDomain ?? null,
    keytab: cli.keytab ?? file.keytab ?? null,
  };
}
