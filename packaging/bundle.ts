// Bundles each program (packaging/entries.ts) into one CommonJS file with esbuild, plus the stub
// that starts it through packaging/launch.ts with a V8 code cache. One file instead of ~150 ES
// modules saves Node's module resolution and loading; CommonJS (not ESM) because only a classic
// script can be compiled with vm.Script and its cachedData on Node 20.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { build, type Plugin } from 'esbuild';
import { ENTRIES, type Entry } from './entries.ts';
import { lazyBuiltins } from './lazy-builtins.ts';

export const ROOT = path.resolve(import.meta.dirname, '..');

/** Where the native module goes, relative to the package's root. */
export const NATIVE_DIR = 'native';

/**
 * better-sqlite3 finds its native module through the `bindings` package, which searches a list
 * of build directories relative to the caller's package. In the package there is one place:
 * <root>/native/, found from each bundle's own depth (upToRoot).
 */
function nativeBinding(toRoot: string): Plugin {
  return {
    name: 'native-binding',
    setup(b) {
      b.onResolve({ filter: /^bindings$/ }, () => ({ path: 'bindings', namespace: 'pw-native' }));
      b.onLoad({ filter: /.*/, namespace: 'pw-native' }, () => ({
        contents: `module.exports = function bindings(name) { return require(require('node:path').join(__dirname, ${JSON.stringify(toRoot)}, ${JSON.stringify(NATIVE_DIR)}, name)); };`,
        loader: 'js',
      }));
    },
  };
}

/** From an entry's dist directory up to the tree's root ('../..' for dist/agent/, '../../..' for dist/service/ctl/). */
function upToRoot(e: Entry): string {
  return path.posix.relative(path.posix.dirname(e.dist), '.');
}

function entrySource(e: Entry): string {
  const mod = JSON.stringify(path.join(ROOT, e.source));
  // ESM entries end with `await main()`; top-level await does not exist in CommonJS. A rejection
  // stays unhandled, so node prints it and exits with 1, as before.
  return e.exit === 'ocf-code'
    ? `import { main } from ${mod};\nvoid main().then((rc) => process.exit(rc));\n`
    : `import { main } from ${mod};\nvoid main();\n`;
}

export interface Bundled {
  entry: Entry;
  /** Absolute path of the bundle. */
  file: string;
  bytes: number;
  hash: string;
  /** The npm packages esbuild put in (for the licences). */
  packages: string[];
}

/** The bundle of one entry, written to <outRoot>/<dist dir>/<name>.bundle.cjs. */
async function bundleOne(e: Entry, outRoot: string): Promise<Bundled> {
  const file = path.join(outRoot, e.dist.replace(/\.js$/, '.bundle.cjs'));
  const r = await build({
    metafile: true,
    stdin: { contents: entrySource(e), resolveDir: ROOT, sourcefile: `${e.name}-entry.ts`, loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: file,
    // import.meta.url (the watcher finds its C helper, the OCF agent its daemons, relative to
    // themselves): the bundle's own URL.
    define: { 'import.meta.url': '__pw_import_meta_url', 'import.meta.dirname': '__dirname' },
    banner: { js: 'var __pw_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
    plugins: [nativeBinding(upToRoot(e)), lazyBuiltins()],
    // Whitespace and syntax only: names stay, so stack traces in the logs still read.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'error',
  });
  const data = fs.readFileSync(file);
  const packages = new Set<string>();
  for (const input of Object.keys(r.metafile.inputs)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m?.[1] !== undefined) packages.add(m[1]);
  }
  return { entry: e, file, bytes: data.length, hash: createHash('sha256').update(data).digest('hex').slice(0, 16), packages: [...packages].sort() };
}

/**
 * Stub at the entry's dist path: what `node <root>/dist/agent/main.js` runs. cacheDir null: no code
 * cache (a bundle tree that is not installed).
 */
function stubSource(b: Bundled, cacheDir: string | null): string {
  const opts = { hash: b.hash, cacheDir, abi: process.versions.modules, builtWith: process.versions.node };
  return `'use strict';\n// ${b.entry.name}: built by packaging/bundle.ts from ${b.entry.source}; runs ${path.basename(b.file)}.\nrequire('${upToRoot(b.entry)}/launch.cjs').launch(require('node:path').join(__dirname, ${JSON.stringify(path.basename(b.file))}), ${JSON.stringify(opts)});\n`;
}

/**
 * A runnable tree: <outRoot>/launch.cjs, package.json (CommonJS), dist/…/<entry>.js stubs and
 * their bundles, native/better_sqlite3.node and native/gss.node, agent/watch/witness-cib-watch.
 */
export async function bundleTree(outRoot: string, cacheDir: string | null): Promise<Bundled[]> {
  fs.mkdirSync(outRoot, { recursive: true });
  await build({
    entryPoints: [path.join(ROOT, 'packaging/launch.ts')],
    bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: path.join(outRoot, 'launch.cjs'), logLevel: 'error',
  });
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  fs.writeFileSync(path.join(outRoot, 'package.json'), `${JSON.stringify({ name: 'pacemaker-witness', version: pkg.version, private: true, type: 'commonjs' }, null, 2)}\n`);
  const out = await Promise.all(ENTRIES.map((e) => bundleOne(e, outRoot)));
  for (const b of out) fs.writeFileSync(path.join(outRoot, b.entry.dist), stubSource(b, cacheDir));
  const native = path.join(ROOT, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node');
  fs.mkdirSync(path.join(outRoot, NATIVE_DIR), { recursive: true });
  fs.copyFileSync(native, path.join(outRoot, NATIVE_DIR, 'better_sqlite3.node'));
  // Kerberos (witnessd --keytab): MIT's GSS-API through our addon, found by service/auth/krb5/native.ts there.
  const gss = path.join(ROOT, 'service/auth/krb5/native/gss.node');
  if (!fs.existsSync(gss)) throw new Error(`${gss} is missing: run 'npm run build' (needs libkrb5-dev)`);
  fs.copyFileSync(gss, path.join(outRoot, NATIVE_DIR, 'gss.node'));
  const helper = path.join(ROOT, 'agent/watch/witness-cib-watch');
  if (!fs.existsSync(helper)) throw new Error(`${helper} is missing: run 'make -C agent/watch' (needs pacemaker-dev)`);
  fs.mkdirSync(path.join(outRoot, 'agent/watch'), { recursive: true });
  fs.copyFileSync(helper, path.join(outRoot, 'agent/watch/witness-cib-watch'));
  fs.chmodSync(path.join(outRoot, 'agent/watch/witness-cib-watch'), 0o755);
  return out;
}
