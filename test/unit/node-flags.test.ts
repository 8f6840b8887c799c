// witnessd's V8 flags are the same wherever it starts, and this node accepts them.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { WITNESSD_NODE_FLAGS } from '../../service/node-flags.ts';

describe('witnessd node flags', () => {
  it('bin/witnessd passes every flag of service/node-flags.ts', () => {
    const shim = fs.readFileSync(new URL('../../bin/witnessd', import.meta.url), 'utf8');
    const exec = shim.split('\n').find((l) => l.startsWith('exec node ')) ?? '';
    for (const f of WITNESSD_NODE_FLAGS) assert.ok(exec.split(' ').includes(f), `bin/witnessd's exec line lacks ${f}: ${exec}`);
  });
  it('node accepts them', () => {
    const r = spawnSync(process.execPath, [...WITNESSD_NODE_FLAGS, '-e', 'process.exit(0)'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
});
