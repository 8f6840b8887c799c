// Memory witnessd holds per client, without the fan-out rounds of bench/fanout.ts (which prints
// the same figure at the end of a longer run): N clients each connect, bind (plain, or NTLMSSP at
// privacy with --auth seal), RegisterEx and leave an AsyncNotify pending; then witnessd's RSS, JS
// heap, external and ArrayBuffer memory after a full GC (its SIGUSR2 status line), per client.
//
//   node --import tsx bench/client-memory.ts [N] [--auth none|seal|both] [--snapshot DIR]
//
// --snapshot DIR writes a V8 heap snapshot of witnessd with the clients connected (open it in
// Chrome's DevTools, Memory tab; compare a sealed run with a plain one).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startWitnessd, type Witnessd } from '../test/peers/peers.ts';
import { RawClient, type ClientAuth, stubOf } from '../test/helpers/rpc-client.ts';
import { AuthLevel } from '../service/auth/context.ts';
import { Opnum, WitnessVersion } from '../service/swn/constants.ts';
import { encodeRegisterEx, decodeHandleAndStatus } from '../service/swn/codec.ts';
import { PType, PFC, serializePdu } from '../service/rpc/pdu.ts';
import { benchCredentials, killOnExit, makeAccountFile } from './auth-common.ts';
import { settledStatusOf, waitPending, type WitnessdMemory } from './witnessd-probe.ts';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const AUTH = flag('--auth') ?? 'both';
if (!['none', 'seal', 'both'].includes(AUTH)) throw new Error(`--auth ${AUTH}: none, seal or both`);
const SNAPSHOT = flag('--snapshot');
const N = Number(argv.find((a, i) => /^\d+$/.test(a) && !['--auth', '--snapshot'].includes(argv[i - 1] ?? '')) ?? 5000);

async function connectAll(w: Witnessd, n: number, auth: ClientAuth | null): Promise<RawClient[]> {
  const out: RawClient[] = [];
  const batch = 200;
  let callId = 1000;
  for (let i = 0; i < n; i += batch) {
    out.push(...await Promise.all(Array.from({ length: Math.min(batch, n - i) }, async (_, j) => {
      const c = await RawClient.connect(w.port);
      await c.bind(0, false, auth);
      const reg = decodeHandleAndStatus(stubOf(await c.call(Opnum.RegisterEx, encodeRegisterEx({
        version: WitnessVersion.V2, netName: 'FILESRV', shareName: null, ipAddress: '127.0.0.2', clientName: `mem-${i + j}`, flags: 0, keepAliveSec: 600,
      }))));
      if (reg.status !== 0) throw new Error(`RegisterEx failed: ${reg.status}`);
      c.socket.removeAllListeners('data');
      c.socket.on('data', () => { /* the reply would come at the next event; none is made */ });
      const id = ++callId;
      c.write(c.level === AuthLevel.NONE
        ? serializePdu({ ptype: PType.REQUEST, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId: id, allocHint: reg.handle.length, contextId: 0, opnum: Opnum.AsyncNotify, object: null, stub: reg.handle, auth: null })
        : c.request(id, Opnum.AsyncNotify, reg.handle));
      return c;
    })));
  }
  return out;
}

const kb = (x: number): string => x.toFixed(2);

async function run(sealed: boolean, dir: string): Promise<void> {
  const accounts = sealed ? makeAccountFile(dir) : null;
  const w = await startWitnessd({
    nodeArgs: ['--expose-gc', ...(process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean), ...(SNAPSHOT !== undefined ? ['--heapsnapshot-signal=SIGUSR1', `--diagnostic-dir=${SNAPSHOT}`] : [])],
    extra: ['--log-level', 'info', '--force-unregister-after', '0'],
    ...(accounts !== null ? { auth: ['--accounts', accounts] } : {}),
  });
  const release = killOnExit(w.proc.pid);
  try {
    const base = await settledStatusOf(w);
    const clients = await connectAll(w, N, sealed ? benchCredentials(AuthLevel.PRIVACY) : null);
    await waitPending(w.db, N, 120_000);
    await new Promise((r) => setTimeout(r, 500));
    const m = await settledStatusOf(w);
    const per = (k: keyof WitnessdMemory): string => kb((m[k] - base[k]) / N);
    console.log(`N=${N} ${sealed ? 'sealed' : 'unauthenticated'}: per connection + registration + pending call, after a full GC: RSS ${per('rss')} KB, JS heap ${per('heapUsed')} KB, external ${per('external')} KB (ArrayBuffers ${per('arrayBuffers')} KB)`);
    if (SNAPSHOT !== undefined) {
      const before = new Set(fs.readdirSync(SNAPSHOT));
      w.proc.kill('SIGUSR1');
      for (let i = 0; i < 600; i++) {
        const made = fs.readdirSync(SNAPSHOT).filter((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
        if (made.length > 0 && fs.statSync(path.join(SNAPSHOT, made[0] ?? '')).size > 0) {
          await new Promise((r) => setTimeout(r, 3000));
          console.log(`heap snapshot: ${path.join(SNAPSHOT, made[0] ?? '')}`);
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    for (const c of clients) c.socket.destroy();
  } finally {
    await w.stop();
    release();
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-client-memory-'));
try {
  if (AUTH !== 'seal') await run(false, dir);
  if (AUTH !== 'none') await run(true, dir);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
