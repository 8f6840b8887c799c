// What learning the shares from Samba costs the agent (agent/samba-shares.ts): a fresh reading
// (testparm -s on a private smb.conf with N shares, parsed and mapped), and the check the watcher
// makes every second while nothing changed (a stat per file). CPU of testparm from /proc
// (children's user+system time), since wall-clock figures on a shared machine mislead.
//
//   node --import tsx bench/samba-shares.ts [N=10,200] [runs=10]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SambaShareSource, shareMapWith } from '../agent/samba-shares.ts';
import type { CibResource } from '../agent/cib/types.ts';

const sizes = (process.argv[2] ?? '10,200').split(',').map(Number);
const runs = Number(process.argv[3] ?? 10);
const TICK = 100; // USER_HZ on Linux

/** Children's CPU so far, in ms (fields 16 and 17 of /proc/self/stat). */
function childCpuMs(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / TICK;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-bench-shares-'));
try {
  for (const d of ['state', 'cache', 'lock', 'private', 'pid', 'ncalrpc']) fs.mkdirSync(path.join(dir, d));
  const resources: CibResource[] = Array.from({ length: 10 }, (_, g) => ({
    kind: 'group',
    id: `g${g}`,
    meta: {},
    children: [{ kind: 'primitive', id: `fs${g}`, cls: 'ocf', provider: 'heartbeat', type: 'Filesystem', params: { directory: `/srv/fs${g}` }, meta: {} }],
  }));
  for (const n of sizes) {
    const conf = path.join(dir, `smb-${n}.conf`);
    const global = ['state directory', 'cache directory', 'lock directory', 'private dir', 'pid directory', 'ncalrpc dir'].map((k, i) => `\t${k} = ${dir}/${['state', 'cache', 'lock', 'private', 'pid', 'ncalrpc'][i] ?? ''}`).join('\n');
    const shares = Array.from({ length: n }, (_, i) => `[share${i}]\n\tpath = /srv/fs${i % 10}/s${i}\n`).join('\n');
    fs.writeFileSync(conf, `[global]\n${global}\n\tload printers = no\n\n${shares}`);
    const src = new SambaShareSource({ smbConf: conf });
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < runs; r++) {
      fs.appendFileSync(conf, `# ${r}\n`); // a change: the next reading runs testparm
      const c0 = childCpuMs();
      const t0 = performance.now();
      const cat = src.catalogue();
      shareMapWith(new Map(), cat, resources);
      wall.push(performance.now() - t0);
      cpu.push(childCpuMs() - c0);
      if (cat?.shares.length !== n) throw new Error(`read ${cat?.shares.length ?? 0} shares, expected ${n}`);
    }
    const checks = 10_000;
    const t1 = performance.now();
    for (let i = 0; i < checks; i++) if (src.changed()) throw new Error('changed while nothing changed');
    const checkUs = ((performance.now() - t1) * 1000) / checks;
    const t2 = performance.now();
    for (let i = 0; i < 1000; i++) src.catalogue();
    const cachedUs = ((performance.now() - t2) * 1000) / 1000;
    console.log(`${n} shares: fresh reading (testparm -s + parse + map) p50 ${pct(wall, 50).toFixed(1)} ms, max ${Math.max(...wall).toFixed(1)} ms; testparm CPU p50 ${pct(cpu, 50).toFixed(0)} ms (${runs} runs, ${src.runs} testparm runs); unchanged check ${checkUs.toFixed(1)} µs; cached catalogue() ${cachedUs.toFixed(1)} µs`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
