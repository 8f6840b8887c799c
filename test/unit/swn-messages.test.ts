import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeType } from '../../service/swn/constants.ts';
import {
  decodeIpAddrInfoList,
  decodeResourceChanges,
  encodeIpAddrInfoList,
  encodeResourceChanges,
  MessageDecodeError,
} from '../../service/swn/messages.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s|]/g, ''), 'hex');

describe('RESOURCE_CHANGE message buffer', () => {
  // Windows-captured AsyncNotify payload (swn-protocol.md §1.5): UNAVAILABLE "SOFS".
  const golden = hex('12000000 ff000000 53004f0046005300 0000');

  it('parses the Windows capture', () => {
    assert.deepEqual(decodeResourceChanges(golden, 1), [{ changeType: ChangeType.UNAVAILABLE, resourceName: 'SOFS' }]);
  });
  it('generates the same bytes', () => {
    assert.deepEqual(encodeResourceChanges([{ changeType: ChangeType.UNAVAILABLE, resourceName: 'SOFS' }]), golden);
  });
  it('round-trips several entries concatenated without padding', () => {
    const changes = [
      { changeType: ChangeType.UNAVAILABLE, resourceName: '198.18.0.100' },
      { changeType: ChangeType.AVAILABLE, resourceName: 'GENERALFS' },
    ] as const;
    const b = encodeResourceChanges(changes);
    // MS-SWN §4.1: "GENERALFS" gives Length 28.
    assert.equal(b.readUInt32LE(b.readUInt32LE(0)), 28);
    assert.deepEqual(decodeResourceChanges(b, 2), changes);
  });
  it('rejects truncated, unterminated and trailing input with exact messages', () => {
    assert.throws(() => decodeResourceChanges(golden.subarray(0, 5), 1), new MessageDecodeError('RESOURCE_CHANGE 0: 5 bytes left, need 8 for the header'));
    assert.throws(() => decodeResourceChanges(golden.subarray(0, 16), 1), new MessageDecodeError('RESOURCE_CHANGE 0: bad Length 18 with 16 bytes left'));
    const unterminated = Buffer.from(golden);
    unterminated.writeUInt16LE(0x41, 16);
    assert.throws(() => decodeResourceChanges(unterminated, 1), new MessageDecodeError('RESOURCE_CHANGE 0: ResourceName is not NUL-terminated'));
    assert.throws(() => decodeResourceChanges(Buffer.concat([golden, Buffer.alloc(2)]), 1), new MessageDecodeError('RESOURCE_CHANGE: 2 trailing bytes after 1 entries'));
    const badType = Buffer.from(golden);
    badType.writeUInt32LE(7, 4);
    assert.throws(() => decodeResourceChanges(badType, 1), new MessageDecodeError('RESOURCE_CHANGE 0: unknown ChangeType 0x7'));
  });
});

describe('IPADDR_INFO_LIST message buffer', () => {
  // Windows-captured CLIENT_MOVE payload to 192.168.3.45: the V4 entry carries garbage in the
  // unused IPv6 bytes (Windows sets undefined bits arbitrarily, MS-SWN <1>).
  const windows = hex('24000000 00000000 01000000 | 01000000 c0a8032d 0000000038e8eb268e000000009e6026');

  it('parses the Windows capture (address in network order, garbage ignored)', () => {
    assert.deepEqual(decodeIpAddrInfoList(windows), [{ address: '192.168.3.45', online: null }]);
  });
  it('generates the same layout with zeroed unused bytes', () => {
    assert.deepEqual(encodeIpAddrInfoList([{ address: '192.168.3.45', online: null }]), hex('24000000 00000000 01000000 01000000 c0a8032d' + '00'.repeat(16)));
  });
  it('round-trips IPv4 and IPv6 with ONLINE/OFFLINE flags', () => {
    const list = [
      { address: '198.18.0.100', online: true },
      { address: '2001:db8::1:2', online: false },
      { address: '::ffff:198.18.0.1', online: true },
    ];
    const b = encodeIpAddrInfoList(list);
    assert.equal(b.length, 12 + 3 * 24);
    assert.equal(b.readUInt32LE(12), 0x01 | 0x08);
    assert.equal(b.readUInt32LE(36), 0x02 | 0x10);
    assert.equal(b.subarray(44, 60).toString('hex'), '20010db8000000000000000000010002');
    assert.deepEqual(decodeIpAddrInfoList(b), [list[0], list[1], { address: '::ffff:c612:1', online: true }]);
  });
  it('rejects inconsistent lengths and flags', () => {
    assert.throws(() => decodeIpAddrInfoList(windows.subarray(0, 30)), new MessageDecodeError('IPADDR_INFO_LIST: Length 36 but the buffer holds 30 bytes'));
    const both = Buffer.from(windows);
    both.writeUInt32LE(3, 12);
    assert.throws(() => decodeIpAddrInfoList(both), new MessageDecodeError('IPADDR_INFO 0: flags 0x3 must set exactly one of V4 and V6'));
    const count = Buffer.from(windows);
    count.writeUInt32LE(2, 8);
    assert.throws(() => decodeIpAddrInfoList(count), new MessageDecodeError('IPADDR_INFO_LIST: 2 instances do not fit Length 36'));
  });
});
