// Benchmark: how fast does every node's store learn of an IP move? On a real 3-node cluster
// (test/cluster/harness.sh), `crm_resource --move` the IP N times and measure, per node:
//   - from the moment the CIB records the stop of the IP on its old node (seen by an independent
//     CIB subscriber on node 1) to the event row committed in that node's store;
//   - from the command's start to the row.
// Prints figures; asserts nothing. Needs root, the build, and the agent installed by the script.
//   node --import tsx bench/watch-latency.ts [iterations]

import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseCib } from '../agent/cib/parse.ts';
import { FrameParser } from '../agent/watcher.ts';
import { createWitnessCluster, harness, onNode, requireBuild, ROOT, show } from '../test/cluster/harness.ts';

const ITER = Number(process.argv[2] ?? 10);
const VIP = '198.18.0.100';
const NODES = [1, 2, 3];

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return `p50 ${q(0.5).toFixed(1)} ms, p90 ${q(0.9).toFixed(1)} ms, max ${(s.at(-1) ?? NaN).toFixed(1)} ms (n=${s.length})`;
}

interface Frame { at: number; xml: string }

/**
 * When the observer first saw the stop of the IP on `node` in the CIB: the controller records an
 * operation as pending (op-status -1) when it starts it, then its result; either counts.
 */

function stopSeenAt(frames: Frame[], node: string, afterCall: number): number | null {
  for (const f of frames) {
    const cib = parseCib(f.xml, () => new Set(['vip']));
    const ops = cib.status.find((s) => s.uname === node)?.resources.find((r) => r.id === 'vip')?.ops ?? [];
    if (ops.some((o) => o.operation === 'stop' && (o.opStatus === -1 || o.callId > afterCall))) return f.at;
  }
  return null;
}

function lastCall(xml: string, node: string): number {
  const ops = parseCib(xml, () => new Set(['vip'])).status.find((s) => s.uname === node)?.resources.find((r) => r.id === 'vip')?.ops ?? [];
  return Math.max(-1, ...ops.map((o) => o.callId));
}

async function main(): Promise<void> {
  requireBuild();
  await harness('down');
  const up = await harness('up', '3');
  if (up.code !== 0) throw new Error(up.stderr);
  const observer = spawn('bash', [path.join(ROOT, 'test/cluster/harness.sh'), 'exec', '1', path.join(ROOT, 'agent/watch/witness-cib-watch')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await createWitnessCluster(VIP);

    const frames: Frame[] = [];
    const parser = new FrameParser();
    observer.stdout.on('data', (d: Buffer) => {
      const at = Date.now();
      for (const xml of parser.push(d)) frames.push({ at, xml });
    });
    // Each event row carries `at`, the commit time on its node (one clock: one machine), so the
    // stores can be read after the fact instead of being polled on the hot path.
    const lastSeq = async (k: number): Promise<number> => (await show(k))?.events.at(-1)?.seq ?? 0;
    const fromStop = new Map<number, number[]>(NODES.map((k) => [k, []]));
    const fromCmd = new Map<number, number[]>(NODES.map((k) => [k, []]));
    const spread: number[] = [];

    // The cost a polling design would pay per look at the CIB.
    const q0 = performance.now();
    for (let i = 0; i < 5; i++) await onNode(1, 'cibadmin', '--query', '--local');
    const cibadminMs = (performance.now() - q0) / 5;

    for (let i = 0; i < ITER; i++) {
      const from = (await onNode(1, 'crm_resource', '--locate', '-r', 'vip', '-Q')).trim();
      const to = ['n1', 'n2', 'n3'][(Number(from.slice(1)) % 3)] ?? 'n1';
      const base = new Map<number, number>();
      for (const k of NODES) base.set(k, await lastSeq(k));
      const call = lastCall(frames.at(-1)?.xml ?? '<cib epoch="0"/>', from);
      frames.length = 0;
      const t0 = Date.now();
      await onNode(1, 'crm_resource', '--move', '-r', 'vip', '-N', to);
      const got = new Map<number, number>();
      const deadline = Date.now() + 30_000;
      while (got.size < NODES.length && Date.now() < deadline) {
        for (const k of NODES) {
          if (got.has(k)) continue;
          const ev = (await show(k))?.events.find((e) => e.seq > (base.get(k) ?? 0) && e.subject === VIP && (e.kind === 'ip_offline' || e.kind === 'ip_moved'));
          if (ev) got.set(k, ev.at);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 300)); // let the observer's frames arrive
      const stopAt = stopSeenAt(frames, from, call);
      for (const [k, at] of got) {
        fromCmd.get(k)?.push(at - t0);
        if (stopAt !== null) fromStop.get(k)?.push(at - stopAt);
      }
      const ats = [...got.values()];
      if (ats.length === NODES.length) spread.push(Math.max(...ats) - Math.min(...ats));
      console.log(`move ${i + 1}: ${from} → ${to}; ${[...got].map(([k, at]) => `n${k} +${at - t0} ms`).join(', ')}${stopAt !== null ? `; stop recorded at +${stopAt - t0} ms` : ''}`);
      await onNode(1, 'crm_resource', '--clear', '-r', 'vip');
      await onNode(1, 'crm_resource', '--wait', '--timeout=60');
    }
    console.log('');
    console.log(`cibadmin --query --local: ${cibadminMs.toFixed(0)} ms per call (what each poll would cost)`);
    for (const k of NODES) {
      console.log(`n${k}: CIB records the stop (pending) → event row: ${stats(fromStop.get(k) ?? [])}`);
      console.log(`n${k}: crm_resource --move → event row:           ${stats(fromCmd.get(k) ?? [])}`);
    }
    console.log(`spread between the first and the last node: ${stats(spread)}  (target: every node within 100 ms)`);
  } finally {
    observer.kill('SIGTERM');
    await harness('down');
  }
}

await main();
