// Benchmark: end to end on a real 3-node cluster. A python3-samba client (in the test network's
// hub namespace), authenticated and signing, registers with the witness on one node for the floating IP, which lives on another
// node; `crm_resource --move` moves the IP to the third node; we measure until the client's
// AsyncNotify returns RESOURCE_CHANGE UNAVAILABLE:
//   - from the moment the CIB records the stop (an independent CIB subscriber on node 1 sees it);
//   - from the command's start.
// Prints figures; asserts nothing. Root, the build and ~2 minutes.
//   node --import tsx bench/cluster-notify.ts [iterations]

import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseCib } from '../agent/cib/parse.ts';
import { FrameParser } from '../agent/watcher.ts';
import { WitnessVersion } from '../service/swn/constants.ts';
import { clientCreds, createWitnessCluster, harness, onNode, requireBuild, ROOT, STORE, until } from '../test/cluster/harness.ts';
import { runPy } from '../test/peers/peers.ts';

const ITER = Number(process.argv[2] ?? 10);
const VIP = '198.18.0.100';

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return `p50 ${q(0.5).toFixed(0)} ms, p90 ${q(0.9).toFixed(0)} ms, max ${(s.at(-1) ?? NaN).toFixed(0)} ms (n=${s.length})`;
}

requireBuild();
await harness('down');
const up = await harness('up', '3');
if (up.code !== 0) throw new Error(up.stderr);
const observer = spawn('bash', [path.join(ROOT, 'test/cluster/harness.sh'), 'exec', '1', path.join(ROOT, 'agent/watch/witness-cib-watch')], { stdio: ['ignore', 'pipe', 'inherit'] });
const frames: { at: number; xml: string }[] = [];
const parser = new FrameParser();
observer.stdout.on('data', (d: Buffer) => {
  const at = Date.now();
  for (const xml of parser.push(d)) frames.push({ at, xml });
});
try {
  await createWitnessCluster(VIP);
  const fromStop: number[] = [];
  const fromCmd: number[] = [];
  for (let i = 0; i < ITER; i++) {
    const a = (await onNode(1, 'crm_resource', '--locate', '-r', 'vip', '-Q')).trim();
    const [b = 'n1', c = 'n2'] = ['n1', 'n2', 'n3'].filter((n) => n !== a);
    const kb = Number(b.slice(1));
    const name = `bench-${i}`;
    const client = runPy([
      { op: 'connect', conn: 'w', host: `198.18.0.${kb}`, port: 5999, ...clientCreds() }, // signed, as the witness requires
      { op: 'RegisterEx', conn: 'w', version: WitnessVersion.V2, net: 'FILESRV', share: null, ip: VIP, client: name, flags: 0, timeout: 120, save: 'h' },
      { op: 'AsyncNotify', conn: 'w', handle: 'h' },
    ], 120_000, ['ip', 'netns', 'exec', 'pwci-hub']);
    await until('pending', 30_000, async () => (JSON.parse(await onNode(kb, path.join(ROOT, 'bin/witnessctl'), 'list', '--json', '--db', STORE)) as { clientName: string; pending: boolean }[]).some((r) => r.clientName === name && r.pending));
    frames.length = 0;
    const t0 = Date.now();
    await onNode(1, 'crm_resource', '--move', '-r', 'vip', '-N', c);
    const r = await client;
    const replyAt = Math.round(Number(r[2]?.['t']) * 1000);
    const stop = frames.find((f) => (parseCib(f.xml, () => new Set(['vip'])).status.find((s) => s.uname === a)?.resources.find((x) => x.id === 'vip')?.ops ?? []).some((o) => o.operation === 'stop'));
    fromCmd.push(replyAt - t0);
    if (stop) fromStop.push(replyAt - stop.at);
    console.log(`move ${i + 1}: ${a} → ${c}, client on ${b}: reply +${replyAt - t0} ms after the command${stop ? `, ${replyAt - stop.at} ms after the CIB recorded the stop` : ''}`);
    await onNode(1, 'crm_resource', '--clear', '-r', 'vip');
    await onNode(1, 'crm_resource', '--wait', '--timeout=60');
  }
  console.log('');
  console.log(`CIB records the stop → client's RESOURCE_CHANGE on another node: ${stats(fromStop)}  (target < 100 ms)`);
  console.log(`crm_resource --move → client's RESOURCE_CHANGE:               ${stats(fromCmd)}`);
} finally {
  observer.kill('SIGTERM');
  await harness('down');
}
