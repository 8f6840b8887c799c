// The house rules' check (.ci/check-structure.ts, run by `npm run lint`) on a small made-up tree:
// silent on a tree that keeps them, and one finding for each rule a tree breaks.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

const SCRIPT = path.resolve('.ci/check-structure.ts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-structure-'));
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A tree that keeps every rule, with `change` applied to its files. */
function tree(name: string, change: Record<string, string> = {}): string {
  const root = path.join(tmp, name);
  const files: Record<string, string> = {
    'store/index.ts': "export class Store {\n  stmt(sql: string): string {\n    return sql;\n  }\n}\nexport function openStore(file: string): Store {\n  void file;\n  return new Store();\n}\n",
    'store/view.ts': "import type { Store } from './index.ts';\n/** The view. */\nexport function readView(store: Store): string | null {\n  return store.stmt('SELECT 1');\n}\n",
    'agent/sync.ts': "import { openStore } from '../store/index.ts';\nimport { readView } from '../store/view.ts';\nexport function syncOnce(db: string): string | null {\n  return readView(openStore(db));\n}\n",
    'service/daemon.ts': "import { openStore } from '../store/index.ts';\nimport { readView } from '../store/view.ts';\nexport function start(db: string): string | null {\n  return readView(openStore(db));\n}\n",
    'ocf/agent.ts': "import { syncOnce } from '../agent/sync.ts';\nimport { start } from '../service/daemon.ts';\nvoid syncOnce('a');\nvoid start('b');\n",
    'docs/CONTRACTS.md': "# Contracts\n\nstore/view.ts:\n```ts\n// store/view.ts\nreadView(store: Store): string | null\n```\n",
    ...change,
  };
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), text);
  }
  return root;
}

function check(root: string): { status: number | null; lines: string[] } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, '--root', root], { encoding: 'utf8' });
  return { status: r.status, lines: r.stdout.trim().split('\n') };
}

describe('.ci/check-structure.ts', () => {
  it('a tree that keeps the rules: no finding, exit 0', () => {
    const r = check(tree('clean'));
    assert.deepEqual(r.lines, ['check-structure: 5 files, 0 finding(s)']);
    assert.equal(r.status, 0);
  });

  it('each broken rule is one finding, and the exit status is 1', () => {
    const r = check(
      tree('broken', {
        // the agent reaches into the service
        'agent/sync.ts': "import { openStore } from '../store/index.ts';\nimport { readView } from '../store/view.ts';\nimport { start } from '../service/daemon.ts';\nexport function syncOnce(db: string): string | null {\n  void start;\n  return readView(openStore(db));\n}\n",
        // two files of one room importing each other, and SQL outside store/
        'service/a.ts': "import { b } from './b.ts';\nexport const a = (): number => b() + 1;\n",
        'service/b.ts': "import { a } from './a.ts';\nimport type { Store } from '../store/index.ts';\nexport const b = (): number => a() - 1;\nexport function raw(s: Store): string {\n  return s.stmt('SELECT 2');\n}\n",
        // the document says another signature
        'docs/CONTRACTS.md': "```ts\n// store/view.ts\nreadView(store: Store, limit: number): string | null\n```\nSee store/gone.ts.\n",
      }),
    );
    assert.equal(r.status, 1);
    const text = r.lines.join('\n');
    assert.match(text, /^layer: agent\/sync\.ts imports service\/daemon\.ts \(room agent\/ may import store\/\)$/m);
    assert.match(text, /^circle: service\/a\.ts <-> service\/b\.ts$/m);
    assert.match(text, /^sql outside store\/: service\/b\.ts: \.stmt\(/m);
    assert.match(text, /^dead export: service\/b\.ts: raw$/m);
    assert.match(text, /^contracts: docs\/CONTRACTS\.md names store\/gone\.ts, which does not exist$/m);
    assert.match(text, /^contracts: docs\/CONTRACTS\.md: store\/view\.ts readView is\n {4}readView\(store: Store\): string \| null\n {2}the document says\n {4}readView\(store: Store, limit: number\): string \| null$/m);
  });
});
