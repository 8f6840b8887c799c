// ocf:witness:witnessd — the resource agent that runs the witness on every node (as a clone):
//   pcs resource create witness ocf:witness:witnessd netname=FILESRV clone
// start: one sync, then the CIB watcher (`witness-agent watch`), then the witness service
// (`witnessd`); monitor: both alive, the witness port answers a DCE/RPC bind and a request, and
// one more sync succeeds (the safety net under the watcher); stop: both end.
//
// Clients authenticate by default (security by default): `auth` is winbind unless `accounts` names
// a local account file; `auth=none` (unauthenticated clients) only when said. The agent never falls
// back to none: when the credential source cannot work on this node, start fails and says how to
// fix it (validate-all says the same).
//
// This module is loaded for every action, meta-data included, so it imports nothing heavy at the
// top: the store (better-sqlite3) and the agent are loaded only by the actions that use them.

import { childProcess } from './child-process.ts';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonState, startDaemon, stopDaemon, type DaemonSpec } from './daemon.ts';
import { checkLevel, instance, isProbe, param, paramSet, rscTmp, timeoutMs } from './env.ts';
import { OCF, OcfError, type OcfExitCode } from './exit-codes.ts';
import { ocfLog } from './log.ts';
import type { AgentSpec } from './metadata.ts';
import { runAgent } from './run.ts';
import { WITNESSD_NODE_FLAGS, witnessdEnv } from '../service/node-flags.ts';
import { AUTH_MODES, type AuthMode } from '../service/auth/config.ts';
import { MIN_AUTH_LEVELS } from '../service/auth/policy.ts';
import { LOG_LEVELS } from '../store/log-levels.ts';
import { DEFAULT_DB_PATH, DEFAULT_EPM_PORT, DEFAULT_FORCE_UNREGISTER_AFTER_S, DEFAULT_IP_AGENTS, DEFAULT_LISTEN_ADDRESS, DEFAULT_MIN_AUTH_LEVEL, DEFAULT_SMB_CONF, DEFAULT_WITNESS_PORT } from '../store/defaults.ts';

export const DEFAULTS = {
  db: DEFAULT_DB_PATH,
  ip_agents: DEFAULT_IP_AGENTS.join(' '),
  witness_port: String(DEFAULT_WITNESS_PORT),
  epm: `${DEFAULT_LISTEN_ADDRESS}:${DEFAULT_EPM_PORT}`,
  listen_address: DEFAULT_LISTEN_ADDRESS,
  node_addresses: 'auto',
  min_auth_level: DEFAULT_MIN_AUTH_LEVEL,
  allow_ntlmv1: 'false',
  log_level: 'info',
  log_file: '/var/log/pacemaker-witness/witness-agent.log',
  watch_poll: '0',
  force_unregister_after: String(DEFAULT_FORCE_UNREGISTER_AFTER_S),
  samba_shares: DEFAULT_SMB_CONF,
} as const;

export const SPEC: AgentSpec = {
  name: 'witnessd',
  version: '0.1.0',
  shortdesc: 'SMB Witness (MS-SWN) service for a Pacemaker file-server cluster',
  longdesc:
    'Runs the SMB Witness Protocol (MS-SWN) service on a cluster node, normally as a clone on every node. ' +
    'It follows the CIB (every change, cluster-wide) and keeps a node-local store of where every floating IP ' +
    'and share runs, so SMB3 clients registered with the witness learn within milliseconds when their IP or ' +
    'share goes away, moves or comes back.',
  parameters: [
    { name: 'netname', type: 'string', required: true, shortdesc: 'Cluster name(s) clients use', longdesc: 'The name(s) SMB clients use to reach the file server (the NetName they register for), separated by commas or spaces.' },
    { name: 'db', type: 'string', default: DEFAULTS.db, shortdesc: 'State store', longdesc: 'Path of the node-local SQLite state store (created with mode 0600).' },
    { name: 'shares', type: 'string', default: '', shortdesc: 'Share map', longdesc: 'Which Pacemaker resource carries which SMB share: "SHARE=resource,SHARE2=group". A share follows its resource.' },
    { name: 'samba_shares', type: 'string', default: DEFAULTS.samba_shares, shortdesc: 'Learn the shares from Samba', longdesc: 'The node\'s Samba configuration whose shares the witness learns (testparm -s, registry shares included): each share follows the Filesystem resource whose directory holds its path (its group or clone), shares= overriding; edits are picked up within a second. Nothing is learnt while the file is absent. off: shares come from shares= only.' },
    { name: 'ip_resources', type: 'string', default: '', shortdesc: 'Witness IP resources', longdesc: 'Resource ids (or groups) whose floating IPs clients use; empty means every resource of ip_agents.' },
    { name: 'ip_agents', type: 'string', default: DEFAULTS.ip_agents, shortdesc: 'Floating IP agents', longdesc: 'Resource agents (class:provider:type) that are floating IPs.' },
    { name: 'node_addresses', type: 'string', default: DEFAULTS.node_addresses, shortdesc: 'Node addresses offered to clients', longdesc: 'Which of each node\'s own addresses GetInterfaceList lists beside the floating IPs (clients register with the witness of another node than their file server\'s; with one floating IP only these make that possible). auto: the node\'s fixed addresses on the subnets of the floating IPs (their cidr_netmask, else the interface\'s). none: no node addresses. Otherwise addresses and subnets separated by commas (198.18.0.0/24, or 198.18.0.1,198.18.0.2): each node offers those of its own addresses that match. Each node publishes its choice as the transient node attribute witness-addresses; a permanent node attribute of that name (crm_attribute --node N --name witness-addresses --update ADDRESSES) overrides it for that node.' },
    { name: 'witness_port', type: 'integer', default: DEFAULTS.witness_port, shortdesc: 'Witness TCP port', longdesc: 'TCP port of the witness RPC service (fixed, so firewalls can be set).' },
    { name: 'epm', type: 'string', default: DEFAULTS.epm, shortdesc: 'Endpoint mapper address', longdesc: 'HOST:PORT for the DCE/RPC endpoint mapper clients query first (Windows uses TCP 135), or "off".' },
    { name: 'listen_address', type: 'string', default: DEFAULTS.listen_address, shortdesc: 'Listen address', longdesc: 'Address the witness service listens on.' },
    // No default attribute for auth: the default depends on accounts (a tool that copied a
    // default "winbind" into the CIB beside accounts= would make a contradiction).
    { name: 'auth', type: 'string', shortdesc: 'Where client passwords are checked', longdesc: 'winbind: Samba\'s winbind checks NTLM passwords (the node must run winbindd, joined to a domain or with local Samba users); accounts: the local account file named by accounts; none: clients are not authenticated (tests only; witnessd logs a warning). Default: accounts when accounts is set, else winbind. The agent never falls back to none: when winbindd does not answer, start fails and says so.' },
    { name: 'accounts', type: 'string', default: '', shortdesc: 'Local account file', longdesc: 'The NTLM account file (made with: witnessctl user add DOMAIN\\USER --accounts FILE), the same file on every node, mode 0600, owned by root. Setting it means auth=accounts. witnessd reads it again when it changes.' },
    { name: 'smb_conf', type: 'string', default: '', shortdesc: 'Samba configuration (winbind)', longdesc: 'With auth=winbind: the smb.conf that Samba\'s ntlm_auth reads (default: Samba\'s own).' },
    { name: 'keytab', type: 'string', default: '', shortdesc: 'Kerberos keytab', longdesc: 'Keys of the cifs/NETNAME (and host/NETNAME) service principals, e.g. written by: net ads keytab add cifs/FILESRV cifs/filesrv.example.com -P --option="dedicated keytab file=FILE:/etc/pacemaker-witness/cifs.keytab". Set: Kerberos is offered (auth type 16, and first in SPNEGO) beside NTLM; a rotated key is picked up without a restart. See docs/kerberos.md.' },
    { name: 'min_auth_level', type: 'string', default: DEFAULTS.min_auth_level, shortdesc: 'Lowest authentication level', longdesc: 'The lowest DCE/RPC authentication level witness calls are accepted at: connect, integrity (signed; what MS-SWN expects) or privacy (sealed). Unauthenticated calls are always refused unless auth=none.' },
    { name: 'allow', type: 'string', default: '', shortdesc: 'Who may use the witness', longdesc: 'Comma-separated principals allowed to call the witness: DOMAIN\\user, user (in any domain) or @group. Empty: every authenticated user.' },
    { name: 'allow_ntlmv1', type: 'boolean', default: DEFAULTS.allow_ntlmv1, shortdesc: 'Accept NTLMv1', longdesc: 'Accept the weak NTLMv1 and LM responses (refused by default).' },
    { name: 'log_level', type: 'string', default: DEFAULTS.log_level, shortdesc: 'Log level', longdesc: 'fatal, error, warn, info, debug or trace.' },
    { name: 'log_file', type: 'string', default: DEFAULTS.log_file, shortdesc: 'Log file', longdesc: 'Where the watcher and the service write their JSON logs.' },
    { name: 'force_unregister_after', type: 'integer', default: DEFAULTS.force_unregister_after, shortdesc: 'Re-registration workaround (s)', longdesc: 'Seconds after telling a client its resource is unavailable, or to move, before its registration is dropped so that Windows clients re-register (as Samba does); 0 turns it off.' },
    { name: 'watch_poll', type: 'integer', default: DEFAULTS.watch_poll, shortdesc: 'Poll instead of subscribing', longdesc: 'When above 0, poll the CIB every this many milliseconds instead of subscribing to its change notifications (slow; for nodes without the watcher helper).' },
  ],
  actions: [
    { name: 'start', timeout: '30s' },
    { name: 'stop', timeout: '30s' },
    { name: 'monitor', timeout: '20s', interval: '10s', depth: '0' },
    { name: 'validate-all', timeout: '20s' },
    { name: 'meta-data', timeout: '5s' },
  ],
};

export interface AgentConfig {
  netnames: string[];
  db: string;
  shares: string;
  /** The smb.conf whose shares are learnt, or 'off'. */
  sambaShares: string;
  ipResources: string;
  ipAgents: string;
  /** node_addresses: auto, none, or addresses and subnets (agent/node-addresses.ts). */
  nodeAddresses: string;
  witnessPort: number;
  epm: string;
  listenAddress: string;
  auth: AuthSettings;
  logLevel: string;
  logFile: string;
  watchPoll: number;
  forceUnregisterAfter: number;
}

export interface AuthSettings {
  mode: AuthMode;
  /** False when auth was not set and mode is the default (winbind, or accounts when accounts is set). */
  explicit: boolean;
  accounts: string | null;
  smbConf: string | null;
  /** Kerberos service keys (--keytab), or null. */
  keytab: string | null;
  minLevel: string;
  allow: string[];
  allowNtlmV1: boolean;
}

/** Under Pacemaker the daemons always log something: every level but silent. */
const LEVELS: readonly string[] = LOG_LEVELS.filter((l) => l !== 'silent');
const NONE_HINT = 'auth=none (unauthenticated clients; tests only)';
const ACCOUNTS_HINT = 'accounts=/etc/pacemaker-witness/accounts (made with: witnessctl user add DOMAIN\\USER --accounts FILE, the same file on every node)';

/** Why an allow-list entry (DOMAIN\\user, user or @group) is malformed, or null. */
function badPrincipal(p: string): string | null {
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'contains a control character';
  if (p.startsWith('@')) return p.length > 1 ? null : 'names no group after @';
  const parts = p.split('\\');
  if (parts.length > 2) return 'has more than one backslash';
  if (parts.some((x) => x.trim() === '')) return 'has an empty domain or user name';
  return null;
}

/** OCF booleans as ocf-shellfuncs' ocf_is_true reads them; null when neither. */
function ocfBoolean(v: string): boolean | null {
  if (/^(1|yes|true|on|ja)$/i.test(v)) return true;
  if (/^(0|no|false|off|nein)$/i.test(v)) return false;
  return null;
}

/** The auth parameters' syntax and consistency (nothing on the node is looked at). */
function readAuth(bad: (msg: string) => never): AuthSettings {
  const explicit = paramSet('auth');
  const accounts = paramSet('accounts') ? param('accounts', '') : null;
  const mode = param('auth', accounts !== null ? 'accounts' : 'winbind');
  if (!(AUTH_MODES as readonly string[]).includes(mode)) bad(`auth must be one of ${AUTH_MODES.join(', ')}, not ${JSON.stringify(mode)}`);
  if (accounts !== null && !path.isAbsolute(accounts)) bad(`accounts must be an absolute path, not ${JSON.stringify(accounts)}`);
  // A setting that would be silently ignored is a promise the agent cannot keep: refuse it.
  if (mode === 'accounts' && accounts === null) bad(`auth=accounts needs the account file: set ${ACCOUNTS_HINT}`);
  if (mode !== 'accounts' && accounts !== null) bad(`accounts is set but auth=${mode} would ignore it: remove auth (accounts= alone means auth=accounts) or accounts`);
  const smbConf = paramSet('smb_conf') ? param('smb_conf', '') : null;
  if (smbConf !== null && !path.isAbsolute(smbConf)) bad(`smb_conf must be an absolute path, not ${JSON.stringify(smbConf)}`);
  if (smbConf !== null && mode !== 'winbind') bad(`smb_conf is only used with auth=winbind, not auth=${mode}`);
  const keytab = paramSet('keytab') ? param('keytab', '') : null;
  if (keytab !== null && !path.isAbsolute(keytab)) bad(`keytab must be an absolute path, not ${JSON.stringify(keytab)}`);
  if (keytab !== null && mode === 'none') bad('keytab is set but auth=none authenticates nobody: remove keytab or choose auth=winbind or accounts');
  const minLevel = param('min_auth_level', DEFAULTS.min_auth_level);
  if (!(MIN_AUTH_LEVELS as readonly string[]).includes(minLevel)) bad(`min_auth_level must be one of ${MIN_AUTH_LEVELS.join(', ')}, not ${JSON.stringify(minLevel)}`);
  const allow = param('allow', '').split(',').map((a) => a.trim()).filter((a) => a !== '');
  for (const a of allow) {
    const why = badPrincipal(a);
    if (why !== null) bad(`allow: ${JSON.stringify(a)} ${why} (expected DOMAIN\\user, user or @group, separated by commas)`);
  }
  const ntlmv1 = ocfBoolean(param('allow_ntlmv1', DEFAULTS.allow_ntlmv1));
  if (ntlmv1 === null) bad(`allow_ntlmv1 must be a boolean (true or false), not ${JSON.stringify(param('allow_ntlmv1', ''))}`);
  if (mode === 'none') {
    const set = [allow.length > 0 ? 'allow' : '', paramSet('min_auth_level') ? 'min_auth_level' : '', ntlmv1 ? 'allow_ntlmv1' : ''].filter((n) => n !== '');
    if (set.length > 0) bad(`auth=none authenticates nobody, so ${set.join(' and ')} cannot apply: remove ${set.length > 1 ? 'them' : 'it'} or choose auth=winbind or accounts`);
  }
  return { mode: mode as AuthMode, explicit, accounts, smbConf, keytab, minLevel, allow, allowNtlmV1: ntlmv1 };
}

/** Parameter syntax: no look at the node (checkCredentials and checkInstalled do that). Throws OcfError(ERR_CONFIGURED). */
export async function readConfig(): Promise<AgentConfig> {
  const bad = (msg: string): never => {
    throw new OcfError(OCF.ERR_CONFIGURED, msg);
  };
  const netnames = param('netname', '').split(/[\s,]+/).filter((n) => n !== '');
  if (netnames.length === 0) bad('parameter netname is required: the name(s) clients use to reach the file server');
  const db = param('db', DEFAULTS.db);
  if (!path.isAbsolute(db)) bad(`db must be an absolute path, not ${JSON.stringify(db)}`);
  const shares = param('shares', '');
  if (shares.trim() !== '') {
    const { parseSharesMap } = await import('../agent/config.ts');
    try {
      parseSharesMap(shares);
    } catch (err) {
      bad(`shares: ${(err as Error).message}`);
    }
  }
  const sambaShares = param('samba_shares', DEFAULTS.samba_shares).trim();
  if (sambaShares !== 'off' && !path.isAbsolute(sambaShares)) bad(`samba_shares must be off or an absolute path, not ${JSON.stringify(sambaShares)}`);
  const port = Number(param('witness_port', DEFAULTS.witness_port));
  if (!Number.isInteger(port) || port < 1 || port > 65535) bad(`witness_port must be a TCP port, not ${JSON.stringify(param('witness_port', ''))}`);
  const epm = param('epm', DEFAULTS.epm);
  if (epm !== 'off' && !/^(\[[^\]]+\]|[^:\s]*):\d{1,5}$/.test(epm)) bad(`epm must be HOST:PORT or off, not ${JSON.stringify(epm)}`);
  const auth = readAuth(bad);
  const logLevel = param('log_level', DEFAULTS.log_level);
  if (!LEVELS.includes(logLevel)) bad(`log_level must be one of ${LEVELS.join(', ')}`);
  const logFile = param('log_file', DEFAULTS.log_file);
  if (!path.isAbsolute(logFile)) bad(`log_file must be an absolute path, not ${JSON.stringify(logFile)}`);
  const watchPoll = Number(param('watch_poll', DEFAULTS.watch_poll));
  if (!Number.isInteger(watchPoll) || watchPoll < 0 || (watchPoll > 0 && watchPoll < 100)) bad('watch_poll must be 0 or an integer of at least 100 (ms)');
  const retire = Number(param('force_unregister_after', DEFAULTS.force_unregister_after));
  if (!Number.isInteger(retire) || retire < 0) bad('force_unregister_after must be 0 or a number of seconds');
  const nodeAddresses = param('node_addresses', DEFAULTS.node_addresses).trim();
  const { parseNodeAddressSetting } = await import('../agent/node-addresses.ts');
  try {
    parseNodeAddressSetting(nodeAddresses);
  } catch (err) {
    bad((err as Error).message);
  }
  return {
    netnames,
    db,
    shares,
    sambaShares,
    ipResources: param('ip_resources', ''),
    ipAgents: param('ip_agents', DEFAULTS.ip_agents),
    nodeAddresses: nodeAddresses === '' ? DEFAULTS.node_addresses : nodeAddresses,
    witnessPort: port,
    epm,
    listenAddress: param('listen_address', DEFAULTS.listen_address),
    auth,
    logLevel,
    logFile,
    watchPoll,
    forceUnregisterAfter: retire,
  };
}

/** This checkout: dist/ocf/witnessd.js when built, ocf/witnessd.ts when run from source. */
function layout(): { root: string; fromSource: boolean } {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const fromSource = !here.split(path.sep).includes('dist');
  return { root: fromSource ? path.resolve(here, '..') : path.resolve(here, '..', '..'), fromSource };
}

function onPath(cmd: string): boolean {
  return (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => d !== '' && fs.existsSync(path.join(d, cmd)));
}

function usingCibFile(): boolean {
  const f = process.env['CIB_file'];
  return f !== undefined && f !== '';
}

/** OCF_CHECK_LEVEL 10 and every start: what this node must have. */
function checkInstalled(cfg: AgentConfig): void {
  const { root, fromSource } = layout();
  for (const rel of fromSource ? ['agent/main.ts', 'service/main.ts'] : ['dist/agent/main.js', 'dist/service/main.js']) {
    const entry = path.join(root, rel);
    if (!fs.existsSync(entry)) throw new OcfError(OCF.ERR_INSTALLED, `${entry} is missing: run 'npm ci && npm run build' in ${root}`);
  }
  if (!usingCibFile()) {
    if (!onPath('cibadmin')) throw new OcfError(OCF.ERR_INSTALLED, 'cibadmin not found: install pacemaker-cli-utils');
    const helper = path.join(root, 'agent/watch/witness-cib-watch');
    if (cfg.watchPoll === 0 && !fs.existsSync(helper)) {
      throw new OcfError(OCF.ERR_INSTALLED, `${helper} is missing: build it with 'npm run build' (needs pacemaker-dev), or set watch_poll`);
    }
  }
}

/** Runs a command briefly; true when it exits 0. */
function succeeds(cmd: string, args: string[]): boolean {
  const r = childProcess().spawnSync(cmd, args, { stdio: 'ignore', timeout: 5000 });
  return r.status === 0;
}

/**
 * Start and validate-all: can the credential source work on this node? The account file is read
 * and checked as witnessd will (service/auth/accounts/file.ts), so a file witnessd would refuse
 * fails here with the same reason instead of as "witnessd exited during start". Codes as in
 * ClusterLabs' conventions: a file that is not there is missing on this node (OCF_ERR_INSTALLED,
 * the cluster tries another node), one we may not read is OCF_ERR_PERM, a file that is there but
 * unusable (mode, owner, a bad line, no account) is a configuration error (OCF_ERR_CONFIGURED);
 * winbind's programs missing is OCF_ERR_INSTALLED, winbindd not answering is OCF_ERR_GENERIC (a
 * state that may pass: Pacemaker's recovery applies).
 */
async function checkCredentials(cfg: AgentConfig): Promise<void> {
  const a = cfg.auth;
  if (a.mode === 'none') return;
  if (a.keytab !== null) {
    // witnessd refuses to start without its keytab; say so here, with the node's view of the file.
    try {
      fs.accessSync(a.keytab, fs.constants.R_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES') throw new OcfError(OCF.ERR_PERM, `the keytab ${a.keytab} is not readable by uid ${process.geteuid?.() ?? '?'}`);
      throw new OcfError(OCF.ERR_INSTALLED, `the keytab ${a.keytab}: ${code === 'ENOENT' ? 'no such file on this node (write it with net ads keytab add, see docs/kerberos.md)' : (err as Error).message}`);
    }
  }
  if (a.mode === 'accounts') {
    const file = a.accounts ?? '';
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new OcfError(OCF.ERR_INSTALLED, `the account file ${file} does not exist on this node: make it with 'witnessctl user add DOMAIN\\USER --accounts ${file}' and copy it to every node (mode 0600)`);
      if (code === 'EACCES') throw new OcfError(OCF.ERR_PERM, `the account file ${file} is not readable by uid ${process.geteuid?.() ?? '?'}`);
      throw new OcfError(OCF.ERR_INSTALLED, `the account file ${file}: ${(err as Error).message}`);
    }
    const { readAccountFile, AccountFileError } = await import('../service/auth/accounts/file.ts');
    let accounts;
    try {
      ({ accounts } = await readAccountFile(file));
    } catch (err) {
      if (err instanceof AccountFileError) throw new OcfError(OCF.ERR_CONFIGURED, `account file: ${err.message}`);
      throw new OcfError(OCF.ERR_INSTALLED, `the account file ${file}: ${(err as Error).message}`);
    }
    if (accounts.length === 0) throw new OcfError(OCF.ERR_CONFIGURED, `the account file ${file} holds no account, so no client could register: add one with 'witnessctl user add DOMAIN\\USER --accounts ${file}'`);
    return;
  }
  // winbind, chosen or by default.
  const how = a.explicit ? 'auth=winbind' : 'auth is not set, so it is winbind,';
  const instead = `Or set ${ACCOUNTS_HINT}, or ${NONE_HINT}`;
  for (const prog of ['ntlm_auth', 'wbinfo']) {
    if (!onPath(prog)) throw new OcfError(OCF.ERR_INSTALLED, `${how} but ${prog} is not installed on this node (Debian: apt install winbind). ${instead}`);
  }
  if (a.smbConf !== null) {
    try {
      fs.accessSync(a.smbConf, fs.constants.R_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new OcfError(code === 'EACCES' ? OCF.ERR_PERM : OCF.ERR_INSTALLED, `smb_conf ${a.smbConf}: ${code === 'ENOENT' ? 'no such file on this node' : (err as Error).message}`);
    }
  }
  // wbinfo finds winbindd by its socket (Debian 12's wbinfo takes no --configfile), as witnessd does.
  if (!succeeds('wbinfo', ['--ping'])) {
    throw new OcfError(OCF.ERR_GENERIC, `${how} but winbindd does not answer on this node (wbinfo --ping failed): start winbind (joined to the domain, or with local Samba users). ${instead}`);
  }
}

/** witnessd's authentication options. */
function authFlags(a: AuthSettings): string[] {
  if (a.mode === 'none') return ['--auth', 'none'];
  return [
    '--auth', a.mode,
    ...(a.mode === 'accounts' && a.accounts !== null ? ['--accounts', a.accounts] : []),
    ...(a.mode === 'winbind' && a.smbConf !== null ? ['--smb-conf', a.smbConf] : []),
    ...(a.keytab !== null ? ['--keytab', a.keytab] : []),
    '--min-auth-level', a.minLevel,
    ...(a.allow.length > 0 ? ['--allow', a.allow.join(',')] : []),
    ...(a.allowNtlmV1 ? ['--allow-ntlmv1'] : []),
  ];
}

function agentFlags(cfg: AgentConfig): string[] {
  const flags = ['--db', cfg.db, '--ip-agents', cfg.ipAgents, '--log-level', cfg.logLevel];
  if (cfg.shares.trim() !== '') flags.push('--shares', cfg.shares);
  flags.push(...(cfg.sambaShares === 'off' ? ['--no-samba-shares'] : ['--smb-conf', cfg.sambaShares]));
  if (cfg.ipResources.trim() !== '') flags.push('--ip-resources', cfg.ipResources);
  return flags;
}

/**
 * A long-running node process of this checkout (the watcher or witnessd). Its identity — pidfile,
 * ready file, the marks in its command line — needs no configuration, so stop and monitor work
 * even when the parameters are broken; only its arguments do.
 */
function nodeDaemon(name: string, tag: 'watch' | 'service', entryRel: { source: string; dist: string }, leading: string[], cfg: AgentConfig | null, cfgArgs: (c: AgentConfig) => string[], nodeFlags: readonly string[] = [], env?: NodeJS.ProcessEnv): DaemonSpec {
  const { root, fromSource } = layout();
  const base = path.join(rscTmp(), `witnessd-${instance().replace(/[^\w.:-]/g, '_')}`);
  const entry = path.join(root, fromSource ? entryRel.source : entryRel.dist);
  const ready = `${base}.${tag}.ready`;
  return {
    name,
    pidfile: `${base}.${tag}.pid`,
    readyFile: ready,
    command: process.execPath,
    args: [...nodeFlags, ...(fromSource ? ['--import', 'tsx'] : []), entry, ...leading, '--ready-file', ready, ...(cfg ? cfgArgs(cfg) : [])],
    cwd: root,
    logFile: cfg?.logFile ?? DEFAULTS.log_file,
    marks: [entry, ...leading, ready],
    ...(env !== undefined ? { env } : {}),
  };
}

function watcher(cfg: AgentConfig | null): DaemonSpec {
  return nodeDaemon('witness-agent watch', 'watch', { source: 'agent/main.ts', dist: 'dist/agent/main.js' }, ['watch'], cfg, (c) => [
    ...agentFlags(c),
    ...(c.watchPoll > 0 ? ['--poll', String(c.watchPoll)] : []),
    '--node-addresses', c.nodeAddresses,
    ...onNodeFlag(),
  ]);
}

/** Pacemaker names the node an action runs on; the watcher relays admin requests addressed to it. */
function onNodeFlag(): string[] {
  const node = process.env['OCF_RESKEY_CRM_meta_on_node'];
  return node !== undefined && node !== '' ? ['--node', node] : [];
}

function service(cfg: AgentConfig | null): DaemonSpec {
  return nodeDaemon('witnessd', 'service', { source: 'service/main.ts', dist: 'dist/service/main.js' }, [], cfg, (c) => {
    return [
      '--db', c.db,
      '--listen', `${c.listenAddress.includes(':') ? `[${c.listenAddress}]` : c.listenAddress}:${c.witnessPort}`,
      '--epm', c.epm,
      '--netname', ...c.netnames,
      ...authFlags(c.auth),
      '--log-level', c.logLevel,
      '--force-unregister-after', String(c.forceUnregisterAfter),
      ...onNodeFlag(),
    ];
  }, WITNESSD_NODE_FLAGS, witnessdEnv());
}

/** Where monitor sends its bind: the listen address, or loopback when listening on all addresses. */
function probeHost(cfg: AgentConfig): string {
  if (cfg.listenAddress === '0.0.0.0' || cfg.listenAddress === '') return '127.0.0.1';
  if (cfg.listenAddress === '::') return '::1';
  return cfg.listenAddress;
}

/** One sync from the current CIB, as the safety net under the watcher. */
async function syncNow(cfg: AgentConfig): Promise<void> {
  const [{ syncOnce }, { configFromFlags }] = await Promise.all([import('../agent/sync.ts'), import('../agent/view-flags.ts')]);
  const view = configFromFlags({ shares: cfg.shares, ipResources: cfg.ipResources, ipAgents: cfg.ipAgents, db: cfg.db, ...(cfg.sambaShares === 'off' ? { sambaShares: false } : { smbConf: cfg.sambaShares }) });
  try {
    const r = await syncOnce({ db: cfg.db, config: view });
    ocfLog(r.events.length > 0 ? 'info' : 'debug', `synced CIB ${r.cib.adminEpoch}.${r.cib.epoch}.${r.cib.numUpdates}: ${r.events.length} event(s) in ${r.ms.toFixed(0)} ms`);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ENOENT_TOOL') throw new OcfError(OCF.ERR_INSTALLED, e.message);
    if (e.code === 'permission') throw new OcfError(OCF.ERR_PERM, e.message);
    throw new OcfError(OCF.ERR_GENERIC, `sync failed: ${e.message}`);
  }
}

async function monitor(): Promise<OcfExitCode> {
  const cfg = await readConfig();
  const daemons = [watcher(cfg), service(cfg)];
  const states = daemons.map((d) => daemonState(d));
  if (states.every((st) => st.state === 'stopped')) return OCF.NOT_RUNNING;
  states.forEach((st, i) => {
    const d = daemons[i];
    if (st.state !== 'running' && d) throw new OcfError(OCF.ERR_GENERIC, `${d.name} ${st.state === 'crashed' ? `(pid ${st.pid}) is gone` : 'is not running'}; see ${cfg.logFile}`);
  });
  // Probes only ask whether it runs; recurring monitors also check the port and resync.
  if (!isProbe('monitor')) {
    const { probeBind } = await import('./rpc-probe.ts');
    try {
      await probeBind(probeHost(cfg), cfg.witnessPort, 5000);
    } catch (err) {
      throw new OcfError(OCF.ERR_GENERIC, `witnessd does not answer: ${(err as Error).message}`);
    }
    await syncNow(cfg);
  }
  return OCF.SUCCESS;
}

async function start(): Promise<OcfExitCode> {
  const cfg = await readConfig();
  checkInstalled(cfg);
  const daemons = [watcher(cfg), service(cfg)];
  if (daemons.every((d) => daemonState(d).state === 'running')) return OCF.SUCCESS;
  await checkCredentials(cfg);
  if (cfg.auth.mode === 'none') ocfLog('warning', 'auth=none: witnessd serves unauthenticated clients (tests only)');
  await syncNow(cfg);
  const budget = Math.max(4000, timeoutMs(30_000) - 5000);
  for (const d of daemons) {
    if (daemonState(d).state === 'running') continue;
    await stopDaemon(d, 5000); // a crashed one leaves a pidfile behind
    const pid = await startDaemon(d, budget / daemons.length);
    ocfLog('info', `started ${d.name} (pid ${pid})`);
  }
  return OCF.SUCCESS;
}

async function stop(): Promise<OcfExitCode> {
  const cfg = await readConfig().catch((err: unknown) => {
    // Stop must succeed even with a broken configuration, or Pacemaker would fence the node.
    ocfLog('warning', `stop with invalid parameters: ${(err as Error).message}`);
    return null;
  });
  const budget = Math.max(2000, timeoutMs(30_000) - 5000);
  // The service first: clients see their connections close while the store is still current.
  for (const d of [service(cfg), watcher(cfg)]) await stopDaemon(d, budget / 2);
  return OCF.SUCCESS;
}

async function validateAll(): Promise<OcfExitCode> {
  const cfg = await readConfig();
  if (checkLevel() >= 10) checkInstalled(cfg);
  await checkCredentials(cfg);
  return OCF.SUCCESS;
}

export async function main(argv: readonly string[] = process.argv): Promise<OcfExitCode> {
  return runAgent(SPEC, { start, stop, monitor, 'validate-all': validateAll }, argv);
}
