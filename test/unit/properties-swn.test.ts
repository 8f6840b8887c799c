// Round-trip properties of the MS-SWN codecs (fast-check, fixed seeds): the method stubs
// (Register, RegisterEx, handles, GetInterfaceList and AsyncNotify answers), the MessageBuffer
// payloads (RESOURCE_CHANGE, IPADDR_INFO_LIST), IP addresses in network order, and the endpoint
// mapper's towers. Golden bytes from Windows and Samba for the same codecs: swn-codec,
// swn-messages and epm-tower tests.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../service/bytes/decode-error.ts';
import { uuidFromWire } from '../../service/rpc/uuid.ts';
import {
  decodeAsyncNotifyResponse,
  decodeHandle,
  decodeHandleAndStatus,
  decodeInterfaceListResponse,
  decodeRegister,
  decodeRegisterEx,
  encodeAsyncNotify,
  encodeHandleAndStatus,
  encodeInterfaceList,
  encodeRegister,
  encodeRegisterEx,
  type RegisterArgs,
  type RegisterExArgs,
} from '../../service/swn/codec.ts';
import { ChangeType, INTERFACE_GROUP_NAME_CHARS, InterfaceState, MessageType, WinError, WitnessVersion, type WinErrorValue } from '../../service/swn/constants.ts';
import type { WitnessInterface } from '../../service/swn/interface-list.ts';
import {
  addressBytes,
  bytesToAddress,
  decodeIpAddrInfoList,
  decodeResourceChanges,
  encodeIpAddrInfoList,
  encodeResourceChanges,
  MessageDecodeError,
  type IpAddrInfo,
  type ResourceChange,
} from '../../service/swn/messages.ts';
import { buildTcpTower, parseFloors, parseMapTower, ProtocolId, serializeFloors, TowerError, type Floor, type TcpTower } from '../../service/epm/tower.ts';
import { epmInterface, EpmOpnum, EPT_S_NOT_REGISTERED, type Endpoint } from '../../service/epm/epm.ts';
import type { CallContext } from '../../service/rpc/interface.ts';
import { NdrReader, NdrWriter } from '../../service/rpc/ndr.ts';
import { NDR20 } from '../../service/rpc/syntaxes.ts';
import { canonicalAddress } from '../../store/address.ts';
import { pino } from 'pino';
import { bytes, decodeOrNull, nullable, rec, runs, u16, u32, u8 } from '../helpers/arbitraries.ts';



/** UTF-16 code units, NUL and lone surrogates included: what a hostile client can put in an NDR string. */
const units = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength });
const winError = fc.constantFrom(...Object.values(WinError)) as fc.Arbitrary<WinErrorValue>;
const ipv4Text = bytes(4, 4).map((b) => bytesToAddress(4, b));
const ipv6Text = bytes(16, 16).map((b) => bytesToAddress(6, b));
/** Valid stubs with some bytes overwritten or cut: the decoders' hostile input. */
/** Where to cut a mutated input: mostly nowhere, so that many mutants still reach the decoders' later checks. */
const cutAt = fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: fc.nat(), weight: 1 });
const mutated = (valid: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> =>
  fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.oneof(u8, fc.constantFrom(0, 0xff))), { maxLength: 4 }), cutAt).map(([b0, edits, cut]) => {
    const b = Buffer.from(b0);
    if (b.length > 0) for (const [at, v] of edits) b[at % b.length] = v;
    return cut === null ? b : b.subarray(0, cut % (b.length + 1));
  });

describe('properties: witness method stubs', () => {
  const register: fc.Arbitrary<RegisterArgs> = rec({ version: u32, netName: nullable(units(30)), ipAddress: nullable(units(30)), clientName: nullable(units(30)) });
  const registerEx: fc.Arbitrary<RegisterExArgs> = rec({
    version: u32,
    netName: nullable(units(30)),
    shareName: nullable(units(30)),
    ipAddress: nullable(units(30)),
    clientName: nullable(units(30)),
    flags: u32,
    keepAliveSec: u32,
  });

  it('Register and RegisterEx: encode → decode gives the arguments back, decode → encode the same bytes', () => {
    fc.assert(
      fc.property(register, registerEx, (a, ax) => {
        const b = encodeRegister(a);
        assert.deepEqual(decodeRegister(b), a);
        assert.deepEqual(encodeRegister(decodeRegister(b)), b);
        const bx = encodeRegisterEx(ax);
        assert.deepEqual(decodeRegisterEx(bx), ax);
        assert.deepEqual(encodeRegisterEx(decodeRegisterEx(bx)), bx);
      }),
      runs(0x5357_0001, 500),
    );
  });

  it('any stub: Register/RegisterEx/handle decoders give a value or DecodeError, and a decoded value re-encodes to one that decodes the same', () => {
    const stubs = fc.oneof(bytes(120), mutated(register.map(encodeRegister)), mutated(registerEx.map(encodeRegisterEx)));
    fc.assert(
      fc.property(stubs, (b) => {
        const a = decodeOrNull(DecodeError, () => decodeRegister(b));
        if (a) assert.deepEqual(decodeRegister(encodeRegister(a)), a);
        const ax = decodeOrNull(DecodeError, () => decodeRegisterEx(b));
        if (ax) assert.deepEqual(decodeRegisterEx(encodeRegisterEx(ax)), ax);
        const h = decodeOrNull(DecodeError, () => decodeHandle(b));
        if (h) assert.deepEqual(h, b.subarray(0, 20));
      }),
      runs(0x5357_0002, 2000),
    );
  });

  it('handle and status: encode → decode', () => {
    fc.assert(
      fc.property(bytes(20, 20), winError, (handle, status) => {
        const b = encodeHandleAndStatus(handle, status);
        assert.equal(b.length, 24);
        assert.deepEqual(decodeHandleAndStatus(b), { handle, status });
        assert.deepEqual(decodeHandle(b), handle);
      }),
      runs(0x5357_0003),
    );
  });

  const iface: fc.Arbitrary<WitnessInterface> = fc
    .tuple(units(INTERFACE_GROUP_NAME_CHARS + 20), fc.constantFrom(...Object.values(InterfaceState)), fc.oneof(ipv4Text, ipv6Text), u32)
    .map(([groupName, state, address, flags]) => ({ groupName, state, address, family: address.includes(':') ? 6 : 4, flags, resource: 'ip', node: null }));

  it('GetInterfaceList answer: every entry comes back (name cut at 259 units or its first NUL, address in its family, Version 0xFFFFFFFF)', () => {
    fc.assert(
      fc.property(winError, fc.array(iface, { maxLength: 5 }), (status, list) => {
        const b = encodeInterfaceList(status, list);
        const r = decodeInterfaceListResponse(b);
        assert.equal(r.status, status);
        assert.deepEqual(
          r.interfaces,
          list.map((i) => {
            const name = i.groupName.slice(0, INTERFACE_GROUP_NAME_CHARS - 1);
            const nul = name.indexOf('\0');
            const v6 = i.address.includes(':');
            return {
              groupName: nul < 0 ? name : name.slice(0, nul),
              version: WitnessVersion.UNSPECIFIED,
              state: i.state,
              ipv4: v6 ? '0.0.0.0' : i.address,
              ipv6: v6 ? addressBytes(i.address).bytes : Buffer.alloc(16),
              flags: i.flags,
            };
          }),
        );
      }),
      runs(0x5357_0004, 200),
    );
  });

  // The registry's notification type, whichever module holds it: what encodeAsyncNotify takes.
  type Notification = NonNullable<Parameters<typeof encodeAsyncNotify>[1]>;
  const notification: fc.Arbitrary<Notification> = rec({
    type: fc.constantFrom(...Object.values(MessageType)),
    count: u32,
    buffer: bytes(200),
    summary: fc.constant(''),
    eventSeq: fc.constant(null),
    eventAt: fc.constant(null),
  });

  it('AsyncNotify answer: encode → decode gives type, count and buffer back, or the NULL response with its status', () => {
    fc.assert(
      fc.property(winError, nullable(notification), (status, n) => {
        const r = decodeAsyncNotifyResponse(encodeAsyncNotify(status, n));
        assert.deepEqual(r, n === null ? { status, type: null, count: 0, buffer: Buffer.alloc(0) } : { status, type: n.type, count: n.count, buffer: n.buffer });
      }),
      runs(0x5357_0005),
    );
  });

  it('any answer stub: the response decoders give a value or DecodeError, and never more interfaces than the stub can hold', () => {
    const stubs = fc.oneof(
      bytes(1200),
      mutated(fc.tuple(winError, fc.array(iface, { maxLength: 2 })).map(([s, l]) => encodeInterfaceList(s, l))),
      mutated(fc.tuple(winError, nullable(notification)).map(([s, n]) => encodeAsyncNotify(s, n))),
    );
    fc.assert(
      fc.property(stubs, (b) => {
        const l = decodeOrNull(DecodeError, () => decodeInterfaceListResponse(b));
        if (l) assert.ok(l.interfaces.length * 552 <= b.length);
        const n = decodeOrNull(DecodeError, () => decodeAsyncNotifyResponse(b));
        if (n) assert.ok(n.buffer.length <= b.length);
        decodeOrNull(DecodeError, () => decodeHandleAndStatus(b));
      }),
      runs(0x5357_0006, 1500),
    );
  });
});

describe('properties: MessageBuffer payloads', () => {
  const change: fc.Arbitrary<ResourceChange> = rec({ changeType: fc.constantFrom(ChangeType.UNKNOWN, ChangeType.AVAILABLE, ChangeType.UNAVAILABLE), resourceName: units(40) });

  it('RESOURCE_CHANGE: encode → decode gives the changes back', () => {
    fc.assert(
      fc.property(fc.array(change, { maxLength: 6 }), (changes) => {
        assert.deepEqual(decodeResourceChanges(encodeResourceChanges(changes), changes.length), changes);
      }),
      runs(0x5357_0010),
    );
  });

  it('RESOURCE_CHANGE is canonical: any bytes that decode re-encode to exactly those bytes; others are MessageDecodeError', () => {
    // Mutated encodings with their count (or one off), so that many cases decode.
    const cases = fc.oneof(
      fc.tuple(bytes(80), fc.integer({ min: 0, max: 4 })),
      fc.array(change, { maxLength: 3 }).chain((cs) => fc.tuple(mutated(fc.constant(encodeResourceChanges(cs))), fc.constantFrom(cs.length, cs.length + 1, Math.max(0, cs.length - 1)))),
    );
    fc.assert(
      fc.property(cases, ([b, count]) => {
        const changes = decodeOrNull(MessageDecodeError, () => decodeResourceChanges(b, count));
        if (changes) assert.deepEqual(encodeResourceChanges(changes), b);
      }),
      runs(0x5357_0011, 2000),
    );
  });

  const info: fc.Arbitrary<IpAddrInfo> = rec({ address: fc.oneof(ipv4Text, ipv6Text), online: fc.constantFrom(true, false, null) });

  it('IPADDR_INFO_LIST: encode → decode gives the addresses (canonical text) and their states back', () => {
    fc.assert(
      fc.property(fc.array(info, { maxLength: 6 }), (list) => {
        assert.deepEqual(decodeIpAddrInfoList(encodeIpAddrInfoList(list)), list);
      }),
      runs(0x5357_0012),
    );
  });

  it('IPADDR_INFO_LIST: any bytes give a list or MessageDecodeError, and a decoded list is a fixed point', () => {
    const buffers = fc.oneof(bytes(100), mutated(fc.array(info, { maxLength: 3 }).map(encodeIpAddrInfoList)));
    fc.assert(
      fc.property(buffers, (b) => {
        const list = decodeOrNull(MessageDecodeError, () => decodeIpAddrInfoList(b));
        if (list) assert.deepEqual(decodeIpAddrInfoList(encodeIpAddrInfoList(list)), list);
      }),
      runs(0x5357_0013, 2000),
    );
  });

  it('addresses: the store\'s canonical text (store/address.ts) is the text the wire decoder writes, for any way of writing an address', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (written) => {
        const canonical = canonicalAddress(written);
        assert.ok(canonical !== null, written);
        const { family, bytes: b } = addressBytes(written);
        assert.equal(canonical, bytesToAddress(family, b));
        assert.equal(canonicalAddress(canonical), canonical);
      }),
      runs(0x5357_0015, 1000),
    );
  });

  it('addresses: bytes → text → bytes is the identity, and IPv6 text is the WHATWG URL parser\'s canonical form for any way of writing it', () => {
    fc.assert(
      fc.property(bytes(4, 4), bytes(16, 16), fc.ipV6(), (v4, v6, written) => {
        assert.deepEqual(addressBytes(bytesToAddress(4, v4)), { family: 4, bytes: v4 });
        assert.deepEqual(addressBytes(bytesToAddress(6, v6)), { family: 6, bytes: v6 });
        // Node's URL parser is an independent IPv6 reader and writer (RFC 5952 compression).
        const canonical = new URL(`http://[${written}]/`).hostname.slice(1, -1);
        assert.equal(bytesToAddress(6, addressBytes(written).bytes), canonical);
      }),
      runs(0x5357_0014, 1000),
    );
  });
});

describe('properties: endpoint mapper towers', () => {
  const floor: fc.Arbitrary<Floor> = rec({ lhs: bytes(24), rhs: bytes(24) });
  const syntax = rec({ uuid: bytes(16, 16).map((b) => uuidFromWire(b)), version: u16, minor: u16 });
  const tcpTower: fc.Arbitrary<TcpTower> = rec({ iface: syntax, transfer: syntax, port: u16, address: ipv4Text });

  it('floors: serialize → parse gives them back; parse → serialize gives the bytes the floors took', () => {
    fc.assert(
      fc.property(fc.array(floor, { maxLength: 6 }), bytes(8), (floors, trailing) => {
        const b = serializeFloors(floors);
        assert.deepEqual(parseFloors(b), floors);
        // What follows the last floor is not the tower's: parsing ignores it.
        const withTail = Buffer.concat([b, trailing]);
        assert.deepEqual(serializeFloors(parseFloors(withTail)), b);
      }),
      runs(0x5457_0001),
    );
  });

  it('any bytes: floors or TowerError, at most six, and the floors re-serialize to a prefix of the input', () => {
    const towers = fc.oneof(bytes(120), mutated(fc.array(floor, { maxLength: 7 }).map((f) => serializeFloors(f))), mutated(tcpTower.map(buildTcpTower)));
    fc.assert(
      fc.property(towers, (b) => {
        const floors = decodeOrNull(TowerError, () => parseFloors(b));
        if (floors) {
          assert.ok(floors.length <= 6);
          const again = serializeFloors(floors);
          assert.deepEqual(b.subarray(0, again.length), again);
        }
        decodeOrNull(TowerError, () => parseMapTower(b));
      }),
      runs(0x5457_0002, 2000),
    );
  });

  /** ept_map's request as a client writes it (C706 Appendix O): obj NULL, the map tower, a NULL entry handle, max_towers. */
  function eptMapRequest(tower: Buffer, maxTowers: number): Buffer {
    return new NdrWriter().nullPointer().referent().u32(tower.length).u32(tower.length).bytes(tower).align(4).bytes(Buffer.alloc(20)).u32(maxTowers).finish();
  }
  /** ept_map's answer: entry handle, num_towers, the towers array (max_count, offset, actual_count, referents, twr_t each), status. */
  function readEptMapAnswer(stub: Buffer): { towers: Buffer[]; status: number } {
    const r = new NdrReader(stub);
    r.bytes(20, 'entry_handle');
    const n = r.u32('num_towers');
    r.u32('max_count');
    assert.equal(r.u32('offset'), 0);
    assert.equal(r.u32('actual_count'), n);
    for (let i = 0; i < n; i++) assert.notEqual(r.pointer('tower'), 0);
    const towers: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const max = r.u32('tower max_count');
      assert.equal(r.u32('tower_length'), max);
      towers.push(Buffer.from(r.bytes(max, 'tower')));
      r.align(4);
    }
    return { towers, status: r.u32('status') };
  }
  const ctx = (localAddress: string): CallContext => ({
    association: 1, connection: 1, callId: 1, opnum: EpmOpnum.ept_map, remote: '198.18.0.2:40000', local: `${localAddress}:135`, localAddress, localPort: 135,
    object: null, auth: null, cancelled: false, onCancel: () => undefined, reply: () => undefined, fail: () => undefined,
  });
  const endpoint: fc.Arbitrary<Endpoint> = rec({ iface: syntax, annotation: fc.constant('x'), port: u16 });

  it('ept_map: a tower for a registered interface is answered with its port at the address the client reached; others with EPT_S_NOT_REGISTERED', () => {
    fc.assert(
      fc.property(fc.array(endpoint, { minLength: 1, maxLength: 4 }), fc.nat(), fc.boolean(), ipv4Text, fc.integer({ min: 0, max: 4 }), (eps, pick, known, local, maxTowers) => {
        const epm = epmInterface(() => eps, pino({ level: 'silent' }));
        const wanted = eps[pick % eps.length]!;
        const iface = known ? wanted.iface : { ...wanted.iface, uuid: '00000000-0000-0000-0000-000000000001' };
        const req = eptMapRequest(buildTcpTower({ iface, transfer: NDR20, port: 0, address: '0.0.0.0' }), maxTowers);
        const out = epm.ops.get(EpmOpnum.ept_map)?.(req, ctx(local));
        assert.ok(Buffer.isBuffer(out));
        const answer = readEptMapAnswer(out);
        const first = eps.find((e) => e.iface.uuid === iface.uuid && e.iface.version === iface.version);
        if (first === undefined || maxTowers === 0) {
          assert.deepEqual(answer, { towers: [], status: EPT_S_NOT_REGISTERED });
          return;
        }
        assert.equal(answer.status, 0);
        assert.equal(answer.towers.length, 1);
        const floors = parseFloors(answer.towers[0]!);
        assert.deepEqual(parseMapTower(answer.towers[0]!).iface, first.iface);
        assert.equal(floors[3]?.rhs.readUInt16BE(0), first.port);
        assert.equal(bytesToAddress(4, floors[4]!.rhs), local);
      }),
      runs(0x5457_0004, 200),
    );
  });

  it('ept_map and ept_lookup: any stub gives an answer or DecodeError', () => {
    const eps: Endpoint[] = [{ iface: { uuid: 'ccd8c074-d0e5-4a40-92b4-d074faa6ba28', version: 1, minor: 1 }, annotation: 'Witness', port: 5999 }];
    const epm = epmInterface(() => eps, pino({ level: 'silent' }));
    const stubs = fc.oneof(bytes(120), mutated(fc.integer({ min: 0, max: 4 }).map((m) => eptMapRequest(buildTcpTower({ iface: eps[0]!.iface, transfer: NDR20, port: 0, address: '0.0.0.0' }), m))));
    fc.assert(
      fc.property(stubs, (b) => {
        for (const op of [EpmOpnum.ept_map, EpmOpnum.ept_lookup]) {
          const out = decodeOrNull(DecodeError, () => epm.ops.get(op)?.(b, ctx('198.18.0.1')));
          if (out !== null) assert.ok(Buffer.isBuffer(out));
        }
      }),
      runs(0x5457_0005, 1000),
    );
  });

  it('ncacn_ip_tcp tower: what buildTcpTower writes, parseMapTower and the floors read back', () => {
    fc.assert(
      fc.property(tcpTower, (t) => {
        const b = buildTcpTower(t);
        assert.deepEqual(parseMapTower(b), { iface: t.iface, transfer: t.transfer, protocol: ProtocolId.NCACN });
        const floors = parseFloors(b);
        assert.equal(floors.length, 5);
        assert.equal(floors[3]?.rhs.readUInt16BE(0), t.port);
        assert.equal(bytesToAddress(4, floors[4]?.rhs ?? Buffer.alloc(0)), t.address);
      }),
      runs(0x5457_0003),
    );
  });
});
