import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { defaultViewConfig } from '../../agent/config.ts';
import { FrameError, FrameParser, runWatch } from '../../agent/watcher.ts';
import { openStore } from '../../store/index.ts';
import { eventsAfter, lastSeq } from '../../store/events.ts';
import { readView } from '../../store/view.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-watch-'));
after(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

describe('helper frames', () => {
  const xmls = ['<cib epoch="1"/>', '<cib epoch="2">é</cib>', ''];
  const wire = Buffer.concat(xmls.map((x) => Buffer.concat([Buffer.from(`CIB ${Buffer.byteLength(x)}\n`), Buffer.from(x)])));
  it('reassembles frames split at every byte, and several frames in one chunk', () => {
    for (let cut = 0; cut <= wire.length; cut++) {
      const p = new FrameParser();
      const got = [...p.push(wire.subarray(0, cut)), ...p.push(wire.subarray(cut))];
      assert.deepEqual(got, xmls, `cut at ${cut}`);
    }
    const p = new FrameParser();
    const byByte: string[] = [];
    for (const b of wire) byByte.push(...p.push(Buffer.from([b])));
    assert.deepEqual(byByte, xmls);
  });
  it('rejects garbage headers and oversized frames without buffering them', () => {
    assert.throws(() => new FrameParser().push(Buffer.from('HELLO 12\n')), new FrameError('bad frame header "HELLO 12"'));
    assert.throws(() => new FrameParser().push(Buffer.from('x'.repeat(40))), FrameError);
    assert.throws(() => new FrameParser(1000).push(Buffer.from('CIB 1001\n')), new FrameError('frame of 1001 bytes exceeds the 1000-byte limit'));
  });
});

describe('watch in CIB_file mode', () => {
  it('syncs at start and again within moments of the file changing', async () => {
    const fixtures = new URL('../fixtures/cib/', import.meta.url);
    const cibFile = path.join(tmp, 'cib.xml');
    fs.copyFileSync(new URL('01-started.xml', fixtures), cibFile);
    const db = path.join(tmp, 'state.db');
    const ac = new AbortController();
    const saved = process.env['CIB_file'];
    process.env['CIB_file'] = cibFile;
    const done = runWatch({ db, config: defaultViewConfig(), logger: pino({ level: 'silent' }), signal: ac.signal });
    try {
      const reader = () => openStore(db, { readonly: true });
      const waitFor = async (pred: () => boolean, what: string): Promise<number> => {
        const t0 = Date.now();
        while (!pred()) {
          if (Date.now() - t0 > 5000) throw new Error(`timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 5));
        }
        return Date.now() - t0;
      };
      await waitFor(() => { try { const s = reader(); const v = readView(s); s.close(); return v !== null; } catch { return false; } }, 'the first sync');
      const t0 = Date.now();
      fs.copyFileSync(new URL('02-group-moved.xml', fixtures), cibFile);
      await waitFor(() => { const s = reader(); const n = lastSeq(s); s.close(); return n > 0; }, 'the move event');
      const s = reader();
      const events = eventsAfter(s, 0);
      s.close();
      assert.deepEqual(events.map((e) => [e.kind, e.subject, e.from, e.to]), [['ip_moved', '198.18.0.100', 'n1', 'n2']]);
      assert.ok(Date.now() - t0 < 2000);
    } finally {
      ac.abort();
      await done;
      if (saved === undefined) delete process.env['CIB_file']; else process.env['CIB_file'] = saved;
    }
  });
});
