// Windows-captured witness stubs (shared/reference/swn-protocol.md §1.5): parse, generate, round-trip.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import {
  decodeAsyncNotifyResponse,
  decodeHandleAndStatus,
  decodeInterfaceListResponse,
  decodeRegister,
  decodeRegisterEx,
  encodeAsyncNotify,
  encodeHandleAndStatus,
  encodeInterfaceList,
  encodeRegister,
  encodeRegisterEx,
} from '../../service/swn/codec.ts';
import { ChangeType, InterfaceState, MessageType, WinError, WitnessVersion } from '../../service/swn/constants.ts';
import { encodeResourceChanges } from '../../service/swn/messages.ts';
import { epmInterface, EPT_S_NOT_REGISTERED } from '../../service/epm/epm.ts';
import { parsePdu, PType } from '../../service/rpc/pdu.ts';
import type { CallContext } from '../../service/rpc/interface.ts';
import fs from 'node:fs';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s|]/g, ''), 'hex');
const name520 = (s: string): string => Buffer.concat([Buffer.from(s, 'utf16le'), Buffer.alloc(520 - s.length * 2)]).toString('hex');

describe('witness stubs', () => {
  const register = hex('01000100 00000200 05000000 00000000 05000000 73006f0066007300 0000 0000 04000200 0d000000 00000000 0d000000 3100390032002e003100360038002e0033002e00340035000000 0000 08000200 09000000 00000000 09000000 4d005400480045004c0045004e0041000000');
  it('Register request: parse, generate, round-trip', () => {
    const a = decodeRegister(register);
    assert.deepEqual(a, { version: WitnessVersion.V1, netName: 'sofs', ipAddress: '192.168.3.45', clientName: 'MTHELENA' });
    assert.deepEqual(encodeRegister(a), register);
  });
  it('Register response: the handle and status', () => {
    const golden = hex('00000000 3386b83a571e1a4c856cd1bc4b15bbb1 00000000');
    const r = decodeHandleAndStatus(golden);
    assert.equal(r.status, 0);
    assert.deepEqual(encodeHandleAndStatus(r.handle, WinError.SUCCESS), golden);
  });
  it('RegisterEx request round-trips with a NULL share name', () => {
    const a = { version: WitnessVersion.V2, netName: 'FILESRV', shareName: null, ipAddress: '198.18.0.100', clientName: 'client.example.test', flags: 1, keepAliveSec: 120 };
    const b = encodeRegisterEx(a);
    assert.deepEqual(decodeRegisterEx(b), a);
    assert.equal(b.readUInt32LE(b.length - 8), 1);
    assert.equal(b.readUInt32LE(b.length - 4), 120);
  });
  it('GetInterfaceList response: generates the Windows capture exactly', () => {
    const golden = hex(`00000200 02000000 04000200 02000000 ${name520('NODE2')} ffffffff 0100 0000 c0a8032c ${'00'.repeat(16)} 05000000 ${name520('NODE1')} ffffffff 0100 0000 c0a8032d ${'00'.repeat(16)} 01000000 00000000`);
    const list = [
      { groupName: 'NODE2', state: InterfaceState.AVAILABLE, address: '192.168.3.44', family: 4 as const, flags: 5, resource: 'a', node: 'node2' },
      { groupName: 'NODE1', state: InterfaceState.AVAILABLE, address: '192.168.3.45', family: 4 as const, flags: 1, resource: 'b', node: 'node1' },
    ];
    const mine = encodeInterfaceList(WinError.SUCCESS, list);
    assert.equal(mine.length, 20 + 552 * 2);
    assert.deepEqual(mine, golden);
    const back = decodeInterfaceListResponse(golden);
    assert.deepEqual(back.interfaces.map((i) => [i.groupName, i.version, i.state, i.ipv4, i.flags]), [['NODE2', 0xffffffff, 1, '192.168.3.44', 5], ['NODE1', 0xffffffff, 1, '192.168.3.45', 1]]);
    assert.deepEqual(encodeInterfaceList(WinError.NO_MORE_ITEMS, []), hex('00000000 03010000'));
  });
  it('AsyncNotify responses: RESOURCE_CHANGE generated exactly, CLIENT_MOVE parsed, errors as NULL + WERROR', () => {
    const golden = hex('00000200 01000000 12000000 01000000 04000200 12000000 12000000 ff000000 53004f0046005300 0000 0000 00000000');
    const buffer = encodeResourceChanges([{ changeType: ChangeType.UNAVAILABLE, resourceName: 'SOFS' }]);
    assert.deepEqual(encodeAsyncNotify(WinError.SUCCESS, { type: MessageType.RESOURCE_CHANGE, count: 1, buffer, summary: '', eventSeq: null, eventAt: null }), golden);
    assert.deepEqual(decodeAsyncNotifyResponse(golden), { status: 0, type: 1, count: 1, buffer });
    const move = decodeAsyncNotifyResponse(hex('00000200 02000000 24000000 01000000 04000200 24000000 24000000 00000000 01000000 01000000 c0a8032d 0000000038e8eb268e000000009e6026 00000000'));
    assert.deepEqual([move.status, move.type, move.count, move.buffer.length], [0, MessageType.CLIENT_MOVE, 1, 36]);
    assert.deepEqual(encodeAsyncNotify(WinError.NOT_FOUND, null), hex('00000000 90040000'));
  });
});

describe('endpoint mapper', () => {
  const fixture = (name: string): Buffer => Buffer.from(fs.readFileSync(new URL(`../fixtures/epm/${name}`, import.meta.url), 'utf8').trim(), 'hex');
  const epm = epmInterface(() => [{ iface: { uuid: 'ccd8c074-d0e5-4a40-92b4-d074faa6ba28', version: 1, minor: 1 }, annotation: 'Witness', port: 49155 }], pino({ level: 'silent' }));
  const ctx: CallContext = { association: 1, connection: 1, callId: 1, opnum: 3, remote: 'x', local: '198.18.0.1:135', localAddress: '198.18.0.1', localPort: 135, object: null, auth: null, cancelled: false, onCancel: () => undefined, reply: () => undefined, fail: () => undefined };
  const stubOf = (b: Buffer): Buffer => { const p = parsePdu(b); return p.ptype === PType.REQUEST || p.ptype === PType.RESPONSE ? p.stub : Buffer.alloc(0); };
  it('answers rpcclient\'s ept_map with the same bytes as Samba\'s endpoint mapper (but our referent id)', async () => {
    const mine = await epm.ops.get(3)?.(stubOf(fixture('ept-map-request.hex')), ctx);
    const samba = Buffer.from(stubOf(fixture('ept-map-response.hex')));
    samba.writeUInt32LE(0x00020000, 36); // Samba numbers its tower pointer 3; we number referents as Windows does
    assert.deepEqual(mine, samba);
  });
  it('an unknown interface gets no tower and EPT_S_NOT_REGISTERED', async () => {
    const req = Buffer.from(stubOf(fixture('ept-map-request.hex')));
    req.writeUInt8((req.readUInt8(37) ^ 0xff), 37); // a byte of the interface uuid in the tower's first floor
    const out = await epm.ops.get(3)?.(req, ctx);
    assert.ok(Buffer.isBuffer(out), 'the endpoint mapper answers at once');
    assert.equal(out.readUInt32LE(20), 0);
    assert.equal(out.readUInt32LE(out.length - 4), EPT_S_NOT_REGISTERED);
  });
});
