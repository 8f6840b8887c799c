// `witnessd`: the MS-SWN witness service.
import fs from 'node:fs';
import { Command, Option } from 'commander';
import { ConfigError, resolveConfig, type CliValues } from './config.ts';
import { DEFAULT_EPM_PORT, DEFAULT_LISTEN_ADDRESS, DEFAULT_MIN_AUTH_LEVEL, DEFAULT_WITNESS_PORT } from '../store/defaults.ts';
import { MIN_AUTH_LEVELS } from './auth/policy.ts';
import { startWitnessd } from './daemon.ts';
import { makeServiceLogger } from './log.ts';
import { LOG_LEVELS } from '../store/log-levels.ts';

export function buildProgram(): Command {
  return new Command('witnessd')
    .description('SMB Witness (MS-SWN) service for a Pacemaker file-server cluster')
    .option('--config <file>', 'JSON config file (command-line options win)')
    .option('--db <path>', 'state store kept by witness-agent (default /var/lib/pacemaker-witness/state.db)')
    .option('--listen <host:port>', `witness RPC address (default ${DEFAULT_LISTEN_ADDRESS}:${DEFAULT_WITNESS_PORT})`)
    .option('--epm <host:port|off>', `endpoint mapper address (default ${DEFAULT_LISTEN_ADDRESS}:${DEFAULT_EPM_PORT})`)
    .option('--netname <name...>', 'cluster name(s) clients register for (repeatable)')
    .option('--node <name>', 'this node\'s Pacemaker name (default: crm_node -n)')
    .addOption(new Option('--auth <mode>', 'where client passwords are checked: winbind (default), accounts (with --accounts), or none (unauthenticated: tests only)').choices(['winbind', 'accounts', 'none']))
    .option('--accounts <file>', 'local account file (witnessctl user add); implies --auth accounts')
    .option('--smb-conf <file>', 'Samba configuration for winbind\'s ntlm_auth (default: Samba\'s own)')
    .addOption(new Option('--min-auth-level <level>', `lowest auth level for witness calls (default ${DEFAULT_MIN_AUTH_LEVEL})`).choices(MIN_AUTH_LEVELS))
    .option('--allow <principals...>', 'only these may register: DOMAIN\\user, user or @group (comma-separated or repeated)')
    .option('--allow-ntlmv1', 'accept NTLMv1/LM responses (weak; refused by default)')
    .option('--keytab <file>', 'Kerberos service keys (cifs/<NetName>, host/<NetName>): offers Kerberos, preferred in SPNEGO')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS))
    .addOption(new Option('--log-format <format>', 'json, or journal (syslog priority prefixes)').choices(['json', 'journal']))
    .option('--force-unregister-after <seconds>', 'Windows workaround: drop a registration this long after telling it UNAVAILABLE or to move, so the client re-registers (default 5, 0 = off)')
    .option('--ready-file <file>', 'create this file once listening (for supervisors such as the OCF agent)')
    .showHelpAfterError();
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  program.parse(argv);
  let cfg;
  try {
    cfg = resolveConfig(program.opts<CliValues>());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`witnessd: ${err.message}\n`);
      process.exitCode = 6;
      return;
    }
    throw err;
  }
  const logger = makeServiceLogger(cfg.logLevel, cfg.logFormat);
  let d;
  try {
    d = await startWitnessd(cfg, logger);
  } catch (err) {
    logger.fatal({ err }, 'witnessd cannot start');
    logger.flush();
    process.exitCode = 1;
    return;
  }
  const readyFile = program.opts<{ readyFile?: string }>().readyFile;
  if (readyFile !== undefined) fs.writeFileSync(readyFile, `${process.pid}\n`);
  const stop = (sig: string): void => {
    if (readyFile !== undefined) fs.rmSync(readyFile, { force: true });
    logger.info({ signal: sig }, 'stopping');
    d.close().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  // kill -USR2: one log line with counts and memory (SIGUSR1 belongs to node's inspector).
  process.on('SIGUSR2', () => {
    logger.info({ status: d.status() }, 'status');
  });
  process.once('SIGTERM', () => { stop('SIGTERM'); });
  process.once('SIGINT', () => { stop('SIGINT'); });
}
