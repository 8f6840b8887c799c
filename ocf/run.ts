// The action dispatcher, shaped like ClusterLabs' ocf.py run(): meta-data and usage need nothing
// (no store, no cluster; they run as nobody), extra arguments are ignored, an unknown action is
// OCF_ERR_UNIMPLEMENTED, an OcfError becomes its code plus an exit reason, and any other exception
// OCF_ERR_GENERIC with the message as the exit reason.

import { action, isProbe } from './env.ts';
import { OCF, OcfError, type OcfExitCode } from './exit-codes.ts';
import { exitReason, ocfLog } from './log.ts';
import { metadataXml, type AgentSpec } from './metadata.ts';

export type Handler = () => Promise<OcfExitCode>;

export async function runAgent(spec: AgentSpec, handlers: Partial<Record<string, Handler>>, argv: readonly string[] = process.argv): Promise<OcfExitCode> {
  const act = action(argv);
  if (act === 'meta-data') {
    process.stdout.write(metadataXml(spec));
    return OCF.SUCCESS;
  }
  const usage = `usage: ${spec.name} {${['meta-data', ...Object.keys(handlers)].join('|')}}\n`;
  if (act === undefined || act === 'usage' || act === 'help' || act === '--help' || act === '-h') {
    process.stdout.write(usage);
    return act === undefined ? OCF.ERR_UNIMPLEMENTED : OCF.SUCCESS;
  }
  const handler = handlers[act];
  if (!handler) {
    process.stderr.write(usage);
    return OCF.ERR_UNIMPLEMENTED;
  }
  const probe = isProbe(act);
  try {
    const rc = await handler();
    ocfLog('debug', `${act}: ${rc}`);
    return rc;
  } catch (err) {
    if (err instanceof OcfError) {
      exitReason(err.message, probe);
      ocfLog(probe ? 'debug' : 'err', `${act}: ${err.message} (rc ${err.code})`);
      return err.code;
    }
    const msg = err instanceof Error ? err.message : String(err);
    exitReason(msg, probe);
    ocfLog('err', `${act} failed: ${msg}`);
    return OCF.ERR_GENERIC;
  }
}
