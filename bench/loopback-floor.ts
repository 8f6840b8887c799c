// Benchmark: the floor under bench/fanout.ts on this machine. A bare Node loop (no RPC, no
// witness) writes one 120-byte message to each of N loopback TCP connections, the way witnessd
// answers N pending AsyncNotify calls, while another process reads them; the reader either sleeps
// in epoll between messages or busy-polls (as fanout.ts does in its two modes). Over loopback
// the kernel runs the receiving side of every message inside the sender's write(), and a
// sleeping reader also has to be woken from it, so these figures say how much of witnessd's
// fan-out time is the machine's rather than witnessd's. Prints figures, asserts nothing.
//   node --import tsx bench/loopback-floor.ts [N]        (default 10000)

import net from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const ROUNDS = 5;
const MESSAGE = 120;

/** The reader: N connections, then ROUNDS rounds of one message per connection, then "done" per round. */
async function reader(port: number, n: number, spin: boolean): Promise<void> {
  const socks: net.Socket[] = [];
  let got = 0;
  let round = 0;
  let spinning = false;
  const loop = (): void => {
    if (spinning) setImmediate(loop); // a pending immediate makes libuv poll with timeout 0
  };
  for (let i = 0; i < n; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, n - i) }, () => new Promise<void>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => {
        resolve();
      });
      s.once('error', reject);
      let have = 0;
      s.on('data', (d: Buffer) => {
        have += d.length;
        while (have >= MESSAGE) {
          have -= MESSAGE;
          if (++got === n) {
            got = 0;
            spinning = false;
            process.stdout.write(`done ${++round}\n`);
          }
        }
      });
      socks.push(s);
    })));
  }
  process.stdin.on('data', (d: Buffer) => {
    // "arm": the writer is about to write a round
    if (d.includes('arm') && spin && !spinning) {
      spinning = true;
      loop();
    }
    if (d.includes('quit')) for (const s of socks) s.destroy();
  });
  process.stdout.write('ready\n');
}

async function writer(n: number, spin: boolean): Promise<number[]> {
  const socks: net.Socket[] = [];
  const server = net.createServer({ noDelay: true }, (s) => {
    s.on('error', () => undefined);
    socks.push(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'reader', String(port), String(n), spin ? 'spin' : 'sleep'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const waitFor = async (text: string): Promise<void> => {
    while (!out.includes(text)) await new Promise((r) => setTimeout(r, 5));
  };
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await waitFor('ready');
  while (socks.length < n) await new Promise((r) => setTimeout(r, 10));
  const msg = Buffer.alloc(MESSAGE, 7);
  const times: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    child.stdin.write('arm\n');
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    for (const s of socks) s.write(Buffer.from(msg)); // a buffer per reply, as witnessd has
    times.push(performance.now() - t0);
    await waitFor(`done ${round}\n`);
  }
  child.stdin.write('quit\n');
  child.stdin.end();
  await new Promise((resolve) => child.once('exit', resolve));
  for (const s of socks) s.destroy();
  server.close();
  return times;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

if (process.argv[2] === 'reader') {
  await reader(Number(process.argv[3]), Number(process.argv[4]), process.argv[5] === 'spin');
} else {
  const n = Number(process.argv[2] ?? 10000);
  for (const spin of [false, true]) {
    const t = await writer(n, spin);
    console.log(`bare Node, ${n} loopback writes of ${MESSAGE} bytes, reader ${spin ? 'busy-polling' : 'asleep between messages'}: median ${median(t).toFixed(1)} ms, best ${Math.min(...t).toFixed(1)} ms, worst ${Math.max(...t).toFixed(1)} ms (${ROUNDS} rounds)`);
  }
}
