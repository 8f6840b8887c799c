// service/epm/port-holder.ts on /proc/net/tcp text as the kernel prints it (lines from a node
// where samba-dcerpcd held 135 on both families) and on this process's own listening socket.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { describeHolders, listeningInodes, procAddress, tcpPortHolders } from '../../service/epm/port-holder.ts';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0087 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 88231 1 0000000000000000 100 0 0 10 0
   1: 014D13C6:0087 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 88240 1 0000000000000000 100 0 0 10 0
   2: 0A4D13C6:0087 014D13C6:C350 01 00000000:00000000 00:00000000 00000000     0        0 88301 1 0000000000000000 20 4 30 10 -1
   3: 00000000:01BD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 88100 1 0000000000000000 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0087 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 88232 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0087 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 88233 1 0000000000000000 100 0 0 10 0
`;

describe('port-holder', () => {
  it('decodes procfs addresses (each 32-bit word in host order)', () => {
    assert.equal(procAddress('0100007F'), '127.0.0.1');
    assert.equal(procAddress('014D13C6'), '198.19.77.1');
    assert.equal(procAddress('00000000000000000000000001000000'), '[::1]');
    assert.equal(procAddress('00000000000000000000000000000000'), '[::]');
    assert.equal(procAddress('B80D0120000000000000000001000000'), '[2001:db8::1]');
  });

  it('keeps only listening sockets on the port', () => {
    assert.deepEqual([...listeningInodes(TCP, 135)], [['88231', '0.0.0.0:135'], ['88240', '198.19.77.1:135']]);
    assert.deepEqual([...listeningInodes(TCP6, 135)], [['88232', '[::]:135'], ['88233', '[::1]:135']]);
    assert.deepEqual([...listeningInodes(TCP, 136)], []);
    assert.deepEqual([...listeningInodes('', 135)], []);
  });

  it('finds this process listening, and says so in one sentence', async () => {
    const srv = net.createServer();
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      const holders = tcpPortHolders(port);
      assert.deepEqual(holders.map((h) => [h.pid, h.address]), [[process.pid, `127.0.0.1:${port}`]]);
      assert.equal(describeHolders(port, holders), `TCP port ${port} is held by ${holders[0]?.comm ?? ''} (pid ${process.pid}) on 127.0.0.1:${port}`);
    } finally {
      srv.close();
    }
    assert.match(describeHolders(port, []), /in use \(by a process this user cannot see\)/);
  });
});
