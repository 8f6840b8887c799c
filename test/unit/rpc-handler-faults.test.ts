// What a client gets when a handler fails, through a real RpcServer on loopback: RpcFault's own
// status, a malformed stub (DecodeError) as nca_s_fault_ndr, anything else as nca_s_fault_unspec
// with a log line; the connection stays usable after each.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { DecodeError } from '../../service/bytes/decode-error.ts';
import { DEFAULT_LIMITS } from '../../service/config.ts';
import { RpcFault, type OpHandler, type RpcInterfaceDef } from '../../service/rpc/interface.ts';
import { FaultStatus, PType, type Pdu } from '../../service/rpc/pdu.ts';
import { RpcServer } from '../../service/rpc/server.ts';
import { WITNESS_INTERFACE } from '../../service/swn/constants.ts';
import { RawClient } from '../helpers/rpc-client.ts';

const lines: { msg: string; opnum?: number; err?: { message: string } }[] = [];
const logger = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]); cb(); } }));

const iface: RpcInterfaceDef = {
  name: 'witness',
  uuid: WITNESS_INTERFACE.uuid,
  versionMajor: WITNESS_INTERFACE.versionMajor,
  versionMinor: WITNESS_INTERFACE.versionMinor,
  ops: new Map<number, OpHandler>([
    [0, () => Buffer.from([1, 2, 3, 4])],
    [1, () => { throw new RpcFault(FaultStatus.ACCESS_DENIED, 'refused on purpose'); }],
    [2, () => { throw new DecodeError('stub: 4 bytes wanted, 0 left'); }],
    [3, () => { throw new TypeError('a bug in a handler'); }],
    [4, () => Promise.reject(new Error('an asynchronous failure'))],
  ]),
};

function faultOf(p: Pdu): number {
  assert.equal(p.ptype, PType.FAULT, `expected a fault, got PDU type ${p.ptype}`);
  return p.status;
}

describe('faults for failing handlers', () => {
  let server: RpcServer;
  let client: RawClient;
  before(async () => {
    server = new RpcServer({ interfaces: [iface], logger, limits: DEFAULT_LIMITS });
    const a = await server.listen('127.0.0.1', 0);
    client = await RawClient.connect(a.port);
    await client.bind();
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  it('RpcFault: its own status', async () => {
    assert.equal(faultOf(await client.call(1, Buffer.alloc(0))), FaultStatus.ACCESS_DENIED);
  });
  it('a malformed stub: nca_s_fault_ndr', async () => {
    assert.equal(faultOf(await client.call(2, Buffer.alloc(0))), FaultStatus.NDR_FAULT);
  });
  it('any other error, thrown or rejected: nca_s_fault_unspec and an error line naming it', async () => {
    assert.equal(faultOf(await client.call(3, Buffer.alloc(0))), FaultStatus.UNSPEC);
    assert.equal(faultOf(await client.call(4, Buffer.alloc(0))), FaultStatus.UNSPEC);
    const failed = lines.filter((l) => l.msg === 'call failed');
    assert.deepEqual(failed.map((l) => [l.opnum, l.err?.message]), [[3, 'a bug in a handler'], [4, 'an asynchronous failure']]);
  });
  it('the connection still answers afterwards', async () => {
    const p = await client.call(0, Buffer.alloc(0));
    assert.equal(p.ptype, PType.RESPONSE);
  });
});
