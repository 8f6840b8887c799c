// What the benchmarks ask a running witnessd (test/peers/peers.ts's startWitnessd): its memory
// after a full GC (the SIGUSR2 status line; witnessd runs with --expose-gc in the benchmarks) and
// how many AsyncNotify calls its store shows pending.
import { openStore } from '../store/index.ts';
import { countPendingRegistrations } from '../store/registrations.ts';
import type { Witnessd } from '../test/peers/peers.ts';

/** process.memoryUsage() of witnessd in KiB, as its status line gives it. */
export interface WitnessdMemory { rss: number; heapUsed: number; external: number; arrayBuffers: number }

/** witnessd's own status line (kill -USR2), after a full GC. */
export async function statusOf(w: Witnessd): Promise<WitnessdMemory> {
  const count = (): string[] => w.logs().split('\n').filter((l) => l.includes('"msg":"status"'));
  const before = count().length;
  w.proc.kill('SIGUSR2');
  for (let i = 0; i < 400; i++) {
    const lines = count();
    const last = lines.length > before ? lines.at(-1) : undefined;
    if (last !== undefined) return (JSON.parse(last) as { status: { memoryKiB: WitnessdMemory } }).status.memoryKiB;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no status line from witnessd');
}

/**
 * witnessd's memory after a full GC, asked twice a second apart: V8 hands the pages a GC freed
 * back to the kernel from a background task, so the first reading can still count some of them.
 */
export async function settledStatusOf(w: Witnessd): Promise<WitnessdMemory> {
  await statusOf(w);
  await new Promise((r) => setTimeout(r, 1000));
  return statusOf(w);
}

/** Waits until the store shows `n` live registrations with an AsyncNotify pending. */
export async function waitPending(db: string, n: number, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const s = openStore(db, { readonly: true });
    const k = countPendingRegistrations(s);
    s.close();
    if (k >= n) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`only ${k} of ${n} calls pending`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
