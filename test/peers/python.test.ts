// python3-samba's samba.dcerpc.witness client against a real witnessd: every method, every error
// case of MS-SWN §3.1.4, keep-alive timeout, two connections of one association, AsyncNotify
// pending while other calls run.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../store/index.ts';
import { listRegistrations } from '../../store/registrations.ts';
import { WinError, WitnessVersion } from '../../service/swn/constants.ts';
import { uuidFromWire } from '../../service/rpc/uuid.ts';
import { ip, runPy, startWitnessd, twoNodeView, writeView, type PyStep, type Witnessd } from './peers.ts';

const V1 = WitnessVersion.V1;
const V2 = WitnessVersion.V2;

async function until<T>(probe: () => Promise<T | null>, timeoutMs = 10_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('python3-samba witness client', { timeout: 120_000 }, () => {
  let w: Witnessd;
  let connect: PyStep;
  before(async () => {
    w = await startWitnessd({ view: twoNodeView(1, { shares: [{ name: 'Data', resource: 'g1', node: 'n2', ips: ['127.0.0.2'] }] }) });
    connect = { op: 'connect', conn: 'a', port: w.port };
  });
  after(async () => { await w.stop(); });

  it('GetInterfaceList: every IP with its node, state, family and INTERFACE_WITNESS', async () => {
    const [, r] = await runPy([connect, { op: 'GetInterfaceList', conn: 'a' }]);
    assert.deepEqual(r?.['interfaces'], [
      { name: 'N1', version: 0xffffffff, state: 1, ipv4: '127.0.0.1', ipv6: '0000:0000:0000:0000:0000:0000:0000:0000', flags: 0x1 },
      { name: 'N2', version: 0xffffffff, state: 1, ipv4: '127.0.0.2', ipv6: '0000:0000:0000:0000:0000:0000:0000:0000', flags: 0x1 | 0x4 },
    ]);
  });

  it('Register / RegisterEx / UnRegister / UnRegisterEx succeed, and each error case gets its WERROR', async () => {
    const reg = (o: Record<string, unknown>): PyStep => ({ op: 'Register', conn: 'a', version: V1, net: 'FILESRV', ip: '127.0.0.2', client: 'pyclient', ...o });
    const regEx = (o: Record<string, unknown>): PyStep => ({ op: 'RegisterEx', conn: 'a', version: V2, net: 'FILESRV', share: null, ip: '127.0.0.2', client: 'pyclient', flags: 0, timeout: 120, ...o });
    const steps: PyStep[] = [
      connect,
      reg({ save: 'h1' }),
      regEx({ save: 'h2', share: 'DATA', flags: 1 }),
      { op: 'UnRegister', conn: 'a', handle: 'h1' },
      { op: 'UnRegister', conn: 'a', handle: 'h1' },
      { op: 'UnRegisterEx', conn: 'a', handle: 'h2' },
      { op: 'UnRegisterEx', conn: 'a', handle: 'h2' },
      { op: 'AsyncNotify', conn: 'a', handle: 'h2' },
      reg({ version: 0 }),
      reg({ version: V2 }),
      regEx({ version: V1 }),
      reg({ version: 123456, net: null }), // the version is checked first
      reg({ net: null }),
      reg({ net: '' }),
      reg({ ip: null }),
      reg({ client: null }),
      reg({ net: 'XXXXInvalid.contoso.comXXXX' }),
      reg({ ip: '255.255.255.255' }),
      regEx({ share: 'any_invalid_share_name' }),
      reg({ net: 'filesrv.example.test' }), // an FQDN of the NetName is accepted
    ];
    const r = await runPy(steps);
    const codes = r.map((x) => x.werror ?? (x.ok ? 0 : -1));
    assert.deepEqual(codes.slice(1), [
      WinError.SUCCESS, WinError.SUCCESS, WinError.SUCCESS, WinError.INVALID_PARAMETER, WinError.SUCCESS, WinError.INVALID_PARAMETER,
      WinError.NOT_FOUND,
      WinError.REVISION_MISMATCH, WinError.REVISION_MISMATCH, WinError.REVISION_MISMATCH, WinError.REVISION_MISMATCH,
      WinError.INVALID_PARAMETER, WinError.INVALID_PARAMETER, WinError.INVALID_PARAMETER, WinError.INVALID_PARAMETER, WinError.INVALID_PARAMETER,
      WinError.INVALID_STATE, WinError.INVALID_STATE,
      WinError.SUCCESS,
    ]);
    assert.equal(r[5]?.['handle'], '00000000-0000-0000-0000-000000000000', 'UnRegisterEx returns a NULL handle');
  });

  it('KeepAliveTimeout: AsyncNotify ends with ERROR_TIMEOUT and the registration survives', async () => {
    const t0 = Date.now();
    const r = await runPy([
      connect,
      { op: 'RegisterEx', conn: 'a', version: V2, net: 'FILESRV', share: null, ip: '127.0.0.2', client: 'ka', flags: 0, timeout: 1, save: 'h' },
      { op: 'AsyncNotify', conn: 'a', handle: 'h' },
      { op: 'AsyncNotify', conn: 'a', handle: 'h' },
      { op: 'UnRegister', conn: 'a', handle: 'h' },
    ]);
    assert.deepEqual(r.map((x) => x.werror ?? null), [null, 0, WinError.TIMEOUT, WinError.TIMEOUT, 0]);
    const took = Date.now() - t0;
    assert.ok(took >= 2000 && took < 10_000, `two 1 s keep-alives took ${took} ms`);
  });

  it('two connections of one association share context handles; AsyncNotify stays pending while the other connection works, and ends with ERROR_NOT_FOUND when its registration goes', async () => {
    // Client A registers and waits in AsyncNotify.
    const a = runPy([connect, { op: 'RegisterEx', conn: 'a', version: V2, net: 'FILESRV', share: null, ip: '127.0.0.2', client: 'two-conns', flags: 0, timeout: 60, save: 'h' }, { op: 'AsyncNotify', conn: 'a', handle: 'h' }]);
    // Its association group and handle, as witnessd recorded them.
    const reg = await until(() => {
      const s = openStore(w.db, { readonly: true });
      try {
        return Promise.resolve(listRegistrations(s).find((x) => x.clientName === 'two-conns' && x.pending) ?? null);
      } finally {
        s.close();
      }
    });
    const uuid = uuidFromWire(Buffer.from(reg.key, 'hex').subarray(4));
    // Client B opens a second connection in that association; A's call is still pending while B works.
    const b = await runPy([
      { op: 'connect', conn: 'b', port: w.port, assoc: reg.association },
      { op: 'GetInterfaceList', conn: 'b' },
      { op: 'handle', save: 'h', uuid },
      { op: 'RegisterEx', conn: 'b', version: V2, net: 'FILESRV', share: null, ip: '127.0.0.1', client: 'b', flags: 0, timeout: 60, save: 'mine' },
      { op: 'UnRegister', conn: 'b', handle: 'h' },
    ]);
    assert.equal(b[0]?.ok, true, JSON.stringify(b[0]));
    assert.equal((b[1]?.['interfaces'] as unknown[]).length, 2);
    assert.equal(b[4]?.werror, 0, "A's handle is valid on B's connection of the same association");
    const ra = await a;
    assert.equal(ra[2]?.werror, WinError.NOT_FOUND, 'the pending AsyncNotify ends with ERROR_NOT_FOUND when its registration goes');
    // When both connections are gone the association ends and B's registration is run down.
    const s = openStore(w.db, { readonly: true });
    const rb = await until(() => {
      const x = listRegistrations(s, { all: true }).find((r) => r.clientName === 'b');
      return Promise.resolve(x?.removedReason === 'rundown' ? x : null);
    });
    s.close();
    assert.equal(rb.association, reg.association);
  });

  it('a connection outside the association cannot use the handle', async () => {
    const r = await runPy([
      connect,
      { op: 'RegisterEx', conn: 'a', version: V2, net: 'FILESRV', share: null, ip: '127.0.0.2', client: 'x', flags: 0, timeout: 60, save: 'h' },
      { op: 'connect', conn: 'b', port: w.port },
      { op: 'UnRegister', conn: 'b', handle: 'h' },
      { op: 'AsyncNotify', conn: 'b', handle: 'h' },
      { op: 'UnRegister', conn: 'a', handle: 'h' },
    ]);
    assert.deepEqual(r.slice(3).map((x) => x.werror), [WinError.INVALID_PARAMETER, WinError.NOT_FOUND, 0]);
  });

  it('GetInterfaceList waits while no interface is available, and answers when one comes back', async () => {
    writeView(w.db, twoNodeView(5, { ips: [ip('127.0.0.1', null, 'vip1'), ip('127.0.0.2', null, 'vip2')] }));
    const run = runPy([connect, { op: 'GetInterfaceList', conn: 'a' }]);
    await new Promise((r) => setTimeout(r, 1000));
    writeView(w.db, twoNodeView(6));
    const t0 = Date.now();
    const r = await run;
    assert.ok(Date.now() - t0 < 3000);
    assert.equal((r[1]?.['interfaces'] as { state: number }[]).every((i) => i.state === 1), true);
  });
});
