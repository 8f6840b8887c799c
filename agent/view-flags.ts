// The view configuration from the agent's flags (witness-agent sync/watch) or the OCF agent's
// parameters. A module of its own, without commander: the OCF monitor builds it for its sync on
// every run, and loading agent/cli.ts for it cost that run ~12 ms of CPU (commander and every
// witness-agent command initialised).

import type { Logger } from 'pino';
import { defaultViewConfig, parseSharesMap, type ViewConfig } from './config.ts';
import { SambaShareSource, sambaCacheFileFor } from './samba-shares.ts';
import { DEFAULT_SMB_CONF } from '../store/defaults.ts';

export interface ConfigFlags {
  shares?: string;
  ipResources?: string;
  ipAgents?: string;
  witnessAgent?: string;
  /** The node's smb.conf, whose shares are learnt (default /etc/samba/smb.conf; nothing when absent). */
  smbConf?: string;
  /** False (--no-samba-shares): Samba's configuration is not read. */
  sambaShares?: boolean;
  /** The store: its directory keeps the last reading of Samba's shares for the next process. */
  db?: string;
}

function splitList(s: string): string[] {
  return s.split(/[\s,;]+/).filter((x) => x !== '');
}

export function configFromFlags(f: ConfigFlags, logger?: Logger): ViewConfig {
  const cfg = defaultViewConfig();
  if (f.sambaShares !== false) {
    cfg.sambaShares = new SambaShareSource({
      smbConf: f.smbConf !== undefined && f.smbConf.trim() !== '' ? f.smbConf.trim() : DEFAULT_SMB_CONF,
      cacheFile: f.db !== undefined ? sambaCacheFileFor(f.db) : null,
      ...(logger !== undefined ? { logger } : {}),
    });
  }
  if (f.shares !== undefined && f.shares.trim() !== '') cfg.shares = parseSharesMap(f.shares);
  if (f.ipResources !== undefined && f.ipResources.trim() !== '') cfg.ipResources = splitList(f.ipResources);
  if (f.ipAgents !== undefined && f.ipAgents.trim() !== '') cfg.ipAgents = splitList(f.ipAgents);
  if (f.witnessAgent !== undefined && f.witnessAgent.trim() !== '') cfg.witnessAgent = f.witnessAgent.trim();
  return cfg;
}
