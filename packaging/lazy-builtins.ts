// An esbuild plugin that gives the bundled code Node built-in modules which load on first use.
//
// Why: a bundle runs every module's top level at start, and the top level of ours and of our
// dependencies requires built-in modules that most runs of a command never call. Node 20 compiles
// each built-in module outside its start-up snapshot when it is first required; measured on the
// project's VM (CPU time of one require in a fresh process): node:child_process 7 ms (it loads
// net, dgram and the stream modules), node:crypto 8.7, node:assert 3.5, node:perf_hooks 2,
// node:fs/promises 2.6. commander requires child_process for its executable subcommands (which
// we do not use), sonic-boom requires assert for one check on a path we do not take, the agent's
// modules require child_process for cibadmin and testparm, which a sync from a file or a cached
// Samba reading never runs.
//
// How: `require("node:X")` / `import … from "node:X"` of a listed module resolves to a small
// module instead whose properties are getters that require the real module when first read, so
// `cp.execFileSync(…)` (what esbuild makes of a named import) loads child_process at the call.
// Names come from the real module at build time (the package is built with the Node major it
// runs on); a name not listed then still reads through, from a Proxy in the prototype chain. A
// module that is a function (node:assert) is replaced by a function that calls the real one.
// Code that destructures at its top level (`const { Worker } = require('worker_threads')`) loads
// the real module there, as before: correct, only not lazy.

import { createRequire } from 'node:module';
import type { Plugin } from 'esbuild';

const requireBuiltin = createRequire(import.meta.url);

/** The built-in modules the bundles load on first use (see the measurements above). */
export const LAZY_BUILTINS: readonly string[] = ['child_process', 'crypto', 'assert', 'perf_hooks', 'fs/promises', 'net', 'worker_threads', 'readline'];

const NAMESPACE = 'pw-lazy-builtin';

/** The source of the stand-in for built-in module `name`. */
export function lazyModuleSource(name: string): string {
  const real = requireBuiltin(`node:${name}`) as Record<string, unknown>;
  const callable = typeof real === 'function';
  // Own enumerable names of the real module; for a function (assert), not the ones every
  // function has (their descriptors are fixed, and the stand-in has its own).
  const keys = Object.keys(real).filter((k) => !(callable && ['length', 'name', 'prototype'].includes(k)));
  return [
    '"use strict";',
    'let real;',
    // Resolved by the plugin to the real built-in (external), since the importer is this module.
    `const load = () => real ??= require(${JSON.stringify(`node:${name}`)});`,
    callable
      ? 'const lazy = function (...args) { return new.target ? Reflect.construct(load(), args, new.target) : Reflect.apply(load(), this, args); };'
      : 'const lazy = {};',
    // __esModule: what esbuild's interop asks of every CommonJS module it imports; no built-in
    // module has it, so it is answered without loading one.
    "Object.setPrototypeOf(lazy, new Proxy(Object.create(null), { get: (_, key) => key === '__esModule' ? undefined : load()[key] }));",
    `for (const key of ${JSON.stringify(keys)}) Object.defineProperty(lazy, key, { enumerable: true, configurable: true, get: () => load()[key], set: (v) => { load()[key] = v; } });`,
    'module.exports = lazy;',
    '',
  ].join('\n');
}

export function lazyBuiltins(names: readonly string[] = LAZY_BUILTINS): Plugin {
  const escaped = names.map((n) => n.replace(/[/]/g, '\\/'));
  const filter = new RegExp(`^(node:)?(${escaped.join('|')})$`);
  return {
    name: 'lazy-builtins',
    setup(b) {
      b.onResolve({ filter }, (args) => {
        const name = args.path.replace(/^node:/, '');
        // The stand-in's own require: the real module, left to Node.
        if (args.namespace === NAMESPACE) return { path: `node:${name}`, external: true };
        return { path: name, namespace: NAMESPACE };
      });
      b.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({ contents: lazyModuleSource(args.path), loader: 'js' }));
    },
  };
}
