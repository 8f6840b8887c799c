// packaging/lazy-builtins.ts: a bundle built with esbuild and the plugin, run by node: the listed
// built-in modules load when first used, not when required, and behave as the real ones.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { lazyBuiltins } from '../../packaging/lazy-builtins.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-lazy-builtins-'));
// Without the test runner's NODE_OPTIONS (its loader brings these modules in itself).
const CLEAN = { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, encoding: 'utf8' } as const;

// ESM and CommonJS ways in (esbuild's __toESM for default imports, plain require for commander's
// style), a function module (assert), a name read through the fallback Proxy, and writes.
const SOURCE = `
import { execFileSync } from 'node:child_process';
import fsp from 'node:fs/promises';
import assert from 'node:assert';
const cp = require('child_process');
const loaded = (m) => process.moduleLoadList.includes('NativeModule ' + m);
const out = { atStart: ['child_process', 'fs/promises', 'assert'].filter(loaded) };
out.sameFunction = cp.spawnSync === require('node:child_process').spawnSync;
out.afterRequire = ['child_process', 'fs/promises', 'assert'].filter(loaded);
out.echo = execFileSync('/bin/echo', ['hi'], { encoding: 'utf8' }).trim();
out.afterCall = ['child_process', 'fs/promises', 'assert'].filter(loaded);
out.readFile = typeof fsp.readFile;
assert(true);
try { assert.equal(1, 2); } catch (e) { out.assertError = e.constructor.name; }
try { assert(false, 'nope'); } catch (e) { out.assertCall = e.message; }
out.unlisted = typeof cp.__pw_not_there;
out.afterAll = ['child_process', 'fs/promises', 'assert'].filter(loaded);
process.stdout.write(JSON.stringify(out));
`;

describe('lazy built-in modules in a bundle', () => {
  let file = '';
  before(async () => {
    fs.writeFileSync(path.join(tmp, 'entry.js'), SOURCE);
    file = path.join(tmp, 'out.cjs');
    await build({ entryPoints: [path.join(tmp, 'entry.js')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: file, plugins: [lazyBuiltins(['child_process', 'fs/promises', 'assert'])], logLevel: 'error' });
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('loads each module at its first use, and it then works as the real one', () => {
    const r = spawnSync(process.execPath, [file], CLEAN);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(out['atStart'], []);
    // Reading cp.spawnSync loaded child_process; the others stay unloaded until they are used.
    assert.equal(out['sameFunction'], true);
    assert.deepEqual(out['afterRequire'], ['child_process']);
    assert.equal(out['echo'], 'hi');
    assert.equal(out['readFile'], 'function');
    assert.equal(out['assertError'], 'AssertionError');
    assert.equal(out['assertCall'], 'nope');
    assert.equal(out['unlisted'], 'undefined');
    assert.deepEqual(out['afterAll'], ['child_process', 'fs/promises', 'assert']);
  });

  it('leaves a bundle without the plugin loading them at start (the control)', async () => {
    const plain = path.join(tmp, 'plain.cjs');
    await build({ entryPoints: [path.join(tmp, 'entry.js')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: plain, logLevel: 'error' });
    const r = spawnSync(process.execPath, [plain], CLEAN);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as Record<string, unknown>)['atStart'], ['child_process', 'fs/promises', 'assert']);
  });
});
