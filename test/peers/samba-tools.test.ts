// rpcclient's witness commands and smbtorture's rpc.witness against a real witnessd, both
// resolving it through our endpoint mapper on TCP 135 (loopback), with a tshark capture of it all
// that must show no malformed frame and no warning.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Capture, checkPcap, RpcClientSession, rpcclient, smbtorture, startSmbd, startWitnessd, twoNodeView, type Smbd, type Witnessd } from './peers.ts';

const SMB_PORT = 4450;

describe('rpcclient and smbtorture', { timeout: 300_000 }, () => {
  let w: Witnessd;
  let smbd: Smbd;
  let cap: Capture;
  before(async () => {
    smbd = await startSmbd(SMB_PORT);
    w = await startWitnessd({ epm: '127.0.0.1:135', view: twoNodeView(1, { shares: [{ name: 'data', resource: 'g1', node: 'n2', ips: ['127.0.0.2'] }] }) });
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
  });
});
