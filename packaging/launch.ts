// Runs one bundled program of the installed package with a V8 code cache (Node 20 has no
// module.enableCompileCache). Each dist/…/*.js stub of the package calls launch() with its bundle.
//
// Why: most of a command's start-up is V8 compiling the bundle's functions as they are first
// called. V8 can serialise what it compiled (vm.Script#createCachedData, taken after the run so
// the lazily compiled functions are in it) and take it back on the next run instead of compiling.
// What one command calls depends on its first argument (witnessctl list vs client-move, the OCF
// action), so there is one cache file per bundle and first argument, written by the first run that
// ends with exit code 0 and can write the cache directory (root; /var/cache/pacemaker-witness).
// V8 checks a cache against the source only by its length, so the file name carries the bundle's
// content hash: a new bundle never takes an old bundle's cache.

import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

export interface LaunchOptions {
  /** sha256 prefix of the bundle's content, computed when the package was built. */
  hash: string;
  /** Where the cache files live; null: no cache. */
  cacheDir: string | null;
  /** process.versions.modules of the node the native module (better-sqlite3) was built for. */
  abi: string;
  /** That node's version, for the message. */
  builtWith: string;
}

/** Exit code when the interpreter does not fit (5 is also OCF_ERR_INSTALLED). */
const WRONG_NODE = 5;

/**
 * The cache file's key: the first argument when it looks like a subcommand or OCF action. An OCF
 * monitor is two different runs: a probe (interval 0: are the daemons there?) and a recurring one
 * (the port asked, one sync of the CIB), and Pacemaker runs the probe first: with one key the
 * recurring monitor would keep a cache without the sync in it and compile that on every run.
 */
export function cacheKey(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  const first = argv[2] ?? '';
  if (!/^[a-z][a-z-]{0,23}$/.test(first)) return 'main';
  const interval = env['OCF_RESKEY_CRM_meta_interval'];
  return first === 'monitor' && interval !== undefined && interval !== '' && interval !== '0' ? 'monitor-recurring' : first;
}

function readCache(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Writes the cache next to its final name and renames it there, so a reader never sees half a file. */
function writeCache(file: string, data: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, data, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch {
    // Not root, or the directory is gone: run without a cache (it only saves time).
    fs.rmSync(tmp, { force: true });
  }
}

/** @entry called by the stub packaging/bundle.ts writes at each program's dist path. */
export function launch(bundle: string, opts: LaunchOptions): void {
  if (process.versions.modules !== opts.abi) {
    process.stderr.write(`pacemaker-witness: this package was built for Node.js ${opts.builtWith} (module ABI ${opts.abi}); ${process.execPath} is ${process.version} (ABI ${process.versions.modules}). Install that Node.js major version (NodeSource's nodejs package) or rebuild the package with 'npm run package'.\n`);
    process.exit(WRONG_NODE);
  }
  const source = fs.readFileSync(bundle, 'utf8');
  const cacheFile = opts.cacheDir === null ? null : path.join(opts.cacheDir, `${path.basename(bundle, '.cjs')}-${opts.hash}-${cacheKey(process.argv)}.v8`);
  const cached = cacheFile === null ? undefined : readCache(cacheFile);
  const script = new vm.Script(Module.wrap(source), { filename: bundle, ...(cached ? { cachedData: cached } : {}) });
  if (cacheFile !== null && (cached === undefined || script.cachedDataRejected === true)) {
    process.once('exit', (code) => {
      if (code === 0) writeCache(cacheFile, script.createCachedData());
    });
  }
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
  const mod = { exports: {}, filename: bundle, id: bundle };
  wrapper.call(mod.exports, mod.exports, Module.createRequire(bundle), mod, bundle, path.dirname(bundle));
}
