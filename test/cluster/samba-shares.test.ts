// Shares learnt from Samba on a real 2-node Pacemaker cluster: a file-server group (an
// ocf:heartbeat:Filesystem bind mount of a directory of this test + an IPaddr2), the witness clone
// reading a private smb.conf with a share under the group's mount point (samba_shares=), no
// shares= map. Each node's store must show the share following the group; a python3-samba client
// registered for the share gets SHARE_MOVE with the group's IP when pcs moves the group, and a
// RegisterEx for a share smb.conf does not have gets ERROR_INVALID_STATE.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clientCreds, harness, installAccounts, ACCOUNTS, onNode, requireBuild, ROOT, sh, show, STORE, until } from './harness.ts';
import { runPy, type PyResult } from '../peers/peers.ts';
import { MessageType, WinError, WitnessVersion } from '../../service/swn/constants.ts';

const VIP = '198.18.0.100'; // in the group: moves with the share
const VIP2 = '198.18.0.101'; // stays on n2: the client registers through it

describe('shares learnt from smb.conf on a real 2-node cluster', { timeout: 300_000 }, () => {
  let dir = '';
  before(async () => {
    requireBuild();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-samba-cluster-'));
    for (const d of ['backing/data', 'mnt/fs1', 'samba/state', 'samba/cache', 'samba/lock', 'samba/private', 'samba/pid', 'samba/ncalrpc']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    const s = path.join(dir, 'samba');
    fs.writeFileSync(path.join(dir, 'smb.conf'), [
      '[global]', '\tworkgroup = PWCI', `\tstate directory = ${s}/state`, `\tcache directory = ${s}/cache`, `\tlock directory = ${s}/lock`,
      `\tprivate dir = ${s}/private`, `\tpid directory = ${s}/pid`, `\tncalrpc dir = ${s}/ncalrpc`, '\tload printers = no', '',
      '[Data]', `\tpath = ${dir}/mnt/fs1/data`, '', '[scratch]', '\tpath = /var/tmp', '',
    ].join('\n'));
    await harness('down');
    const up = await harness('up', '2');
    assert.equal(up.code, 0, up.stderr);
    const inst = await sh('bash', [path.join(ROOT, 'ocf/install.sh')]);
    assert.equal(inst.code, 0, inst.stderr);
    await installAccounts();
    await onNode(1, 'crm_attribute', '-t', 'rsc_defaults', '-n', 'resource-stickiness', '-v', '100');
    await onNode(1, 'pcs', 'resource', 'create', 'witness', 'ocf:witness:witnessd', 'netname=FILESRV', `accounts=${ACCOUNTS}`, `samba_shares=${dir}/smb.conf`, 'epm=off', 'clone');
    await onNode(1, 'pcs', 'resource', 'create', 'fs1', 'ocf:heartbeat:Filesystem', `device=${dir}/backing`, `directory=${dir}/mnt/fs1`, 'fstype=none', 'options=bind', 'force_unmount=false', '--group', 'g-fs1');
    await onNode(1, 'pcs', 'resource', 'create', 'vip', 'ocf:heartbeat:IPaddr2', `ip=${VIP}`, 'cidr_netmask=24', 'nic=eth0', '--group', 'g-fs1');
    await onNode(1, 'pcs', 'resource', 'create', 'vip2', 'ocf:heartbeat:IPaddr2', `ip=${VIP2}`, 'cidr_netmask=24', 'nic=eth0');
    await onNode(1, 'pcs', 'constraint', 'location', 'g-fs1', 'prefers', 'n1=50');
    await onNode(1, 'pcs', 'constraint', 'location', 'vip2', 'prefers', 'n2=INFINITY');
    await onNode(1, 'crm_resource', '--wait', '--timeout=90');
  });
  after(async () => {
    await harness('down');
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  it('each node learns the share from smb.conf and that it follows the Filesystem\'s group', async () => {
    for (const k of [1, 2]) {
      const st = await until(`n${k}'s store to show share Data on n1`, 30_000, async () => {
        const s = await show(k);
        return s?.view?.shares.some((x) => x.name === 'Data' && x.node === 'n1') === true ? s : null;
      });
      assert.deepEqual(st.view?.shares.map((x) => [x.name, x.resource, x.node, x.ips]), [['Data', 'g-fs1', 'n1', [VIP]], ['scratch', '', null, []]]);
    }
  });

  it('the group moved (crm_resource --move): the client registered for the share on n2 gets SHARE_MOVE with the group\'s IP; an unknown share is refused', async () => {
    const client = runPy([
      { op: 'connect', conn: 'w', host: '198.18.0.2', port: 5999, ...clientCreds() },
      { op: 'RegisterEx', conn: 'w', version: WitnessVersion.V2, net: 'FILESRV', share: 'nosuch', ip: VIP2, client: 'share-client', flags: 0, timeout: 120 },
      { op: 'RegisterEx', conn: 'w', version: WitnessVersion.V2, net: 'FILESRV', share: 'DATA', ip: VIP2, client: 'share-client', flags: 0, timeout: 120, save: 'h' },
      { op: 'AsyncNotify', conn: 'w', handle: 'h' },
    ], 120_000, ['ip', 'netns', 'exec', 'pwci-hub']);
    await until('share-client to be pending on n2', 30_000, async () => {
      const out = await onNode(2, path.join(ROOT, 'bin/witnessctl'), 'list', '--json', '--db', STORE);
      return (JSON.parse(out) as { clientName: string; pending: boolean; shareName: string | null }[]).some((r) => r.clientName === 'share-client' && r.pending);
    });
    const seq0 = (await show(2))?.events.at(-1)?.seq ?? 0;
    const t0 = Date.now();
    await onNode(1, 'crm_resource', '--move', '-r', 'g-fs1', '-N', 'n2');
    let r: PyResult[];
    try {
      r = await client;
    } finally {
      await onNode(1, 'crm_resource', '--clear', '-r', 'g-fs1');
    }
    assert.equal(r[1]?.werror, WinError.INVALID_STATE, JSON.stringify(r[1]));
    assert.equal(r[2]?.werror, 0, JSON.stringify(r[2]));
    const res = r[3]?.['result'] as { type: number; messages: { addresses?: { ipv4: string }[] }[] } | undefined;
    assert.equal(res?.type, MessageType.SHARE_MOVE, JSON.stringify(r[3]));
    assert.deepEqual((res?.messages[0]?.addresses ?? []).map((a) => a.ipv4), [VIP]);
    const st = await show(2);
    const timeline = (st?.events ?? []).filter((e) => e.seq > seq0).map((e) => `${e.kind} ${e.subject} ${e.from ?? '-'}>${e.to ?? '-'} +${e.at - t0} ms`);
    console.log(`# crm_resource --move g-fs1 → SHARE_MOVE at the client: ${(Number(r[3]?.['t']) * 1000 - t0).toFixed(0)} ms; n2's events: ${timeline.join('; ')}`);
    assert.ok(st?.events.some((e) => e.kind === 'share_moved' && e.subject === 'Data' && e.to === 'n2'), 'n2 recorded the share\'s move');
    // The share really is where the group is: mounted on n2, not on n1.
    assert.match(await onNode(2, 'findmnt', '-n', '-o', 'TARGET', `${dir}/mnt/fs1`), /mnt\/fs1/);
    const n1 = await harness('exec', '1', 'findmnt', '-n', `${dir}/mnt/fs1`);
    assert.notEqual(n1.code, 0);
  });
});
