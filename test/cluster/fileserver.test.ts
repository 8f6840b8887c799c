// Issue 11, requirement 3: the real thing end to end. Samba 4.22 (Debian 13, in a chroot made by
// test/fileserver/build-chroot.sh) serves a share on storage that moves with the floating IP on a
// 2-node Pacemaker cluster; the witness runs as a clone through its OCF agent. An SMB3 client
// (python3-samba) in the hub's namespace connects through the IP; tshark on the hub's bridge reads
// the share capabilities from the TREE_CONNECT response; the same client registers with the
// witness of the other node (authenticated, sealed), the group is moved with pcs, and the client is
// told, reconnects and reads its file back. A second client without the witness rides the same move.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ACCOUNTS, CLIENT, harness, installAccounts, onNode, requireBuild, ROOT, sh, show, STORE, until } from './harness.ts';
import { Capture, CHROOT, createFileserverGroup, DIR, HUB, makeStorage, prepareDir, prepareNode, rootfs, SHARE, SHARE_PATH, SMB_USER, smbClient, treeConnectCaps, type ClientLine, type Storage } from '../fileserver/fileserver.ts';

const VIP = '198.18.0.100';
const smbAccount = { vip: VIP, share: SHARE, user: SMB_USER.user, password: SMB_USER.password, domain: SMB_USER.domain };
// SMB2_SHARE_CAP_CONTINUOUS_AVAILABILITY and SMB2_SHARE_CAP_CLUSTER (MS-SMB2 2.2.10).
const CAP_CA = 0x10;
const CAP_CLUSTER = 0x40;
// The client without witness waits this long for an answer (Windows' SessTimeout), so that TCP,
// not the SMB client's own 20 s default, decides when it notices.
const PLAIN_TIMEOUT_MS = 60_000;

async function locate(): Promise<string> {
  return (await onNode(1, 'crm_resource', '--locate', '-r', 'fileserver', '-Q')).trim();
}

/** The witness client's steps between the notification and the reconnection, for the timeline. */
function witnessSteps(lines: ClientLine[], t0: number): string[] {
  return lines.filter((l) => l.ev === 'forgotten' || l.ev === 'registered_again' || (l.ev === 'notified' && (l['changes'] as { change: number }[]).some((c) => c.change === 1))).map((l) => {
    const what = l.ev === 'notified' ? 'RESOURCE_CHANGE AVAILABLE' : l.ev === 'forgotten' ? 'AsyncNotify: NOT_FOUND (the witness forgot the registration)' : `registered again (GetInterfaceList: the IP's state ${String(l['vip_state'])})`;
    return `#   ${(l.t * 1000 - t0).toFixed(0).padStart(6)} ms  witness client: ${what}`;
  });
}

function at(lines: ClientLine[], ev: string, pred: (l: ClientLine) => boolean = () => true): number {
  const l = lines.find((x) => x.ev === ev && pred(x));
  assert.ok(l, `a "${ev}" line among ${JSON.stringify(lines)}`);
  return l.t * 1000;
}

describe('Samba 4.22 on a 2-node Pacemaker cluster with the witness: share caps, a move, the client told and back', { timeout: 1_500_000 }, () => {
  let storage: Storage | null = null;

  before(async () => {
    requireBuild();
    const rf = await rootfs();
    console.log(`# Debian 13 Samba tree ${rf.path}: ${rf.built ? 'built now' : 'cached'} (build took ${rf.seconds} s)`);
    await harness('down');
    prepareDir();
    storage = await makeStorage();
    const up = await harness('up', '2');
    assert.equal(up.code, 0, up.stderr);
    for (const k of [1, 2]) await prepareNode(k, rf.path);
    const inst = await sh('bash', [path.join(ROOT, 'ocf/install.sh')]);
    assert.equal(inst.code, 0, inst.stderr);
    await installAccounts();
    await onNode(1, 'crm_attribute', '-t', 'rsc_defaults', '-n', 'resource-stickiness', '-v', '100');
    await createFileserverGroup(storage.device, VIP);
    await onNode(1, 'pcs', 'resource', 'create', 'witness', 'ocf:witness:witnessd', 'netname=FILESRV', `accounts=${ACCOUNTS}`, 'min_auth_level=privacy', `shares=${SHARE}=fileserver`, 'samba_shares=off', 'clone');
    await onNode(1, 'crm_resource', '--wait', '--timeout=120');
  });

  after(async () => {
    // PWFS_KEEP=1 leaves the cluster running to look at (harness.sh down, losetup -d, rm -r DIR after).
    if (process.env['PWFS_KEEP'] === '1') return;
    await harness('down');
    await storage?.release();
    fs.rmSync(DIR, { recursive: true, force: true });
  });

  it('an SMB3 client writes through the floating IP to the moving storage; tshark sees CLUSTER and CONTINUOUS_AVAILABILITY in the TREE_CONNECT response', async () => {
    const host = await locate();
    const pcap = path.join(DIR, 'tree-connect.pcapng');
    const cap = new Capture(pcap);
    let run;
    try {
      await cap.started();
      run = await smbClient({ mode: 'once', ...smbAccount, file: 'caps.txt', data: 'share caps' }, 60_000).done;
      // dumpcap writes in its own time: read the file while it still captures until the response is in.
      await until('the TREE_CONNECT response in the capture', 15_000, async () => (await treeConnectCaps(pcap).catch(() => [])).length > 0).catch(() => null);
    } finally {
      await cap.stop();
    }
    assert.equal(run.code, 0, JSON.stringify(run));
    assert.ok(run.lines.some((l) => l.ev === 'read_back' && l['match'] === true), JSON.stringify(run.lines));
    const caps = await treeConnectCaps(pcap);
    assert.ok(caps.length >= 1, 'tshark saw a successful TREE_CONNECT response');
    for (const c of caps) {
      assert.ok(c.cluster && c.ca, `share caps 0x${c.caps.toString(16)}`);
      assert.equal(c.caps & (CAP_CLUSTER | CAP_CA), CAP_CLUSTER | CAP_CA);
    }
    // The file is on the shared disk, mounted on the IP's node only.
    const k = Number(host.slice(1));
    assert.equal(await onNode(k, 'cat', `${CHROOT}${SHARE_PATH}/caps.txt`), 'share caps');
    const other = await harness('exec', String(3 - k), 'test', '-e', `${CHROOT}${SHARE_PATH}/caps.txt`);
    assert.notEqual(other.code, 0, 'the storage is not mounted on the other node');
    console.log(`# TREE_CONNECT share capabilities seen by tshark: ${caps.map((c) => `0x${c.caps.toString(16).padStart(8, '0')}`).join(', ')}`);
  });

  it('pcs moves the group: the witness client (registered sealed with the other node) is told, reconnects to the IP on its new node and reads its file back; a client without witness waits for TCP', async () => {
    const a = await locate();
    const b = a === 'n1' ? 'n2' : 'n1';
    const kb = Number(b.slice(1));
    const witnessJob = {
      mode: 'witness', ...smbAccount, file: 'witness.txt', data: `written through ${VIP} on ${a}`, deadline: 150,
      witness_host: `198.18.0.${kb}`, witness_user: CLIENT.user, witness_password: CLIENT.password, witness_domain: CLIENT.domain,
      auth: 'seal', client: 'fs-client', share_name: SHARE,
    };
    const w = smbClient(witnessJob, 170_000);
    const plain = smbClient({ mode: 'plain', ...smbAccount, file: 'plain.txt', data: 'no witness', deadline: 150, interval: 0.1, smb_timeout_ms: PLAIN_TIMEOUT_MS }, 170_000);
    await until('the witness client to wait in AsyncNotify on ' + b, 60_000, async () => {
      const rows = JSON.parse(await onNode(kb, path.join(ROOT, 'bin/witnessctl'), 'list', '--json', '--db', STORE)) as { clientName: string; pending: boolean }[];
      return rows.some((r) => r.clientName === 'fs-client' && r.pending);
    });
    await until('the plain client to have written its file', 30_000, () => Promise.resolve(plain.lines.some((l) => l.ev === 'written')));
    const seq0 = (await show(kb))?.events.at(-1)?.seq ?? 0;
    const t0 = Date.now();
    await onNode(1, 'crm_resource', '--move', '-r', 'fileserver', '-N', b);
    let wr, pr;
    try {
      [wr, pr] = await Promise.all([w.done, plain.done]);
    } finally {
      await onNode(1, 'crm_resource', '--clear', '-r', 'fileserver');
    }
    assert.equal(wr.code, 0, JSON.stringify(wr));
    assert.equal(pr.code, 0, JSON.stringify(pr));
    assert.equal(await locate(), b);
    const events = ((await show(kb))?.events ?? []).filter((e) => e.seq > seq0 && e.subject === VIP);
    const stop = events.find((e) => e.kind === 'ip_offline' || e.kind === 'ip_moved');
    const start = events.find((e) => (e.kind === 'ip_online' || e.kind === 'ip_moved') && e.to === b);
    assert.ok(stop && start, `the move in ${b}'s store: ${JSON.stringify(events)}`);

    const down = at(wr.lines, 'notified', (l) => (l['changes'] as { change: number }[]).some((c) => c.change === 0xff));
    const wBack = at(wr.lines, 'read_back', (l) => l['match'] === true);
    const wConn = at(wr.lines, 'reconnected');
    // The client reconnected once the IP was up again, so on the node it moved to.
    assert.ok(wConn >= start.at, `reconnected ${wConn} before the IP's start was recorded ${start.at}`);
    const pFail = at(pr.lines, 'failed');
    const pConn = at(pr.lines, 'reconnected');
    const pBack = at(pr.lines, 'read_back', (l) => l['match'] === true);
    // What the witness node recorded of the notification: delivered to the authenticated account.
    const audit = JSON.parse(await onNode(kb, path.join(ROOT, 'bin/witnessctl'), 'audit', '--json', '--db', STORE)) as { clientName: string; summary: string; outcome: string; identity: string | null }[];
    assert.ok(audit.some((x) => x.clientName === 'fs-client' && x.summary === 'FILESRV UNAVAILABLE' && x.outcome === 'delivered' && x.identity === `${CLIENT.domain}\\${CLIENT.user}`), JSON.stringify(audit));
    assert.equal(await onNode(kb, 'cat', `${CHROOT}${SHARE_PATH}/witness.txt`), witnessJob.data);

    const ms = (t: number): string => `${(t - t0).toFixed(0).padStart(6)} ms`;
    console.log(`# timeline of crm_resource --move fileserver ${a} -> ${b} (t=0: the command starts)`);
    console.log(`#   ${ms(stop.at)}  ${b}'s store records the IP's stop (${stop.kind})`);
    console.log(`#   ${ms(down)}  witness client: RESOURCE_CHANGE UNAVAILABLE`);
    for (const l of witnessSteps(wr.lines, t0)) console.log(l);
    console.log(`#   ${ms(start.at)}  ${b}'s store records the IP's start on ${b} (${start.kind})`);
    console.log(`#   ${ms(wConn)}  witness client: reconnected to ${VIP}`);
    console.log(`#   ${ms(wBack)}  witness client: file read back`);
    console.log(`#   ${ms(Number(pr.lines.find((l) => l.ev === 'failed')?.['last_ok']) * 1000)}  client without witness: last read answered`);
    console.log(`#   ${ms(pFail)}  client without witness: its read fails (${JSON.stringify(pr.lines.find((l) => l.ev === 'failed')?.['error'] ?? null)})`);
    console.log(`#   ${ms(pConn)}  client without witness: reconnected`);
    console.log(`#   ${ms(pBack)}  client without witness: file read back`);
  });

  it('with ocf:witness:tickle in the group, a client without witness is reset as soon as the IP is back and reconnects', async () => {
    const a = await locate();
    const b = a === 'n1' ? 'n2' : 'n1';
    const ka = Number(a.slice(1));
    const tickleDir = `${CHROOT}${SHARE_PATH}/.tickle`;
    await onNode(ka, 'mkdir', '-p', tickleDir);
    // Installed again: /usr/lib/ocf is the host's, and other tests install and remove the agents there.
    const inst = await sh('bash', [path.join(ROOT, 'ocf/install.sh')]);
    assert.equal(inst.code, 0, inst.stderr);
    await onNode(1, 'pcs', 'resource', 'create', 'tickle', 'ocf:witness:tickle', `ip=${VIP}`, 'port=445', `tickle_dir=${tickleDir}`, '--group', 'fileserver');
    await onNode(1, 'crm_resource', '--wait', '--timeout=90');
    const plain = smbClient({ mode: 'plain', ...smbAccount, file: 'tickled.txt', data: 'tickled', deadline: 150, interval: 0.1, smb_timeout_ms: PLAIN_TIMEOUT_MS }, 170_000);
    await until('the plain client to have written its file', 30_000, () => Promise.resolve(plain.lines.some((l) => l.ev === 'written')));
    const kb = Number(b.slice(1));
    const seq0 = (await show(kb))?.events.at(-1)?.seq ?? 0;
    const t0 = Date.now();
    await onNode(1, 'crm_resource', '--move', '-r', 'fileserver', '-N', b);
    let pr;
    try {
      pr = await plain.done;
    } finally {
      await onNode(1, 'crm_resource', '--clear', '-r', 'fileserver');
    }
    assert.equal(pr.code, 0, JSON.stringify(pr));
    const events = ((await show(kb))?.events ?? []).filter((e) => e.seq > seq0 && e.subject === VIP);
    const start = events.find((e) => (e.kind === 'ip_online' || e.kind === 'ip_moved') && e.to === b);
    assert.ok(start, JSON.stringify(events));
    // The new node's tickle start found the old node's record of the client's connection on the
    // storage that moved, and sent it ACKs (its log line, in the node's Pacemaker log).
    const log = await onNode(kb, 'grep', '-h', `tickle ACK(s) to each of`, '/var/log/pacemaker/pacemaker.log');
    assert.match(log, new RegExp(`sent \\d+ tickle ACK\\(s\\) to each of [1-9]\\d* client\\(s\\) of ${VIP.replaceAll('.', '\\.')}:445`), log);
    const pFail = at(pr.lines, 'failed');
    const pBack = at(pr.lines, 'read_back', (l) => l['match'] === true);
    const ms = (t: number): string => `${(t - t0).toFixed(0).padStart(6)} ms`;
    console.log(`# timeline of crm_resource --move fileserver ${a} -> ${b} with ocf:witness:tickle in the group (t=0: the command starts)`);
    console.log(`#   ${ms(start.at)}  ${b}'s store records the IP's start on ${b} (${start.kind})`);
    console.log(`#   ${ms(Number(pr.lines.find((l) => l.ev === 'failed')?.['last_ok']) * 1000)}  client without witness: last read answered`);
    console.log(`#   ${ms(pFail)}  client without witness: its read fails (${JSON.stringify(pr.lines.find((l) => l.ev === 'failed')?.['error'] ?? null)})`);
    console.log(`#   ${ms(pBack)}  client without witness: reconnected, file read back`);
    // The reset comes with the tickle (the group's last start), not after a retransmission timeout.
    assert.ok(pFail - start.at < 10_000, `the client noticed ${pFail - start.at} ms after the IP's start`);
  });

  it('power cut of the node serving the share: the witness client, registered with the survivor, is told and back once the survivor runs the group; the client without witness waits for TCP', async () => {
    await onNode(1, 'pcs', 'resource', 'delete', 'tickle');
    await onNode(1, 'crm_resource', '--wait', '--timeout=90');
    const a = await locate();
    const b = a === 'n1' ? 'n2' : 'n1';
    const ka = Number(a.slice(1));
    const kb = Number(b.slice(1));
    const w = smbClient({
      mode: 'witness', ...smbAccount, file: 'cut.txt', data: `written on ${a} before the power cut`, deadline: 150,
      witness_host: `198.18.0.${kb}`, witness_user: CLIENT.user, witness_password: CLIENT.password, witness_domain: CLIENT.domain,
      auth: 'seal', client: 'cut-client', share_name: SHARE,
    }, 170_000);
    const plain = smbClient({ mode: 'plain', ...smbAccount, file: 'cut-plain.txt', data: 'no witness', deadline: 150, interval: 0.1, smb_timeout_ms: PLAIN_TIMEOUT_MS }, 170_000);
    await until('the witness client to wait in AsyncNotify on ' + b, 60_000, async () => {
      const rows = JSON.parse(await onNode(kb, path.join(ROOT, 'bin/witnessctl'), 'list', '--json', '--db', STORE)) as { clientName: string; pending: boolean }[];
      return rows.some((r) => r.clientName === 'cut-client' && r.pending);
    });
    await until('the plain client to have written its file', 30_000, () => Promise.resolve(plain.lines.some((l) => l.ev === 'written')));
    const seq0 = (await show(kb))?.events.at(-1)?.seq ?? 0;
    const t0 = Date.now();
    // A power cut sends nothing more: the node's link goes first (else its kernel would close the
    // killed smbd's connections with FIN/RST and tell the client), then everything in it dies.
    const cut = await sh('ip', ['-n', HUB, 'link', 'set', `h${ka}`, 'down']);
    assert.equal(cut.code, 0, cut.stderr);
    const killed = await harness('kill', String(ka));
    assert.equal(killed.code, 0, killed.stderr);
    const [wr, pr] = await Promise.all([w.done, plain.done]);
    assert.equal(wr.code, 0, JSON.stringify(wr));
    assert.equal(pr.code, 0, JSON.stringify(pr));
    const events = ((await show(kb))?.events ?? []).filter((e) => e.seq > seq0);
    const lost = events.find((e) => e.kind === 'node_lost' && e.subject === a);
    const start = events.find((e) => e.subject === VIP && (e.kind === 'ip_online' || e.kind === 'ip_moved') && e.to === b);
    assert.ok(lost && start, JSON.stringify(events));
    const down = at(wr.lines, 'notified', (l) => (l['changes'] as { change: number }[]).some((c) => c.change === 0xff));
    const wConn = at(wr.lines, 'reconnected');
    const wBack = at(wr.lines, 'read_back', (l) => l['match'] === true);
    assert.ok(wConn >= start.at, 'reconnected once the survivor had the IP');
    const pFail = at(pr.lines, 'failed');
    const pBack = at(pr.lines, 'read_back', (l) => l['match'] === true);
    const ms = (t: number): string => `${(t - t0).toFixed(0).padStart(6)} ms`;
    console.log(`# timeline of a power cut of ${a} (link down, then harness.sh kill; t=0: the link goes down)`);
    console.log(`#   ${ms(lost.at)}  ${b}'s store records ${a} lost (node_lost)`);
    console.log(`#   ${ms(down)}  witness client: RESOURCE_CHANGE UNAVAILABLE`);
    for (const l of witnessSteps(wr.lines, t0)) console.log(l);
    console.log(`#   ${ms(start.at)}  ${b}'s store records the IP's start on ${b} (${start.kind})`);
    console.log(`#   ${ms(wConn)}  witness client: reconnected to ${VIP} (TCP probes: ${String(wr.lines.find((l) => l.ev === 'reconnected')?.['tries'])})`);
    console.log(`#   ${ms(wBack)}  witness client: file read back`);
    console.log(`#   ${ms(Number(pr.lines.find((l) => l.ev === 'failed')?.['last_ok']) * 1000)}  client without witness: last read answered`);
    console.log(`#   ${ms(pFail)}  client without witness: its read fails (${JSON.stringify(pr.lines.find((l) => l.ev === 'failed')?.['error'] ?? null)})`);
    console.log(`#   ${ms(pBack)}  client without witness: reconnected, file read back`);
  });
});
