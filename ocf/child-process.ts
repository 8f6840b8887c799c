// node:child_process, loaded on first use. Loading it loads net, dgram and the stream modules with
// it, which the agent's meta-data action (Pacemaker and pcs ask for it as nobody) and probe
// monitors never need: docs/startup.md.
import { createRequire } from 'node:module';
import type * as ChildProcess from 'node:child_process';

let loaded: typeof ChildProcess | undefined;

export function childProcess(): typeof ChildProcess {
  loaded ??= createRequire(import.meta.url)('node:child_process') as typeof ChildProcess;
  return loaded;
}
