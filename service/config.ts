// witnessd's configuration: command line, optional JSON config file, defaults. Values given on
// the command line win over the file; the file wins over defaults.

import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { DEFAULT_DB_PATH } from '../store/index.ts';
import type { LogFormat, LogLevel } from './log.ts';

/** The witness service's fixed default TCP port, so firewalls can be set (Windows uses a dynamic one). */
export const DEFAULT_WITNESS_PORT = 5999;
export const DEFAULT_EPM_PORT = 135;

export type AuthMode = 'none';
export const AUTH_MODES: readonly AuthMode[] = ['none'];

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
  auth: AuthMode;
  logLevel: LogLevel;
  logFormat: LogFormat;
  limits: RpcLimitsConfig;
  /** Seconds before an unused registration is removed (MS-SWN: 30 s). */
  unusedTimeoutSec: number;
  /** Windows workaround: seconds after an UNAVAILABLE/move notification before the registration is dropped; 0 = off. */
  forceUnregisterAfterSec: number;
  /** Days of audit rows (and removed registrations) kept in the store. */
  auditRetentionDays: number;
}

export interface RpcLimitsConfig {
  maxConnections: number;
  maxCallsPerConnection: number;
  maxFragment: number;
  maxRequestBytes: number;
  bindTimeoutMs: number;
}

export const DEFAULT_LIMITS: RpcLimitsConfig = {
  maxConnections: 50_000,
  maxCallsPerConnection: 64,
  maxFragment: 65_535,
  maxRequestBytes: 1024 * 1024,
  bindTimeoutMs: 10_000,
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses HOST:PORT, [V6]:PORT or PORT. */
export function parseHostPort(s: string, defaultHost = '0.0.0.0'): HostPort {
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
}

type FileConfig = Partial<Record<'db' | 'listen' | 'epm' | 'node' | 'auth' | 'logLevel' | 'logFormat', string>> & {
  netname?: string | string[];
  limits?: Partial<RpcLimitsConfig>;
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

const LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function resolveConfig(cli: CliValues, nodeName: () => string = localNodeName): WitnessdConfig {
  const file = cli.config !== undefined ? readFileConfig(cli.config) : {};
  const netnames = cli.netname ?? (Array.isArray(file.netname) ? file.netname : file.netname !== undefined ? [file.netname] : []);
  const names = netnames.flatMap((n) => n.split(/[\s,]+/)).filter((n) => n !== '');
  if (names.length === 0) throw new ConfigError('no --netname given: name the cluster name(s) clients use to reach the file server');
  const auth = cli.auth ?? file.auth;
  if (auth === undefined) {
    throw new ConfigError('authentication is not implemented yet: pass --auth none to serve unauthenticated binds (MS-SWN expects integrity or better)');
  }
  if (!(AUTH_MODES as readonly string[]).includes(auth)) throw new ConfigError(`unknown --auth ${JSON.stringify(auth)}; supported: ${AUTH_MODES.join(', ')}`);
  const logLevel = cli.logLevel ?? file.logLevel ?? 'info';
  if (!(LEVELS as readonly string[]).includes(logLevel)) throw new ConfigError(`unknown log level ${JSON.stringify(logLevel)}`);
  const logFormat = cli.logFormat ?? file.logFormat ?? 'json';
  if (logFormat !== 'json' && logFormat !== 'journal') throw new ConfigError(`unknown log format ${JSON.stringify(logFormat)}; json or journal`);
  const epmText = cli.epm ?? file.epm ?? `0.0.0.0:${DEFAULT_EPM_PORT}`;
  const limits = { ...DEFAULT_LIMITS, ...(file.limits ?? {}) };
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`limits.${k} must be a positive integer`);
  }
  const unused = file.unusedTimeoutSec ?? 30;
  if (!Number.isFinite(unused) || unused <= 0) throw new ConfigError('unusedTimeoutSec must be a positive number');
  const retire = cli.forceUnregisterAfter !== undefined ? Number(cli.forceUnregisterAfter) : (file.forceUnregisterAfterSec ?? 5);
  if (!Number.isFinite(retire) || retire < 0) throw new ConfigError('the forced-unregister delay must be 0 (off) or a positive number of seconds');
  const retention = file.auditRetentionDays ?? 30;
  if (!Number.isFinite(retention) || retention <= 0) throw new ConfigError('auditRetentionDays must be a positive number');
  return {
    db: cli.db ?? file.db ?? DEFAULT_DB_PATH,
    listen: parseHostPort(cli.listen ?? file.listen ?? `0.0.0.0:${DEFAULT_WITNESS_PORT}`),
    epm: epmText === 'off' ? null : parseHostPort(epmText),
    netnames: names,
    node: cli.node ?? file.node ?? nodeName(),
    auth: auth as AuthMode,
    logLevel: logLevel as LogLevel,
    logFormat,
    limits,
    unusedTimeoutSec: unused,
    forceUnregisterAfterSec: retire,
    auditRetentionDays: retention,
  };
}
