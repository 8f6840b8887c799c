// The SMB server's shares, learnt from the node's Samba configuration, and the Pacemaker resource
// each one follows.
//
// `testparm -s` prints the configuration smbd would load (includes followed; registry shares
// loaded too: testparm loads them whenever `registry shares = yes` or `include = registry` is
// set, which is exactly what `net conf list` would list). Running it costs ~0.1 s of CPU, so a
// reading is kept with the identity (inode, size, mtime, ctime) of every file it came from: the
// smb.conf, the files it includes, and the registry's registry.tdb when registry shares are on.
// As long as none of them changed, the reading stands; the watcher checks them every second and
// the OCF monitor's sync finds the reading in a small cache file next to the store.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { CibResource } from './cib/types.ts';
import { globalOf, normalizePath, parseTestparm, sambaBool, sharesOf, type SambaShare } from './testparm.ts';

/** testparm's output is our own child's; still, a configuration bigger than this is refused. */
const MAX_OUTPUT = 16 * 1024 * 1024;
/** Includes followed when looking for the files a reading depends on (Samba stops at 100 too). */
const MAX_FILES = 100;
/** A raw smb.conf or include file larger than this is not scanned for includes (its identity still counts). */
const MAX_SCAN = 4 * 1024 * 1024;

export interface SambaCatalogue {
  smbConf: string;
  shares: SambaShare[];
}

interface FileSig {
  path: string;
  /** "ino:size:mtime:ctime" in nanoseconds, or "absent". */
  sig: string;
}

interface Reading {
  smbConf: string;
  files: FileSig[];
  /** Null: no configuration (the file is absent) or it could not be read and nothing was before. */
  catalogue: SambaCatalogue | null;
  /** When a reading that depends on who asks (an include with %m, ...) is read again anyway (ms since the epoch). */
  expires?: number;
}

/** How long a reading with substituted includes stands, its files unchanged. */
const VOLATILE_MS = 60_000;

function current(r: Reading): boolean {
  return (r.expires === undefined || Date.now() < r.expires) && unchanged(r.files);
}

function sigOf(p: string): string {
  try {
    const st = fs.statSync(p, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return 'absent';
  }
}

function unchanged(files: readonly FileSig[]): boolean {
  return files.every((f) => sigOf(f.path) === f.sig);
}

/** `include = X` lines of a raw smb.conf (any case and spacing, as Samba reads them). */
const INCLUDE = /^[ \t]*include[ \t]*=[ \t]*(.*?)[ \t]*$/gim;
/** Settings that bring the registry in: its file then matters too. */
const REGISTRY = /^[ \t]*(?:include[ \t]*=[ \t]*registry|config[ \t]*backend[ \t]*=[ \t]*registry|registry[ \t]*shares[ \t]*=[ \t]*(?:yes|true|on|1))[ \t]*$/im;

/**
 * The files a reading of `smbConf` depends on, with their identity now; `volatile` when an
 * include names a file by substitution (%m, %U, ...), which depends on who asks: such a reading is
 * read again after a minute (and never kept in the cache file).
 */
function filesOf(smbConf: string): { files: FileSig[]; volatile: boolean; registry: boolean } {
  const files: FileSig[] = [];
  const seen = new Set<string>();
  let volatile = false;
  let registry = false;
  const queue = [smbConf];
  while (queue.length > 0 && files.length < MAX_FILES) {
    const p = queue.shift() ?? '';
    if (seen.has(p)) continue;
    seen.add(p);
    files.push({ path: p, sig: sigOf(p) });
    let text: string;
    try {
      if (fs.statSync(p).size > MAX_SCAN) continue;
      text = fs.readFileSync(p, 'utf8');
    } catch {
      continue;
    }
    if (REGISTRY.test(text)) registry = true;
    for (const m of text.matchAll(INCLUDE)) {
      const target = (m[1] ?? '').replace(/^"(.*)"$/, '$1');
      if (target === '' || target.toLowerCase() === 'registry') continue;
      if (target.includes('%')) volatile = true;
      else queue.push(path.resolve(path.dirname(p), target));
    }
  }
  if (queue.length > 0) volatile = true;
  return { files, volatile, registry };
}

export interface SambaShareSourceOptions {
  smbConf: string;
  /** The testparm to run (default: testparm on the PATH). */
  testparm?: string;
  /** Keeps the last reading between processes (the OCF agent's syncs); null = memory only. */
  cacheFile?: string | null;
  logger?: Logger;
  timeoutMs?: number;
}

/** Reads the node's Samba shares, again only when a file they came from changed. */
export class SambaShareSource {
  readonly smbConf: string;
  private readonly opts: SambaShareSourceOptions;
  private reading: Reading | null = null;
  private lastGood: SambaCatalogue | null = null;
  /** testparm runs so far (tests and benches read it). */
  runs = 0;

  constructor(opts: SambaShareSourceOptions) {
    this.opts = opts;
    this.smbConf = path.resolve(opts.smbConf);
  }

  /** True when a file the current reading came from has changed since (a few stat calls). */
  changed(): boolean {
    return this.reading === null || !current(this.reading);
  }

  /** The shares now (null: no Samba configuration on this node). */
  catalogue(): SambaCatalogue | null {
    if (this.reading !== null && current(this.reading)) return this.reading.catalogue;
    const cached = this.fromCacheFile();
    if (cached !== null) {
      this.reading = cached;
      if (cached.catalogue !== null) this.lastGood = cached.catalogue;
      return cached.catalogue;
    }
    this.reading = this.read();
    return this.reading.catalogue;
  }

  private read(): Reading {
    const log = this.opts.logger;
    const { files, volatile, registry } = filesOf(this.smbConf);
    if (files[0]?.sig === 'absent') {
      if (this.reading?.files[0]?.sig !== 'absent') log?.info({ smbConf: this.smbConf }, 'no Samba configuration on this node: shares come from the shares map only');
      this.lastGood = null;
      return { smbConf: this.smbConf, files, catalogue: null };
    }
    const t0 = performance.now();
    let text: string;
    try {
      text = this.testparm([this.smbConf]);
    } catch (err) {
      // A broken smb.conf half-way through an edit must not make every share unknown: the last
      // good reading stands until the files change again.
      log?.warn({ err: (err as Error).message, smbConf: this.smbConf, keeping: this.lastGood?.shares.map((s) => s.name) ?? null }, 'cannot read the Samba configuration with testparm; keeping the last shares read');
      return { smbConf: this.smbConf, files, catalogue: this.lastGood };
    }
    const sections = parseTestparm(text);
    const global = globalOf(sections);
    if (registry || sambaBool(global.get('registry shares')) === true) {
      // Registry shares live in <state directory>/registry.tdb; testparm prints the directory
      // only when it is not the default, which it then tells when asked by name.
      let stateDir = global.get('state directory');
      if (stateDir === undefined) {
        try {
          stateDir = this.testparm(['--parameter-name=state directory', this.smbConf]).trim();
        } catch {
          stateDir = undefined;
        }
      }
      if (stateDir !== undefined && stateDir !== '') files.push({ path: path.join(stateDir, 'registry.tdb'), sig: sigOf(path.join(stateDir, 'registry.tdb')) });
    }
    const catalogue: SambaCatalogue = { smbConf: this.smbConf, shares: sharesOf(sections) };
    this.lastGood = catalogue;
    const ms = performance.now() - t0;
    log?.info({ smbConf: this.smbConf, shares: catalogue.shares.map((s) => s.name), files: files.length, ms: Number(ms.toFixed(1)) }, 'Samba shares read');
    const reading: Reading = { smbConf: this.smbConf, files, catalogue };
    // A file that changed while testparm ran is read again next time (its identity is now stale).
    if (volatile) return { ...reading, expires: Date.now() + VOLATILE_MS };
    if (unchanged(files)) this.toCacheFile(reading);
    return reading;
  }

  /**
   * testparm -s ARGS. It exits 1 for what it finds wrong but Samba runs with (a state directory
   * that does not exist, "ERROR: ..." on stderr) and still prints the configuration; it exits 1
   * without printing one when the configuration cannot be loaded at all.
   */
  private testparm(args: string[]): string {
    this.runs++;
    try {
      return execFileSync(this.opts.testparm ?? 'testparm', ['-s', ...args], {
        encoding: 'utf8',
        timeout: this.opts.timeoutMs ?? 10_000,
        maxBuffer: MAX_OUTPUT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LC_ALL: 'C' },
      });
    } catch (err) {
      const e = err as Error & { status?: number | null; stdout?: string; stderr?: string };
      const printed = typeof e.stdout === 'string' ? e.stdout : '';
      if (e.status === 1 && (args.some((a) => a.startsWith('--parameter-name')) ? printed.trim() !== '' : /^\[global\]$/m.test(printed))) return printed;
      const why = typeof e.stderr === 'string' ? e.stderr.split('\n').filter((l) => /error|unable|can't|cannot/i.test(l)).slice(0, 3).join('; ') : '';
      throw new Error(`testparm ${e.status !== undefined && e.status !== null ? `exited with ${e.status}` : 'failed'}: ${why !== '' ? why : e.message}`);
    }
  }

  private fromCacheFile(): Reading | null {
    const file = this.opts.cacheFile;
    if (file === undefined || file === null) return null;
    try {
      if (fs.statSync(file).size > MAX_OUTPUT) return null;
      const r = JSON.parse(fs.readFileSync(file, 'utf8')) as Reading;
      if (r.smbConf !== this.smbConf || !Array.isArray(r.files) || r.files.length === 0 || r.expires !== undefined || !unchanged(r.files)) return null;
      return r;
    } catch {
      return null;
    }
  }

  private toCacheFile(r: Reading): void {
    const file = this.opts.cacheFile;
    if (file === undefined || file === null) return;
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify(r), { mode: 0o600 });
      fs.renameSync(tmp, file);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      this.opts.logger?.debug({ err, file }, 'cannot keep the Samba shares read in the cache file');
    }
  }
}

/** The cache file of the store at `db`. */
export function sambaCacheFileFor(db: string): string {
  return `${db}.samba-shares.json`;
}

interface FilesystemDir {
  dir: string;
  /** What a share under it follows: the clone, else the group, else the primitive. */
  owner: string;
}

/** ocf:*:Filesystem primitives with their mount point (directory=), as CIB resources say. */
export function filesystemsOf(resources: readonly CibResource[]): FilesystemDir[] {
  const out: FilesystemDir[] = [];
  const walk = (r: CibResource, group: string | null, clone: string | null): void => {
    if (r.kind === 'primitive') {
      if (r.cls !== 'ocf' || r.type !== 'Filesystem') return;
      const dir = normalizePath(r.params['directory'] ?? '');
      // A file system mounted on / would swallow every share: that is no cluster storage.
      if (dir !== null && dir !== '/') out.push({ dir, owner: clone ?? group ?? r.id });
    } else if (r.kind === 'group') {
      for (const c of r.children) walk(c, r.id, clone);
    } else if (r.kind === 'clone') {
      if (r.child) walk(r.child, null, r.id);
    }
  };
  for (const r of resources) walk(r, null, null);
  return out;
}

/** The Filesystem resource (its owner) whose directory holds `dir`: the deepest one. */
export function ownerOf(dir: string, filesystems: readonly FilesystemDir[]): string | null {
  let best: FilesystemDir | null = null;
  for (const f of filesystems) {
    if (dir === f.dir || dir.startsWith(`${f.dir}/`)) {
      if (best === null || f.dir.length > best.dir.length) best = f;
    }
  }
  return best?.owner ?? null;
}

/** Resource a share follows when it follows none (local storage, a path with no mount): not a CIB id. */
export const NO_RESOURCE = '';

/**
 * The share map a sync uses: Samba's shares, each mapped to the Filesystem resource its path lies
 * under (or to none), overridden by the explicit map for the names it lists. Samba's shares count
 * only when at least one of them lies on a Filesystem resource: a node whose smb.conf shares
 * nothing from cluster storage (Debian's default one: [homes], [printers], [print$]) tells the
 * witness nothing about the cluster, and the behaviour stays that of an empty catalogue (every
 * share name accepted).
 */
export function shareMapWith(explicit: ReadonlyMap<string, string>, catalogue: SambaCatalogue | null, resources: readonly CibResource[]): Map<string, string> {
  if (catalogue === null || catalogue.shares.length === 0) return new Map(explicit);
  const filesystems = filesystemsOf(resources);
  const learnt = catalogue.shares.map((s) => ({ name: s.name, owner: s.fixedDir !== null ? ownerOf(s.fixedDir, filesystems) : null }));
  if (!learnt.some((s) => s.owner !== null)) return new Map(explicit);
  const out = new Map(explicit);
  const overridden = new Set([...explicit.keys()].map((k) => k.toLowerCase()));
  for (const s of learnt) {
    if (overridden.has(s.name.toLowerCase())) continue;
    overridden.add(s.name.toLowerCase());
    out.set(s.name, s.owner ?? NO_RESOURCE);
  }
  return out;
}
