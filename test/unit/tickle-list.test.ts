// ocf/tickle.ts's connection list (portblock's tickle_dir format) and ocf/tcp-established.ts on
// /proc/net/tcp text as the kernel prints it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatList, parseList } from '../../ocf/tickle.ts';
import { establishedTo } from '../../ocf/tcp-established.ts';

// Two clients of 198.19.78.10:445 (one in TIME_WAIT, 06), the listener (0A), a connection to
// another local address and one to another port.
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:01BD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1000 1 0000000000000000 100 0 0 10 0
   1: 0A4E13C6:01BD 644E13C6:C350 01 00000000:00000000 02:000AFC0C 00000000     0        0 1001 2 0000000000000000 20 4 30 10 -1
   2: 0A4E13C6:01BD 644E13C6:C351 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   3: 0A4E13C6:01BD 654E13C6:0400 01 00000000:00000000 02:000AFC0C 00000000     0        0 1003 2 0000000000000000 20 4 30 10 -1
   4: 014E13C6:01BD 644E13C6:C352 01 00000000:00000000 02:000AFC0C 00000000     0        0 1004 2 0000000000000000 20 4 30 10 -1
   5: 0A4E13C6:0016 644E13C6:C353 01 00000000:00000000 02:000AFC0C 00000000     0        0 1005 2 0000000000000000 20 4 30 10 -1
`;

describe('tickle connection list', () => {
  it('finds the established connections to ip:port in /proc/net/tcp', () => {
    assert.deepEqual(establishedTo(TCP, '198.19.78.10', 445), [
      { local: '198.19.78.10:445', remote: '198.19.78.100:50000' },
      { local: '198.19.78.10:445', remote: '198.19.78.101:1024' },
    ]);
    assert.deepEqual(establishedTo(TCP, '198.19.78.10', 139), []);
    assert.deepEqual(establishedTo('', '198.19.78.10', 445), []);
  });

  it('writes and reads portblock\'s format; other lines are skipped and counted', () => {
    const conns = establishedTo(TCP, '198.19.78.10', 445);
    const text = formatList(conns);
    assert.equal(text, '198.19.78.10:445\t198.19.78.100:50000\n198.19.78.10:445\t198.19.78.101:1024\n');
    assert.deepEqual(parseList(text, '198.19.78.10:445'), { conns, skipped: 0 });
    // portblock's own file (ss output through awk) is the same format; spaces work too.
    const odd = '198.19.78.10:445 198.19.78.102:2000\n198.19.78.11:445\t198.19.78.100:1\n198.19.78.10:445\t198.19.78.100:0\n198.19.78.10:445\t198.19.78.100:65536\ngarbage\n\n';
    assert.deepEqual(parseList(odd, '198.19.78.10:445'), { conns: [{ local: '198.19.78.10:445', remote: '198.19.78.102:2000' }], skipped: 4 });
  });

  it('reads at most 65,536 connections from a list', () => {
    const many = Array.from({ length: 70_000 }, (_, i) => `10.0.0.1:445\t10.1.${(i >> 8) & 255}.${i & 255}:${1024 + (i % 60000)}`).join('\n');
    const r = parseList(many, '10.0.0.1:445');
    assert.equal(r.conns.length, 65_536);
    assert.equal(r.skipped, 70_000 - 65_536);
  });
});
