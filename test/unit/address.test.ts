// store/address.ts: the one parser of IP addresses (agent and witnessd). Valid IPv4/IPv6 forms and
// their canonical text, the forms refused (inet_aton's short/hex/octal IPv4, zones, bad prefixes),
// and the canonical IPv6 text checked against the WHATWG URL serializer (an independent RFC 5952
// implementation, used here as an oracle only) on random addresses.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import net from 'node:net';
import { canonicalAddress, ipv6Groups, ipv6Text, parseAddress, parseAddressWithPrefix, parsePrefix } from '../../store/address.ts';

const reason = (text: string): string => {
  const r = parseAddress(text);
  assert.equal(r.ok, false, `${text} should be refused`);
  return r.ok ? '' : r.problem.reason;
};

describe('address: IPv4', () => {
  it('dotted decimal, surrounding white space ignored', () => {
    for (const [text, want] of [['198.18.0.100', '198.18.0.100'], ['0.0.0.0', '0.0.0.0'], ['255.255.255.255', '255.255.255.255'], [' 10.0.0.1\n', '10.0.0.1'], ['127.0.0.1', '127.0.0.1']] as const) {
      assert.deepEqual(parseAddress(text), { ok: true, value: { address: want, family: 4 } }, text);
    }
  });
  it('refuses what inet_aton would read differently (short, hex, octal, one number) and out of range octets', () => {
    for (const text of ['999.1.1.1', '256.0.0.1', '0x7f.1', '0x7f.0.0.1', '127.1', '10.1.1', '2130706433', '010.0.0.1', '1.2.3.04', '00.0.0.0', '1.2.3.4.5', '1..2.3', '1.2.3.', '+1.2.3.4', '1.2.3.-4']) {
      assert.equal(canonicalAddress(text), null, text);
    }
    assert.match(reason('0x7f.1'), /dotted-decimal/);
    assert.match(reason('999.1.1.1'), /dotted-decimal/);
  });
});

describe('address: IPv6', () => {
  it('canonical text: lower case, no leading zeros, the first longest zero run as ::, a single zero group kept', () => {
    const cases: [string, string][] = [
      ['2001:DB8:0:0::10', '2001:db8::10'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['0:0:0:0:0:0:0:0', '::'],
      ['::', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['1::', '1::'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['FE80::1', 'fe80::1'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['::ffff:1.2.3.4', '::ffff:102:304'],
      ['::FFFF:192.0.2.1', '::ffff:c000:201'],
      ['::1.2.3.4', '::102:304'],
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ];
    for (const [text, want] of cases) assert.deepEqual(parseAddress(text), { ok: true, value: { address: want, family: 6 } }, text);
  });
  it('refuses malformed forms', () => {
    for (const text of ['1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', ':::', '::g', '[::1]', '::ffff:01.2.3.4', '::ffff:1.2.3', '1:2:3:4:5:6:7:8::', '2001:db8::/64', 'fe80::1 %eth0']) {
      assert.equal(canonicalAddress(text), null, text);
    }
  });
  it('accepts exactly what node\'s net.isIPv6 accepts (which it no longer calls: its first call costs ~60 ms)', () => {
    const texts = ['1.2.3.4::', '1.2.3.4::1', '::1.2.3.4', '::ffff:1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '1:2:3:4:5:1.2.3.4',
      '::1.2.3.4:5', '1::2::3', ':::', '::', '1::', '::1', ':1::2', '1::2:', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7',
      '12345::1', 'g::1', '::ffff:1.2.3', '::ffff:256.1.1.1', '0000:0000:0000:0000:0000:0000:255.255.255.255', 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255',
      ' ::1', '::1 ', '1:2:3:4:5:6:7:8::', '::1.2.3.04', '1:2:3:4:5:6:7:8:1.2.3.4'];
    for (const t of texts) assert.equal(ipv6Groups(t) !== null, net.isIPv6(t), t);
    fc.assert(fc.property(fc.stringMatching(/^[0-9a-f:.]{0,46}$/), (t) => (ipv6Groups(t) !== null) === net.isIPv6(t)), { numRuns: 3000, seed: 11 });
  });
  it('a zone is refused, never stripped, and named in the problem', () => {
    const r = parseAddress('fe80::1%eth0');
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.problem.zone, '%eth0');
      assert.match(r.problem.reason, /scoped IPv6 address \(zone %eth0\)/);
    }
    assert.equal(canonicalAddress('fe80::1%eth0'), null);
    assert.equal(canonicalAddress('2001:db8::1%2'), null);
    assert.equal(parseAddress('1.2.3.4%eth0').ok, false);
    const junk = parseAddress('not-an-ip%eth0');
    assert.deepEqual(junk, { ok: false, problem: { reason: 'not an IP address' } });
  });
  it('the canonical text agrees with the WHATWG URL serializer on random addresses written in random ways', () => {
    const groups = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });
    fc.assert(fc.property(groups, fc.boolean(), fc.boolean(), (g, upper, padded) => {
      const written = g.map((x) => {
        const h = padded ? x.toString(16).padStart(4, '0') : x.toString(16);
        return upper ? h.toUpperCase() : h;
      }).join(':');
      const want = new URL(`http://[${written}]/`).hostname.slice(1, -1);
      const got = parseAddress(written);
      assert.deepEqual(got, { ok: true, value: { address: want, family: 6 } });
      // Idempotent, and the groups survive the round trip.
      assert.equal(canonicalAddress(want), want);
      assert.deepEqual(ipv6Groups(want), g);
      assert.equal(ipv6Text(g), want);
    }), { numRuns: 2000, seed: 5952 });
  });
});

describe('address: refused texts', () => {
  it('empty and garbage', () => {
    assert.equal(reason(''), 'empty');
    assert.equal(reason('   '), 'empty');
    assert.equal(reason('not-an-ip'), 'not an IP address');
    assert.equal(reason('filesrv.example.com'), 'not an IP address');
  });
});

describe('address: prefixes', () => {
  it('decimal lengths in range, dotted IPv4 netmasks', () => {
    assert.deepEqual(parsePrefix('24', 4), { ok: true, value: 24 });
    assert.deepEqual(parsePrefix('0', 4), { ok: true, value: 0 });
    assert.deepEqual(parsePrefix('32', 4), { ok: true, value: 32 });
    assert.deepEqual(parsePrefix('128', 6), { ok: true, value: 128 });
    assert.deepEqual(parsePrefix('255.255.255.0', 4), { ok: true, value: 24 });
    assert.deepEqual(parsePrefix('255.255.255.255', 4), { ok: true, value: 32 });
    assert.deepEqual(parsePrefix('0.0.0.0', 4), { ok: true, value: 0 });
  });
  it('refuses out of range, leading zeros, holes in a netmask, a netmask for IPv6', () => {
    for (const [text, family] of [['33', 4], ['129', 6], ['024', 4], ['-1', 4], ['', 4], ['x', 6], ['255.0.255.0', 4], ['255.255.255.0', 6], ['1e1', 4]] as const) {
      assert.equal(parsePrefix(text, family).ok, false, `${text} (IPv${family})`);
    }
    const r = parsePrefix('33', 4);
    assert.equal(r.ok ? '' : r.problem.reason, 'prefix length 33 is out of range for IPv4 (0-32)');
  });
  it('an address with /N', () => {
    assert.deepEqual(parseAddressWithPrefix('2001:DB8::1/64'), { ok: true, value: { address: '2001:db8::1', family: 6, prefix: 64 } });
    assert.deepEqual(parseAddressWithPrefix('10.0.0.1/24'), { ok: true, value: { address: '10.0.0.1', family: 4, prefix: 24 } });
    assert.deepEqual(parseAddressWithPrefix('10.0.0.1'), { ok: true, value: { address: '10.0.0.1', family: 4, prefix: null } });
    for (const text of ['10.0.0.1/33', '2001:db8::1/129', '/33', '10.0.0.1/', '10.0.0.1/24/24', 'fe80::1%eth0/64']) assert.equal(parseAddressWithPrefix(text).ok, false, text);
  });
});
