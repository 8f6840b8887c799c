// Benchmark: one sync of a huge CIB (32 nodes, 1,000 resources) — parse, placement, diff and the
// store transaction — and its parts. Prints figures; asserts nothing. Target: under 100 ms.
//   node --import tsx bench/sync-huge.ts [nodes] [resources] [iterations]
// Runs two shapes: the usual file-server mix (one IP in four resources) and an IP-heavy one.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseCib } from '../agent/cib/parse.ts';
import { defaultViewConfig } from '../agent/config.ts';
import { deriveView, relevantResources } from '../agent/placement.ts';
import { syncXml } from '../agent/sync.ts';
import { openStore } from '../store/index.ts';
import { makeHugeCib } from '../test/fixtures/cib/huge.ts';
import { readView } from '../store/view.ts';

const nodes = Number(process.argv[2] ?? 32);
const resources = Number(process.argv[3] ?? 1000);
const iterations = Number(process.argv[4] ?? 30);

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return `p50 ${q(0.5).toFixed(1)} ms, p90 ${q(0.9).toFixed(1)} ms, max ${(s.at(-1) ?? NaN).toFixed(1)} ms`;
}

function run(ipEvery: number, label: string): void {
const xml = makeHugeCib(nodes, resources, ipEvery);
const cfg = defaultViewConfig();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-bench-sync-'));
const store = openStore(path.join(dir, 'state.db'));
try {
  const parse: number[] = [];
  const derive: number[] = [];
  const sync: number[] = [];
  syncXml(store, xml, cfg); // baseline view, and warm-up
  for (let i = 0; i < iterations; i++) {
    // Bump num_updates so every iteration is a new CIB revision that the store accepts. The
    // Buffer round trip gives a flat string, as text read from cibadmin's stdout is.
    const x = Buffer.from(xml.replace(/num_updates="(\d+)"/, (_m: string, n: string) => `num_updates="${Number(n) + i + 1}"`)).toString();
    const x2 = Buffer.from(x).toString();
    let t = performance.now();
    const cib = parseCib(x, (rs) => relevantResources(rs, cfg));
    parse.push(performance.now() - t);
    t = performance.now();
    deriveView(cib, cfg);
    derive.push(performance.now() - t);
    t = performance.now();
    syncXml(store, x2, cfg);
    sync.push(performance.now() - t);
  }
  const view = readView(store);
  console.log(`huge CIB, ${label}: ${nodes} nodes, ${resources} resources, ${(xml.length / 1024).toFixed(0)} KiB XML, ${view?.ips.length ?? 0} IPs in the view`);
  console.log(`parse:        ${stats(parse)}  (status filtered to the IPs, shares and witness clone)`);
  console.log(`placement:    ${stats(derive)}`);
  console.log(`whole sync:   ${stats(sync)}  (parse + placement + diff + store transaction; target < 100 ms)`);
} finally {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
}

run(4, 'file-server mix');
run(2, 'IP-heavy');
