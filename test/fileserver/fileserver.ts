// The file-server half of the end-to-end test: a Debian 13 Samba (from build-chroot.sh) run on
// the namespace cluster of test/cluster/harness.sh, on storage that moves with the floating IP.
//
// Layout (everything under one directory of the test's own, DIR):
//   DIR/disk.img            an ext4 image on a loop device: the shared storage (one device, seen
//                           by every node through the shared /dev; Pacemaker mounts it on one)
//   DIR/root                the path smbd's tree is mounted at, the same on every node, but each
//                           node mounts its own overlay there inside its own mount namespace:
//                           the cached Debian 13 tree below, DIR/nK/upper above (the node's
//                           smb.conf, passdb, locks and logs), so nothing the nodes write is shared
//                           and the cached tree is never written
//   DIR/root/srv/data       where ocf:heartbeat:Filesystem mounts the disk: the share's path
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { onNode, ROOT, sh } from '../cluster/harness.ts';

export const DIR = '/tmp/pwfs-e2e';
/** The harness's hub namespace (its bridge br0 joins the nodes; clients and tshark run there). */
export const HUB = `${process.env['PWCI_PREFIX'] ?? 'pwci'}-hub`;
export const CHROOT = path.join(DIR, 'root');
export const SHARE = 'data';
export const SHARE_PATH = '/srv/data';
/** The SMB account every node's smbd knows (its own passdb, same password). */
export const SMB_USER = { user: 'pwfs', password: 'Pwfs-Share.42', domain: 'FILESRV', uid: 1000 } as const;

/** The cached Debian 13 tree with smbd (built on first use; a few minutes, see build-chroot.sh). */
export async function rootfs(): Promise<{ path: string; built: boolean; seconds: number }> {
  const before = await sh('bash', [path.join(ROOT, 'test/fileserver/build-chroot.sh'), '--path']);
  const existed = fs.existsSync(path.join(before.stdout.trim(), '.complete'));
  const r = await sh('bash', [path.join(ROOT, 'test/fileserver/build-chroot.sh')], 1_800_000);
  if (r.code !== 0) throw new Error(`build-chroot.sh failed (${r.code}):\n${r.stderr}`);
  const p = r.stdout.trim();
  const seconds = Number(fs.readFileSync(path.join(p, '.build-seconds'), 'utf8'));
  return { path: p, built: !existed, seconds };
}

/**
 * smb.conf: a standalone server named like the cluster's NetName, one disk share on the moving
 * storage with the two SMB3 share capabilities a Windows client wants before it uses the witness
 * (MS-SMB2 2.2.10: SMB2_SHARE_CAP_CONTINUOUS_AVAILABILITY 0x10, SMB2_SHARE_CAP_CLUSTER 0x40;
 * Samba ≥ 4.20 sets them without CTDB through these parametric options).
 */
export function smbConf(): string {
  return [
    '[global]',
    '  netbios name = FILESRV',
    '  workgroup = FILESRV',
    '  server role = standalone server',
    '  server min protocol = SMB2_10',
    '  smb ports = 445',
    '  disable netbios = yes',
    '  load printers = no',
    '  printing = bsd',
    '  printcap name = /dev/null',
    '  disable spoolss = yes',
    '  logging = file',
    '  log file = /var/log/samba/log.%m',
    '  log level = 1',
    '',
    `[${SHARE}]`,
    `  path = ${SHARE_PATH}`,
    '  read only = no',
    `  valid users = ${SMB_USER.user}`,
    '  smb3 share cap:CLUSTER = yes',
    '  smb3 share cap:CONTINUOUS AVAILABILITY = yes',
    '',
  ].join('\n');
}

/** Per-node overlay upper layers, written before they are mounted: smb.conf, the account, the mount point. */
function prepareUpper(k: number, lower: string): void {
  const up = path.join(DIR, `n${k}`, 'upper');
  fs.mkdirSync(path.join(DIR, `n${k}`, 'work'), { recursive: true });
  fs.mkdirSync(path.join(up, 'etc/samba'), { recursive: true });
  fs.mkdirSync(path.join(up, SHARE_PATH.slice(1)), { recursive: true });
  fs.writeFileSync(path.join(up, 'etc/samba/smb.conf'), smbConf());
  const passwd = fs.readFileSync(path.join(lower, 'etc/passwd'), 'utf8');
  const group = fs.readFileSync(path.join(lower, 'etc/group'), 'utf8');
  fs.writeFileSync(path.join(up, 'etc/passwd'), `${passwd}${SMB_USER.user}:x:${SMB_USER.uid}:${SMB_USER.uid}::/nonexistent:/usr/sbin/nologin\n`);
  fs.writeFileSync(path.join(up, 'etc/group'), `${group}${SMB_USER.user}:x:${SMB_USER.uid}:\n`);
}

export interface Storage {
  device: string;
  release(): Promise<void>;
}

/** The shared disk: a 32 MiB ext4 image whose root (the share) belongs to the SMB account, on a loop device. */
export async function makeStorage(): Promise<Storage> {
  const img = path.join(DIR, 'disk.img');
  const mk = await sh('bash', ['-ec', `truncate -s 32M ${img}; mkfs.ext4 -q -F -E root_owner=${SMB_USER.uid}:${SMB_USER.uid} ${img}; losetup --find --show ${img}`]);
  if (mk.code !== 0) throw new Error(`making the shared disk failed: ${mk.stderr}`);
  const device = mk.stdout.trim();
  return {
    device,
    async release(): Promise<void> {
      await sh('losetup', ['-d', device]);
    },
  };
}

/** Mounts node k's view of the Samba tree (overlay, /dev, /proc) at CHROOT inside the node's mount namespace, and adds the account to its passdb. */
export async function prepareNode(k: number, lower: string): Promise<void> {
  prepareUpper(k, lower);
  const nd = path.join(DIR, `n${k}`);
  await onNode(k, 'sh', '-ec', [
    `mount -t overlay overlay -o lowerdir=${lower},upperdir=${nd}/upper,workdir=${nd}/work ${CHROOT}`,
    `mount --bind /dev ${CHROOT}/dev`,
    `mount -t proc proc ${CHROOT}/proc`,
    `printf '%s\\n%s\\n' '${SMB_USER.password}' '${SMB_USER.password}' | chroot ${CHROOT} smbpasswd -a -s ${SMB_USER.user} > /dev/null`,
  ].join('; '));
}

export function prepareDir(): void {
  fs.rmSync(DIR, { recursive: true, force: true });
  fs.mkdirSync(CHROOT, { recursive: true });
}

/**
 * The NetName's resources, one group in start order: the storage, smbd, the IP. smbd runs with the
 * group (not on every node) because its share lives on the storage, which exists on one node only;
 * the IP comes last so that a client reaching it finds smbd ready, and goes first so that no client
 * reaches a server that is stopping.
 */
export async function createFileserverGroup(device: string, vip: string): Promise<void> {
  await onNode(1, 'pcs', 'resource', 'create', 'fs', 'ocf:heartbeat:Filesystem', `device=${device}`, `directory=${CHROOT}${SHARE_PATH}`, 'fstype=ext4', '--group', 'fileserver');
  await onNode(1, 'pcs', 'resource', 'create', 'smbd', 'ocf:heartbeat:anything', 'binfile=/usr/sbin/chroot', `cmdline_options=${CHROOT} /usr/sbin/smbd --foreground --no-process-group`, 'op', 'monitor', 'interval=5s', '--group', 'fileserver');
  await onNode(1, 'pcs', 'resource', 'create', 'vip', 'ocf:heartbeat:IPaddr2', `ip=${vip}`, 'cidr_netmask=24', 'nic=eth0', 'op', 'monitor', 'interval=5s', '--group', 'fileserver');
}

/** tshark on the hub's bridge, writing SMB traffic to a file until stopped. */
export class Capture {
  private readonly p: ChildProcess;
  private err = '';
  readonly file: string;
  constructor(file: string, hub = HUB) {
    this.file = file;
    this.p = spawn('ip', ['netns', 'exec', hub, 'tshark', '-q', '-i', 'br0', '-f', 'tcp port 445', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.p.stderr?.on('data', (d: Buffer) => { this.err += d.toString(); });
  }

  /** Resolves once tshark says it is capturing. */
  async started(): Promise<void> {
    const t0 = Date.now();
    while (!/Capturing on/.test(this.err)) {
      if (this.p.exitCode !== null) throw new Error(`tshark exited: ${this.err}`);
      if (Date.now() - t0 > 20_000) throw new Error(`tshark did not start: ${this.err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    if (this.p.exitCode !== null || this.p.signalCode !== null) return;
    const done = new Promise((r) => this.p.once('close', r));
    this.p.kill('SIGINT');
    const timer = setTimeout(() => this.p.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(timer);
  }
}

/** Each TREE_CONNECT response's share capabilities, as tshark's SMB2 dissector reads them. */
export async function treeConnectCaps(file: string): Promise<{ caps: number; cluster: boolean; ca: boolean; share: string }[]> {
  // smb2.cmd 3 = TREE_CONNECT; the response's share name is the request's, which tshark links.
  const r = await sh('tshark', ['-r', file, '-Y', 'smb2.cmd == 3 && smb2.flags.response == 1 && smb2.nt_status == 0', '-T', 'fields', '-E', 'separator=|', '-e', 'smb2.share_caps', '-e', 'smb2.share_caps.cluster', '-e', 'smb2.share_caps.continuous_availability', '-e', 'smb2.tree']);
  if (r.code !== 0) throw new Error(`tshark -r failed: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => {
    const [caps = '', cl = '', ca = '', share = ''] = l.split('|');
    const yes = (v: string): boolean => v === '1' || v === 'True';
    return { caps: Number(caps), cluster: yes(cl), ca: yes(ca), share };
  });
}

export interface ClientLine {
  ev: string;
  t: number;
  [k: string]: unknown;
}

/** Runs test/fileserver/smb_client.py in the hub's namespace; resolves with its lines and exit code. */
export function smbClient(job: Record<string, unknown>, timeoutMs: number, hub = HUB): { done: Promise<{ code: number | null; lines: ClientLine[]; stderr: string }>; lines: ClientLine[] } {
  const lines: ClientLine[] = [];
  const p = spawn('ip', ['netns', 'exec', hub, '/usr/bin/python3', path.join(ROOT, 'test/fileserver/smb_client.py')], { stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (l.trim() !== '') lines.push(JSON.parse(l) as ClientLine);
    }
  });
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ code: number | null; lines: ClientLine[]; stderr: string }>((resolve) => {
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, lines, stderr });
    });
  });
  p.stdin.end(JSON.stringify(job));
  return { done, lines };
}
