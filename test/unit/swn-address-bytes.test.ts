// addressBytes (IPADDR_INFO's IPV4/IPV6 fields) tells IPv6 from garbage with store/address's
// parser instead of net.isIPv6 (whose first call costs node 20 ~60 ms of CPU in witnessd's start).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { addressBytes } from '../../service/swn/messages.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('addressBytes', () => {
  it('writes IPv6 addresses in network order, "::" and an embedded IPv4 expanded', () => {
    assert.deepEqual(addressBytes('2001:db8::1:2'), { family: 6, bytes: hex('20010db8 00000000 00000000 00010002') });
    assert.deepEqual(addressBytes('::ffff:198.18.0.1'), { family: 6, bytes: hex('00000000 00000000 0000ffff c6120001') });
    assert.deepEqual(addressBytes('::'), { family: 6, bytes: Buffer.alloc(16) });
    assert.deepEqual(addressBytes('fe80:0:0:0:0:0:0:1'), { family: 6, bytes: hex('fe800000 00000000 00000000 00000001') });
    assert.deepEqual(addressBytes('198.18.0.1'), { family: 4, bytes: hex('c6120001') });
  });

  it('accepts the zone-less IPv6 forms net.isIPv6 accepts, and refuses what it refuses', () => {
    const forms = ['::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1::8', '::ffff:1.2.3.4', '64:ff9b::198.18.0.1',
      '1:2:3:4:5:6:7:8:9', '1::2::3', ':1', '1:', '12345::', 'g::1', '::1.2.3', '::1.2.3.256', '1.2.3.4::', '', '::ffff:01.2.3.4'];
    for (const f of forms) {
      let ours: boolean;
      try {
        ours = addressBytes(f).family === 6;
      } catch {
        ours = false;
      }
      assert.equal(ours, net.isIPv6(f), f);
    }
  });

  it('refuses a zone (IPADDR_INFO has no field for one)', () => {
    assert.throws(() => addressBytes('fe80::1%eth0'), /not an IP address/);
  });
});
