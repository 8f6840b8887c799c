// Reads a V8 .cpuprofile (node --cpu-prof, e.g. witnessd started by a benchmark with
// BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=DIR') and prints where the time went: self time by
// function, optionally only in samples whose stack passes through a given function (e.g. `flush`,
// the outbox loop that writes a fan-out's replies, or `unprotectRequest`).
// --inclusive A,B,...: also the time of samples whose stack passes through each of these functions.
//   node --import tsx bench/cpuprofile-top.ts FILE [--under NAME] [--top 25] [--inclusive A,B]

import fs from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const args = process.argv.slice(2);
const file = args[0];
if (file === undefined) throw new Error('usage: cpuprofile-top.ts FILE [--under NAME] [--top N]');
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const under = opt('under');
const top = Number(opt('top') ?? 25);
const inclusive = (opt('inclusive') ?? '').split(',').filter((x) => x !== '');

const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const label = (n: ProfileNode): string => {
  const f = n.callFrame;
  const where = f.url === '' ? '' : ` ${f.url.replace(/^file:\/\/.*?\/(service|store|agent|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
  return `${f.functionName === '' ? '(anonymous)' : f.functionName}${where}`;
};

/** Whether the stack of node `id` passes through a function named `name`. */
const memo = new Map<string, Map<number, boolean>>();
function passes(id: number, name: string): boolean {
  let within = memo.get(name);
  if (!within) {
    within = new Map();
    memo.set(name, within);
  }
  const known = within.get(id);
  if (known !== undefined) return known;
  const n = byId.get(id);
  let r = false;
  if (n) r = n.callFrame.functionName === name || (parent.has(id) && passes(parent.get(id) ?? 0, name));
  within.set(id, r);
  return r;
}

const self = new Map<string, number>();
const incl = new Map<string, number>(inclusive.map((f) => [f, 0]));
let total = 0;
let all = 0;
for (let i = 0; i < p.samples.length; i++) {
  const id = p.samples[i] ?? 0;
  // timeDeltas[i] is the time before sample i; the sample's weight is the time to the next one.
  const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
  all += dt;
  for (const f of inclusive) if (passes(id, f)) incl.set(f, (incl.get(f) ?? 0) + dt);
  if (under !== undefined && !passes(id, under)) continue;
  const n = byId.get(id);
  if (!n) continue;
  const k = label(n);
  self.set(k, (self.get(k) ?? 0) + dt);
  total += dt;
}
console.log(`${file}: ${all.toFixed(0)} ms sampled${under !== undefined ? `, ${total.toFixed(0)} ms of it under ${under}()` : ''}`);
for (const [k, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${ms.toFixed(1).padStart(9)} ms ${((100 * ms) / Math.max(total, 1e-9)).toFixed(1).padStart(5)}%  ${k}`);
}
for (const [f, ms] of incl) console.log(`inclusive ${f}(): ${ms.toFixed(1)} ms (${((100 * ms) / Math.max(all, 1e-9)).toFixed(1)}% of all)`);
