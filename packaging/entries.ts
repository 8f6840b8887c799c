// The programs the package ships, each bundled into one CommonJS file (packaging/bundle.ts).
// `dist` is where the checkout's build (tsc) puts the same program: the package keeps that layout
// (dist/agent/main.js, dist/service/main.js, dist/ocf/witnessd-main.js, agent/watch/…) so the
// OCF agent, which finds the watcher and witnessd relative to itself, runs unchanged from both.

export interface Entry {
  /** Name of the command (on the PATH, in the bench's output). */
  name: string;
  /** The module whose main() runs: bundled from source. */
  source: string;
  /** How main()'s outcome ends the process (ESM entries use top-level await, which CommonJS lacks). */
  exit: 'promise' | 'ocf-code';
  /** Where it goes, relative to the package's root (the stub; the bundle is next to it). */
  dist: string;
  /** Node flags its command line carries (witnessd: service/node-flags.ts). */
  nodeFlags: readonly string[];
  /** Environment defaults its /usr/bin wrapper sets (an admin's own value wins). */
  env?: Readonly<Record<string, string>>;
}

import { WITNESSD_ENV, WITNESSD_NODE_FLAGS } from '../service/node-flags.ts';

export const ENTRIES: readonly Entry[] = [
  { name: 'witness-agent', source: 'agent/cli.ts', exit: 'promise', dist: 'dist/agent/main.js', nodeFlags: [] },
  { name: 'witnessd', source: 'service/cli.ts', exit: 'promise', dist: 'dist/service/main.js', nodeFlags: WITNESSD_NODE_FLAGS, env: WITNESSD_ENV },
  { name: 'witnessctl', source: 'service/ctl/cli.ts', exit: 'promise', dist: 'dist/service/ctl/main.js', nodeFlags: [] },
  { name: 'ocf-witnessd', source: 'ocf/witnessd.ts', exit: 'ocf-code', dist: 'dist/ocf/witnessd-main.js', nodeFlags: [] },
  { name: 'ocf-tickle', source: 'ocf/tickle.ts', exit: 'ocf-code', dist: 'dist/ocf/tickle-main.js', nodeFlags: [] },
];

/** The OCF agents: ocf/<template> (a shell shim) installed as resource.d/witness/<name>. */
export const OCF_AGENTS: readonly { name: string; template: string }[] = [
  { name: 'witnessd', template: 'ocf/witnessd' },
  { name: 'tickle', template: 'ocf/tickle' },
];
