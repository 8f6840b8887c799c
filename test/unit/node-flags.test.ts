// witnessd's V8 flags are the same wherever it starts, and this node accepts them.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { WITNESSD_ENV, WITNESSD_NODE_FLAGS, witnessdEnv } from '../../service/node-flags.ts';

describe('witnessd node flags', () => {
  it('bin/witnessd passes every flag of service/node-flags.ts', () => {
    const shim = fs.readFileSync(new URL('../../bin/witnessd', import.meta.url), 'utf8');
    const exec = shim.split('\n').find((l) => l.startsWith('exec node ')) ?? '';
    for (const f of WITNESSD_NODE_FLAGS) assert.ok(exec.split(' ').includes(f), `bin/witnessd's exec line lacks ${f}: ${exec}`);
  });
  it('bin/witnessd sets every variable of WITNESSD_ENV unless the environment has it', () => {
    const shim = fs.readFileSync(new URL('../../bin/witnessd', import.meta.url), 'utf8');
    for (const [k, v] of Object.entries(WITNESSD_ENV)) {
      assert.ok(shim.includes(`${k}=\${${k}:-${v}}`) && shim.includes(`export ${k}`), `bin/witnessd does not set ${k}=${v}`);
    }
    assert.equal(witnessdEnv({ MALLOC_ARENA_MAX: '4' })['MALLOC_ARENA_MAX'], '4', 'an admin\'s own value wins');
    assert.equal(witnessdEnv({})['MALLOC_ARENA_MAX'], WITNESSD_ENV['MALLOC_ARENA_MAX']);
  });
  it('node accepts them', () => {
    const r = spawnSync(process.execPath, [...WITNESSD_NODE_FLAGS, '-e', 'process.exit(0)'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
});
