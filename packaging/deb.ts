// `npm run package`: the Debian package, built with dpkg-deb from a staged tree.
//
//   /usr/lib/pacemaker-witness/          the bundles (packaging/bundle.ts), the native module, the watcher
//   /usr/bin/witnessd, witnessctl, witness-agent
//   /usr/lib/ocf/resource.d/witness/witnessd and tickle (ocf:witness:tickle, docs/deploy-samba.md)
//   /usr/share/doc/pacemaker-witness/copyright (ours and the bundled npm packages' licences)
//   postinst/prerm/postrm from packaging/debian/ (state, log and cache directories)
//
// Node.js: Debian 12's nodejs is 18, too old; NodeSource's nodejs package (same name, version
// 20.x) is what the package depends on. The upper bound is there because better-sqlite3's native
// module is built for one Node ABI (20 → 115): another major version could not load it, so apt
// refuses the combination up front, and the stubs check the ABI anyway (packaging/launch.ts) for a
// node that got there some other way. The other Depends come from dpkg-shlibdeps (the watcher's
// libcib/libcrmcommon/glib, the native module's libstdc++) plus pacemaker-cli-utils (cibadmin,
// crm_node, attrd_updater, crm_simulate, which the agent runs).
//
// Re-running with unchanged inputs reuses the .deb: its name carries the hash of the staged tree.

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleTree, ROOT, type Bundled } from './bundle.ts';
import { ENTRIES, OCF_AGENTS, type Entry } from './entries.ts';

/** The entries that go on the PATH. */
const COMMANDS: readonly string[] = ['witnessd', 'witnessctl', 'witness-agent'];

export const PKG = 'pacemaker-witness';
/** Where the package puts its code (the bundle tree). */
export const LIB_DIR = '/usr/lib/pacemaker-witness';
export const NODE = '/usr/bin/node';
export const OCF_DIR = '/usr/lib/ocf/resource.d/witness';
/** @testOnly where the package test and bench/startup find the installed OCF agent (a fact of this layout). */
export const OCF_AGENT = `${OCF_DIR}/witnessd`;
export const CACHE_DIR = '/var/cache/pacemaker-witness';
const OUT_DIR = path.join(ROOT, 'dist/deb');

interface PackageJson {
  version: string;
  description: string;
  license: string;
  engines?: { node?: string };
}

function readPackageJson(): PackageJson {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;
}

/** The nodejs versions the package accepts: package.json's engines floor, below the next major. */
export function nodeDepends(engines: string | undefined, running: string = process.versions.node): string {
  const major = Number(running.split('.')[0]);
  const floor = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(engines ?? '')?.[1];
  const lower = floor !== undefined && Number(floor.split('.')[0]) === major ? floor : String(major);
  return `nodejs (>= ${lower}), nodejs (<< ${major + 1})`;
}

/** dpkg-shlibdeps' Depends for the ELF files (it wants a debian/control to exist, so one is made). */
function shlibDepends(elves: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-shlibs-'));
  try {
    fs.mkdirSync(path.join(dir, 'debian'));
    fs.writeFileSync(path.join(dir, 'debian/control'), `Source: ${PKG}\n\nPackage: ${PKG}\nArchitecture: any\n`);
    const out = execFileSync('dpkg-shlibdeps', ['-O', '--warnings=0', ...elves.map((e) => `-e${e}`)], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const m = /^shlibs:Depends=(.*)$/m.exec(out);
    if (!m?.[1]) throw new Error(`dpkg-shlibdeps printed no Depends: ${out}`);
    return m[1];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function writeFile(file: string, text: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
}

/** /usr/bin/<name>: the interpreter checked, the entry's environment defaults, then the stub. */
function commandWrapper(e: Entry): string {
  const flags = e.nodeFlags.length > 0 ? `${e.nodeFlags.join(' ')} ` : '';
  const env = Object.entries(e.env ?? {}).map(([k, v]) => `${k}=\${${k}:-${v}}\nexport ${k}\n`).join('');
  return `#!/bin/sh
# ${e.name} (${PKG} package): runs ${LIB_DIR}/${e.dist}.${env !== '' ? ' Node flags and environment: service/node-flags.ts says why.' : ''}
[ -x ${NODE} ] || { echo "${e.name}: ${NODE} is missing: install Node.js 20 (NodeSource's nodejs package)" >&2; exit 5; }
${env}exec ${NODE} ${flags}${LIB_DIR}/${e.dist} "$@"
`;
}

/** Licences of what the bundles contain: each npm package esbuild put in, with its LICENSE text. */
function copyright(bundled: readonly string[]): string {
  const pkg = readPackageJson();
  const parts = [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    `Upstream-Name: ${PKG}`,
    '',
    'Files: *',
    `License: ${pkg.license}`,
    ' The pacemaker-witness code in /usr/lib/pacemaker-witness (bundled with the npm packages below).',
  ];
  for (const name of bundled) {
    const dir = path.join(ROOT, 'node_modules', name);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string; license?: string };
    const lic = fs.readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.md|\.txt)?$/i.test(f));
    parts.push('', `Files: bundled npm package ${name} ${meta.version ?? ''}`.trimEnd(), `License: ${meta.license ?? 'see upstream'}`);
    if (lic !== undefined) {
      for (const line of fs.readFileSync(path.join(dir, lic), 'utf8').split('\n')) parts.push(line.trim() === '' ? ' .' : ` ${line}`);
    }
  }
  return `${parts.join('\n')}\n`;
}

/** Every file under dir, sorted, for the tree's hash. */
function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) out.push(r + '/', ...walk(dir, r));
    else out.push(r);
  }
  return out;
}

function treeHash(dir: string): string {
  const h = createHash('sha256');
  h.update(`./\0${(fs.statSync(dir).mode & 0o7777).toString(8)}\0`);
  for (const rel of walk(dir)) {
    const st = fs.statSync(path.join(dir, rel));
    h.update(`${rel}\0${(st.mode & 0o7777).toString(8)}\0`);
    if (st.isFile()) h.update(fs.readFileSync(path.join(dir, rel)));
  }
  return h.digest('hex').slice(0, 16);
}

export interface BuiltPackage {
  deb: string;
  version: string;
  /** False when an identical package was already there. */
  built: boolean;
  bundles: Bundled[];
}

/** Stages the package's tree and builds the .deb (or finds the one already built from the same tree). */
export async function buildPackage(outDir: string = OUT_DIR): Promise<BuiltPackage> {
  const pkg = readPackageJson();
  const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-deb-'));
  // The tree's root is the package's "./": mkdtemp's 0700 would be recorded for / itself.
  fs.chmodSync(stage, 0o755);
  try {
    const lib = path.join(stage, LIB_DIR);
    const bundles = await bundleTree(lib, CACHE_DIR);
    const packages = [...new Set(bundles.flatMap((b) => b.packages))].sort();
    for (const e of ENTRIES) if (COMMANDS.includes(e.name)) writeFile(path.join(stage, 'usr/bin', e.name), commandWrapper(e), 0o755);
    for (const a of OCF_AGENTS) {
      const shim = fs.readFileSync(path.join(ROOT, a.template), 'utf8').replace('@WITNESS_ROOT@', LIB_DIR).replace('@NODE@', NODE);
      writeFile(path.join(stage, OCF_DIR, a.name), shim, 0o755);
    }
    writeFile(path.join(stage, 'usr/share/doc', PKG, 'copyright'), copyright(packages));
    const depends = [
      shlibDepends([path.join(lib, 'agent/watch/witness-cib-watch'), path.join(lib, 'native/better_sqlite3.node'), path.join(lib, 'native/gss.node')]),
      nodeDepends(pkg.engines?.node),
      'pacemaker-cli-utils',
    ].join(', ');
    const size = Math.ceil(walk(stage).reduce((n, rel) => n + fs.statSync(path.join(stage, rel)).size, 0) / 1024);
    const control = [
      `Package: ${PKG}`,
      `Version: ${pkg.version}`,
      `Architecture: ${arch}`,
      'Maintainer: pacemaker-witness developers <root@localhost>',
      `Installed-Size: ${size}`,
      `Depends: ${depends}`,
      'Recommends: pacemaker, pcs',
      'Suggests: winbind, samba',
      'Section: admin',
      'Priority: optional',
      `Description: ${pkg.description}`,
      ' witnessd (the MS-SWN service: DCE/RPC with an endpoint mapper), witness-agent (follows the',
      ' CIB into a per-node SQLite store), witnessctl (the admin\'s tool) and the OCF resource agent',
      ' ocf:witness:witnessd, run as a clone: pcs resource create witness ocf:witness:witnessd',
      ' netname=NAME clone.',
    ].join('\n');
    writeFile(path.join(stage, 'DEBIAN/control'), `${control}\n`);
    for (const s of ['postinst', 'prerm', 'postrm']) writeFile(path.join(stage, 'DEBIAN', s), fs.readFileSync(path.join(ROOT, 'packaging/debian', s), 'utf8'), 0o755);
    // dist/deb/<hash of the tree>/pacemaker-witness_<version>_<arch>.deb; older trees' packages go.
    const hash = treeHash(stage);
    const deb = path.join(outDir, hash, `${PKG}_${pkg.version}_${arch}.deb`);
    const built = !fs.existsSync(deb);
    if (built) {
      fs.mkdirSync(path.dirname(deb), { recursive: true });
      const tmp = `${deb}.${process.pid}.tmp`;
      execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, tmp], { stdio: ['ignore', 'ignore', 'inherit'] });
      fs.renameSync(tmp, deb);
      for (const old of fs.readdirSync(outDir)) if (old !== hash) fs.rmSync(path.join(outDir, old), { recursive: true, force: true });
    }
    return { deb, version: pkg.version, built, bundles };
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const r = await buildPackage();
  for (const b of r.bundles) process.stdout.write(`${b.entry.name}: ${(b.bytes / 1024).toFixed(0)} KiB bundle\n`);
  process.stdout.write(`${r.built ? 'built' : 'unchanged'}: ${r.deb}\n`);
}
