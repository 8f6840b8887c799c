// Bad input against a running witnessd: truncated and malformed PDUs, wrong lengths, unknown
// types, absurd counts, idle and flooding connections. The daemon must answer with faults or
// closed connections and log lines, keep serving a real client (python3-samba), and leak neither
// registrations nor memory.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore } from '../../store/index.ts';
import { listRegistrations } from '../../store/registrations.ts';
import { FaultStatus, PType, serializePdu } from '../../service/rpc/pdu.ts';
import { decodeHandleAndStatus, encodeRegisterEx } from '../../service/swn/codec.ts';
import { Opnum, WitnessVersion } from '../../service/swn/constants.ts';
import { RawClient, stubOf } from '../helpers/rpc-client.ts';
import { runPy, startWitnessd, type Witnessd } from './peers.ts';

const fixtures = fs.readdirSync(new URL('../fixtures/rpc/', import.meta.url)).filter((f) => f.endsWith('.hex'))
  .map((f) => Buffer.from(fs.readFileSync(new URL(`../fixtures/rpc/${f}`, import.meta.url), 'utf8').trim(), 'hex'));

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

function liveRegistrations(db: string): number {
  const s = openStore(db, { readonly: true });
  try {
    return listRegistrations(s).length;
  } finally {
    s.close();
  }
}

async function stillServes(w: Witnessd): Promise<void> {
  const r = await runPy([{ op: 'connect', conn: 'a', port: w.port }, { op: 'GetInterfaceList', conn: 'a' }]);
  assert.equal(r[1]?.ok, true, JSON.stringify(r[1]));
}

async function logged(w: Witnessd, re: RegExp): Promise<void> {
  const t0 = Date.now();
  while (!re.test(w.logs())) {
    if (Date.now() - t0 > 3000) assert.match(w.logs(), re);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function closedByServer(c: RawClient, ms = 3000): Promise<boolean> {
  return Promise.race([c.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => { r(false); }, ms))]);
}

describe('witnessd under bad input', { timeout: 180_000 }, () => {
  let w: Witnessd;
  const config = path.join(os.tmpdir(), `pw-limits-${process.pid}.json`);
  before(async () => {
    fs.writeFileSync(config, JSON.stringify({ limits: { maxConnections: 300, bindTimeoutMs: 500, maxFragment: 16384, maxCallsPerConnection: 8, maxRequestBytes: 65536 } }));
    w = await startWitnessd({ extra: ['--config', config] });
  });
  after(async () => {
    await w.stop();
    fs.rmSync(config, { force: true });
  });

  it('closes connections that send garbage, unknown PDU types, impossible lengths or absurd counts, with a log line', async () => {
    const bind = fixtures.find((f) => f[2] === PType.BIND && f.readUInt16LE(10) === 0) ?? Buffer.alloc(0);
    const unknownType = Buffer.from(bind); unknownType[2] = 99;
    const shortFrag = Buffer.from(bind); shortFrag.writeUInt16LE(10, 8);
    const hugeFrag = Buffer.from(bind); hugeFrag.writeUInt16LE(60000, 8);
    const absurd = Buffer.from(bind); absurd[24] = 255;
    const bigEndian = Buffer.from(bind); bigEndian[4] = 0;
    const cases: [string, Buffer][] = [
      ['http', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
      ['unknown type', unknownType],
      ['frag_length < header', shortFrag],
      ['frag_length over the limit', hugeFrag],
      ['absurd context count', absurd],
      ['big-endian', bigEndian],
    ];
    for (const [what, bytes] of cases) {
      const c = await RawClient.connect(w.port);
      c.write(bytes);
      assert.equal(await closedByServer(c), true, `${what}: the server closes the connection`);
    }
    await logged(w, /protocol error; closing the connection/);
    await stillServes(w);
  });

  it('a request before bind gets a proto_error fault; an unknown opnum gets op_rng_error and the connection lives on', async () => {
    const c = await RawClient.connect(w.port);
    const f = await c.call(0, Buffer.alloc(0));
    assert.ok(f.ptype === PType.FAULT && f.status === FaultStatus.PROTO_ERROR);
    assert.equal(await closedByServer(c), true);
    const d = await RawClient.connect(w.port);
    assert.equal((await d.bind()).ptype, PType.BIND_ACK);
    const g = await d.call(17, Buffer.alloc(0));
    assert.ok(g.ptype === PType.FAULT && g.status === FaultStatus.OP_RNG_ERROR);
    const h = await d.call(Opnum.Register, Buffer.from([1, 2, 3]));
    assert.ok(h.ptype === PType.FAULT && h.status === FaultStatus.NDR_FAULT, 'a truncated stub is an NDR fault');
    assert.equal((await d.call(0, Buffer.alloc(0))).ptype, PType.RESPONSE, 'still usable');
    await d.close();
  });

  it('a connection that never binds is closed after the bind timeout', async () => {
    const c = await RawClient.connect(w.port);
    const t0 = Date.now();
    assert.equal(await closedByServer(c, 5000), true);
    assert.ok(Date.now() - t0 >= 400);
    await logged(w, /connection did not bind in time/);
  });

  it('a bind flood beyond the connection limit is refused and logged; afterwards nothing is left', async () => {
    const clients: RawClient[] = [];
    for (let i = 0; i < 400; i++) {
      try {
        const c = await RawClient.connect(w.port);
        clients.push(c);
        c.bind().catch(() => undefined);
      } catch {
        // refused
      }
    }
    await new Promise((r) => setTimeout(r, 500));
    const open = clients.filter((c) => !c.socket.destroyed && c.socket.readyState === 'open');
    await logged(w, /connection limit reached/);
    assert.ok(open.length <= 300, `${open.length} connections stayed open`);
    await Promise.all(clients.map((c) => c.close()));
    await stillServes(w);
  });

  it('fuzzed PDUs over the wire, and clients that register and vanish, leak no registration and no memory', async () => {
    const rand = ((seed: number) => () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; })(7);
    const before = rssKb(w.proc.pid ?? 0);
    for (let round = 0; round < 3; round++) {
      const batch: Promise<void>[] = [];
      for (let i = 0; i < 200; i++) {
        batch.push((async () => {
          const c = await RawClient.connect(w.port);
          if (i % 2 === 0) {
            await c.bind();
            const reg = await c.call(Opnum.RegisterEx, encodeRegisterEx({ version: WitnessVersion.V2, netName: 'FILESRV', shareName: null, ipAddress: '127.0.0.2', clientName: `vanish-${round}-${i}`, flags: 0, keepAliveSec: 60 }));
            assert.equal(decodeHandleAndStatus(stubOf(reg)).status, 0);
            c.call(Opnum.AsyncNotify, stubOf(reg).subarray(0, 20)).catch(() => undefined);
          } else {
            const src = fixtures[i % fixtures.length] ?? Buffer.alloc(0);
            const m = Buffer.from(src);
            for (let k = 0; k < 4; k++) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
            c.write(m);
          }
          await new Promise((r) => setTimeout(r, 20));
          await c.close();
        })());
      }
      await Promise.all(batch);
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(liveRegistrations(w.db), 0, 'every vanished client was run down');
    const after = rssKb(w.proc.pid ?? 0);
    assert.ok(after - before < 60_000, `RSS grew by ${after - before} kB over 600 abusive connections`);
    await stillServes(w);
  });

  it('a fault PDU from a client is a protocol error, not a crash', async () => {
    const c = await RawClient.connect(w.port);
    await c.bind();
    c.write(serializePdu({ ptype: PType.FAULT, versionMinor: 0, flags: 3, callId: 9, allocHint: 0, contextId: 0, cancelCount: 0, faultFlags: 0, status: 5, stub: Buffer.alloc(0) }));
    assert.equal(await closedByServer(c), true);
    await stillServes(w);
  });
});
