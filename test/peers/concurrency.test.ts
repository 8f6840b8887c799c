// Calls in flight on one connection (PFC_CONC_MPX), the one-call rule without it, co_cancel and
// orphaned of a pending AsyncNotify, and a response long enough to be fragmented.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { FaultStatus, PFC, PType, serializePdu } from '../../service/rpc/pdu.ts';
import { decodeAsyncNotifyResponse, decodeHandleAndStatus, decodeInterfaceListResponse, encodeRegisterEx } from '../../service/swn/codec.ts';
import { Opnum, WinError, WitnessVersion } from '../../service/swn/constants.ts';
import { RawClient, stubOf } from '../helpers/rpc-client.ts';
import { ip, runPy, startWitnessd, twoNodeView, type Witnessd } from './peers.ts';

const regEx = (client: string, timeout = 60): Buffer => encodeRegisterEx({ version: WitnessVersion.V2, netName: 'FILESRV', shareName: null, ipAddress: '127.0.0.2', clientName: client, flags: 0, keepAliveSec: timeout });

describe('concurrent, cancelled and fragmented calls', { timeout: 60_000 }, () => {
  let w: Witnessd;
  before(async () => {
    // 16 interfaces: the GetInterfaceList answer (8,852 bytes) needs several 5,840-byte fragments.
    const ips = [ip('127.0.0.1', 'n1', 'vip1'), ip('127.0.0.2', 'n2', 'vip2'), ...Array.from({ length: 14 }, (_, i) => ip(`127.0.1.${i + 1}`, i % 2 ? 'n1' : 'n2', `extra${i}`))];
    w = await startWitnessd({ view: twoNodeView(1, { ips }) });
  });
  after(async () => { await w.stop(); });

  it('with PFC_CONC_MPX, other calls complete while an AsyncNotify is pending on the same connection', async () => {
    const c = await RawClient.connect(w.port);
    const ack = await c.bind(0, true);
    assert.ok(ack.ptype === PType.BIND_ACK && (ack.flags & PFC.CONC_MPX) !== 0, 'the server echoes PFC_CONC_MPX');
    const h = decodeHandleAndStatus(stubOf(await c.call(Opnum.RegisterEx, regEx('mpx')))).handle;
    const pending = c.call(Opnum.AsyncNotify, h);
    const list = decodeInterfaceListResponse(stubOf(await c.call(Opnum.GetInterfaceList, Buffer.alloc(0))));
    assert.equal(list.interfaces.length, 16, 'the fragmented answer reassembles');
    assert.equal(stubOf(await c.call(Opnum.UnRegister, h)).readUInt32LE(0), WinError.SUCCESS);
    assert.equal(decodeAsyncNotifyResponse(stubOf(await pending)).status, WinError.NOT_FOUND);
    await c.close();
  });

  it('without PFC_CONC_MPX a second call in flight is a protocol error (as Samba): fault, connection closed', async () => {
    const c = await RawClient.connect(w.port);
    await c.bind(0, false);
    const h = decodeHandleAndStatus(stubOf(await c.call(Opnum.RegisterEx, regEx('no-mpx')))).handle;
    void c.call(Opnum.AsyncNotify, h).catch(() => undefined);
    const f = await c.call(Opnum.GetInterfaceList, Buffer.alloc(0));
    assert.ok(f.ptype === PType.FAULT && f.status === FaultStatus.PROTO_ERROR);
    await c.closed;
  });

  it('co_cancel of a pending AsyncNotify answers fault nca_s_fault_cancel and keeps the registration', async () => {
    const c = await RawClient.connect(w.port);
    await c.bind(0, true);
    const h = decodeHandleAndStatus(stubOf(await c.call(Opnum.RegisterEx, regEx('cancel')))).handle;
    const pending = c.call(Opnum.AsyncNotify, h);
    await new Promise((r) => setTimeout(r, 50));
    // The AsyncNotify is call 3 (bind 1, RegisterEx 2).
    c.write(serializePdu({ ptype: PType.CO_CANCEL, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId: 3, auth: null }));
    const f = await pending;
    assert.ok(f.ptype === PType.FAULT && f.status === FaultStatus.CANCEL, 'fault 0x1c00000d');
    assert.equal(stubOf(await c.call(Opnum.UnRegister, h)).readUInt32LE(0), WinError.SUCCESS, 'the registration survived the cancel');
    await c.close();
  });

  it('orphaned: the pending call is dropped without an answer and the connection stays usable', async () => {
    const c = await RawClient.connect(w.port);
    await c.bind(0, true);
    const h = decodeHandleAndStatus(stubOf(await c.call(Opnum.RegisterEx, regEx('orphan')))).handle;
    let answered = false;
    void c.call(Opnum.AsyncNotify, h).then(() => { answered = true; }, () => undefined);
    await new Promise((r) => setTimeout(r, 50));
    c.write(serializePdu({ ptype: PType.ORPHANED, versionMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, callId: 3, auth: null }));
    assert.equal(stubOf(await c.call(Opnum.UnRegister, h)).readUInt32LE(0), WinError.SUCCESS);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(answered, false, 'an orphaned call gets no response');
    await c.close();
  });

  it('python3-samba reads the 16-interface, multi-fragment GetInterfaceList', async () => {
    const r = await runPy([{ op: 'connect', conn: 'a', port: w.port }, { op: 'GetInterfaceList', conn: 'a' }]);
    assert.equal((r[1]?.['interfaces'] as unknown[]).length, 16);
  });
});
