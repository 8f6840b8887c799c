// rpcclient's witness commands and smbtorture's rpc.witness against a real witnessd, both
// resolving it through our endpoint mapper on TCP 135 (loopback), with a tshark capture of it all
// that must show no malformed frame and no warning.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { diffViews } from '../../agent/diff.ts';
import { openStore } from '../../store/index.ts';
import type { ClusterView } from '../../store/types.ts';
import { Capture, checkPcap, ip, ROOT, RpcClientSession, rpcclient, smbtorture, startSmbd, startWitnessd, twoNodeView, type Smbd, type Witnessd } from './peers.ts';
import { commitSync } from '../../store/view.ts';

const SMB_PORT = 4450;

describe('rpcclient and smbtorture', { timeout: 300_000 }, () => {
  let w: Witnessd;
  let smbd: Smbd;
  let cap: Capture;
  before(async () => {
    smbd = await startSmbd(SMB_PORT);
    // The re-registration workaround is off here: rpcclient collects notification after notification.
    w = await startWitnessd({ epm: '127.0.0.1:135', view: twoNodeView(1, { shares: [{ name: 'data', resource: 'g1', node: 'n2', ips: ['127.0.0.2'] }] }), extra: ['--log-level', 'debug', '--force-unregister-after', '0'] });
    cap = new Capture([135, w.port], path.join(os.tmpdir(), `pw-capture-${process.pid}.pcapng`));
    await cap.started();
  });
  after(async () => {
    await cap.stop().catch(() => '');
    fs.rmSync(cap.file, { force: true });
    await w.stop();
    await smbd.stop();
  });

  it('rpcclient GetInterfaceList (through the endpoint mapper)', () => {
    const r = rpcclient('ncacn_ip_tcp:127.0.0.1', 'GetInterfaceList');
    assert.equal(r.code, 0, r.out);
    // rpcclient marks INTERFACE_WITNESS with '*' and IPv4 with '+'.
    assert.match(r.out, /^ \+ N1 127\.0\.0\.1 /m);
    assert.match(r.out, /^\*\+ N2 127\.0\.0\.2 /m);
  });

  it('rpcclient Register, RegisterEx, AsyncNotify, UnRegister on one connection', async () => {
    const s = new RpcClientSession('ncacn_ip_tcp:127.0.0.1');
    try {
      const handle = /^(\d+:[0-9a-f-]{36})$/m;
      const h1 = handle.exec(await s.run('Register --net=FILESRV --ip=127.0.0.2 --client=rpcc', handle))?.[1];
      const h2 = handle.exec(await s.run('RegisterEx --net=FILESRV --ip=127.0.0.2 --client=rpcc --share=data --flags=1 --timeout=1', handle))?.[1];
      assert.ok(h1 !== undefined && h2 !== undefined);
      const t0 = Date.now();
      assert.match(await s.run(`AsyncNotify ${h2}`, /WERR_TIMEOUT/), /WERR_TIMEOUT/);
      assert.ok(Date.now() - t0 >= 900);
      assert.match(await s.run('RegisterEx --net=FILESRV --ip=127.0.0.9 --client=rpcc', /WERR_\w+/), /WERR_INVALID_STATE/);
      assert.match(await s.run('Register --net=OTHER --ip=127.0.0.2 --client=rpcc', /WERR_\w+/), /WERR_INVALID_PARAMETER/);
      assert.doesNotMatch(await s.run(`UnRegister ${h1}`), /WERR_/);
      assert.match(await s.run(`UnRegister ${h1}`, /WERR_\w+/), /WERR_INVALID_PARAMETER/);
      assert.match(await s.run(`AsyncNotify ${h1}`, /WERR_\w+/), /WERR_NOT_FOUND/);
      assert.doesNotMatch(await s.run(`UnRegister ${h2}`), /WERR_/);
    } finally {
      await s.close();
    }
  });

  it('rpcclient with AsyncNotify pending hears an IP move, an IP stop, a share move, IP changes, and admin client-move / share-move, exactly', async () => {
    let epoch = 100;
    const commit = (over: Partial<ClusterView>): void => {
      const st = openStore(w.db);
      try {
        commitSync(st, twoNodeView(++epoch, over), diffViews);
      } finally {
        st.close();
      }
    };
    const vips = (at2: string | null) => [ip('127.0.0.1', 'n1', 'vip1'), ip('127.0.0.2', at2, 'vip2')];
    const shares = (node: string, ips: string[]) => [{ name: 'data', resource: 'g1', node, ips }];
    const ctl = (...args: string[]): void => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'service/ctl/main.ts'), ...args, '--db', w.db], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    const s = new RpcClientSession('ncacn_ip_tcp:127.0.0.1');
    const ipc = new RpcClientSession('ncacn_ip_tcp:127.0.0.1');
    try {
      const handle = /^(\d+:[0-9a-f-]{36})$/m;
      const h = handle.exec(await s.run('RegisterEx --net=FILESRV --ip=127.0.0.2 --client=rpcc-notify --share=data --timeout=60', handle))?.[1] ?? '';
      const hi = handle.exec(await ipc.run('RegisterEx --net=FILESRV --ip=127.0.0.1 --client=rpcc-ip --flags=1 --timeout=60', handle))?.[1] ?? '';
      // Each notification while the call waits: give rpcclient time to send AsyncNotify first.
      const told = async (sess: RpcClientSession, hd: string, change: () => void, until: RegExp): Promise<string> => {
        const out = sess.run(`AsyncNotify ${hd}`, until);
        await new Promise((r) => setTimeout(r, 300));
        change();
        return out;
      };
      const line = /\n(?:FILESRV -> \w+|Flags 0x[0-9a-f]{8} [\d.]+[^\n]*)\n/;
      assert.equal((await told(s, h, () => { commit({ ips: vips('n1'), shares: shares('n2', ['127.0.0.2']) }); }, line)).trim(), 'Resource change with 1 messages\nFILESRV -> Unavailable');
      assert.equal((await s.run(`AsyncNotify ${h}`, line)).trim(), 'Resource change with 1 messages\nFILESRV -> Available');
      assert.match((await ipc.run(`AsyncNotify ${hi}`, line)).trim(), /^IP change with 1 messages\nFlags 0x00000009 127\.0\.0\.2\b/);
      assert.equal((await told(s, h, () => { commit({ ips: vips(null), shares: shares('n2', []) }); }, line)).trim(), 'Resource change with 1 messages\nFILESRV -> Unavailable');
      assert.match((await ipc.run(`AsyncNotify ${hi}`, line)).trim(), /^IP change with 1 messages\nFlags 0x00000011 127\.0\.0\.2\b/);
      commit({ ips: vips('n2'), shares: shares('n2', ['127.0.0.2']) });
      assert.equal((await s.run(`AsyncNotify ${h}`, line)).trim(), 'Resource change with 1 messages\nFILESRV -> Available');
      assert.match((await told(s, h, () => { commit({ ips: vips('n2'), shares: shares('n1', ['127.0.0.1']) }); }, line)).trim(), /^Share move with 1 messages\nFlags 0x00000009 127\.0\.0\.1\b/);
      assert.match((await told(s, h, () => { ctl('client-move', '--client', 'rpcc-notify', '--to-ip', '127.0.0.1'); }, line)).trim(), /^Client move with 1 messages\nFlags 0x00000009 127\.0\.0\.1\b/);
      assert.match((await told(s, h, () => { ctl('share-move', '--share', 'data', '--to-node', 'n2'); }, line)).trim(), /^Share move with 1 messages\nFlags 0x00000009 127\.0\.0\.2\b/);
      assert.match((await told(s, h, () => { ctl('force-unregister', '--client', 'rpcc-notify'); }, /WERR_\w+/)).trim(), /WERR_NOT_FOUND/);
      assert.doesNotMatch(await ipc.run(`UnRegister ${hi}`), /WERR_/);
    } finally {
      await s.close();
      await ipc.close();
    }
  });

  for (const t of ['GetInterfaceList', 'Register', 'RegisterEx', 'UnRegister']) {
    it(`smbtorture rpc.witness.witness.${t}`, () => {
      const r = smbtorture(t, SMB_PORT, 'FILESRV');
      assert.match(r.out, new RegExp(`^success: witness\\.${t}$`, 'm'), r.out);
      assert.equal(r.code, 0, r.out);
    });
  }

  it('tshark finds no malformed frame and no warning in the whole capture', async () => {
    const file = await cap.stop();
    const report = checkPcap(file, [w.port]);
    assert.ok(report.witnessFrames > 20, `only ${report.witnessFrames} witness frames captured`);
    assert.deepEqual(report.problems, []);
    // The notifications themselves went through the dissector: every message type, decoded.
    const types = spawnSync('tshark', ['-r', file, '-d', `tcp.port==${w.port},dcerpc`, '-Y', 'witness.witness_notifyResponse.type', '-T', 'fields', '-e', 'witness.witness_notifyResponse.type'], { encoding: 'utf8' });
    assert.deepEqual([...new Set(types.stdout.split('\n').filter((l) => l.trim() !== ''))].sort(), ['1', '2', '3', '4']);
  });
});
