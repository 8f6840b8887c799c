// packaging/launch.ts, built as the package builds it and run by node: one V8 code cache per
// bundle and first argument (an OCF probe and a recurring monitor apart), written after a run that
// exits 0, taken back by the next run, never written after a failed run.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { cacheKey } from '../../packaging/launch.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-launch-'));
const cache = path.join(tmp, 'cache');

// A program with a function to compile; its exit code is 3 when asked to fail.
const PROGRAM = `
function f(x) { return x * 2; }
process.stdout.write(String(f(21)));
if (process.argv[2] === 'fail') process.exitCode = 3;
`;

function run(args: string[], env: Record<string, string> = {}): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [path.join(tmp, 'prog.js'), ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env } });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('launch: the code cache', () => {
  before(async () => {
    fs.mkdirSync(cache);
    await build({ entryPoints: [path.join(ROOT, 'packaging/launch.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: path.join(tmp, 'launch.cjs'), logLevel: 'error' });
    fs.writeFileSync(path.join(tmp, 'prog.bundle.cjs'), PROGRAM);
    const opts = { hash: '0123456789abcdef', cacheDir: cache, abi: process.versions.modules, builtWith: process.versions.node };
    fs.writeFileSync(path.join(tmp, 'prog.js'), `require('./launch.cjs').launch(require('node:path').join(__dirname, 'prog.bundle.cjs'), ${JSON.stringify(opts)});\n`);
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('keys a cache by the first argument, an OCF recurring monitor apart from a probe', () => {
    assert.equal(cacheKey(['node', 'x', 'list', '--db', 'y']), 'list');
    assert.equal(cacheKey(['node', 'x', '--help']), 'main');
    assert.equal(cacheKey(['node', 'x']), 'main');
    assert.equal(cacheKey(['node', 'x', 'monitor'], {}), 'monitor');
    assert.equal(cacheKey(['node', 'x', 'monitor'], { OCF_RESKEY_CRM_meta_interval: '0' }), 'monitor');
    assert.equal(cacheKey(['node', 'x', 'monitor'], { OCF_RESKEY_CRM_meta_interval: '10000' }), 'monitor-recurring');
    assert.equal(cacheKey(['node', 'x', 'start'], { OCF_RESKEY_CRM_meta_interval: '10000' }), 'start');
  });

  it('writes one file per key after a run that exits 0, and none after a failed run', () => {
    assert.deepEqual(run(['monitor'], { OCF_RESKEY_CRM_meta_interval: '0' }), { code: 0, out: '42' });
    assert.deepEqual(run(['monitor'], { OCF_RESKEY_CRM_meta_interval: '10000' }), { code: 0, out: '42' });
    assert.deepEqual(run([]), { code: 0, out: '42' });
    assert.deepEqual(run(['fail']), { code: 3, out: '42' });
    assert.deepEqual(fs.readdirSync(cache).sort(), ['prog.bundle-0123456789abcdef-main.v8', 'prog.bundle-0123456789abcdef-monitor-recurring.v8', 'prog.bundle-0123456789abcdef-monitor.v8']);
  });

  it('takes the cache back on the next run and leaves the file as it is; a cache V8 refuses is written anew', () => {
    const file = path.join(cache, 'prog.bundle-0123456789abcdef-main.v8');
    const before = fs.statSync(file);
    assert.deepEqual(run([]), { code: 0, out: '42' });
    assert.equal(fs.statSync(file).mtimeMs, before.mtimeMs);
    assert.equal(fs.statSync(file).ino, before.ino);
    // A cache of another source (V8 checks its length and flags): refused, replaced after the run.
    fs.writeFileSync(file, Buffer.alloc(64, 7));
    assert.deepEqual(run([]), { code: 0, out: '42' });
    assert.notEqual(fs.statSync(file).size, 64);
  });
});
