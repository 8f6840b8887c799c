// Who listens on a TCP port: the answer an admin needs when witnessd's endpoint mapper cannot have
// TCP 135. Found the way ss(8) does, from procfs: the listening sockets of this network namespace
// in /proc/net/tcp and /proc/net/tcp6 (state 0A), then the processes whose descriptors name those
// socket inodes. Only read when a listen has already failed, so the cost (one readlink per open
// descriptor on the node) is paid once, at start-up.
//
// On a Samba node the usual holder is samba-dcerpcd started as a standalone daemon (`rpc start on
// demand helpers = no`; it binds 0.0.0.0:135 and [::]:135, or the `interfaces` addresses with
// `bind interfaces only = yes`), or an AD DC's `samba` (its rpc task). Measured on Debian 12's
// Samba 4.17: smbd's on-demand samba-dcerpcd (`--np-helper`, the default) listens on no TCP port.

import fs from 'node:fs';
import path from 'node:path';
import { ipv6Text } from '../../store/address.ts';

export interface PortHolder {
  pid: number;
  /** /proc/PID/comm (the kernel's 15-character name) and the command line, as far as readable. */
  comm: string;
  cmdline: string;
  /** Where it listens, e.g. 0.0.0.0:135 or [::]:135. */
  address: string;
}

/** TCP_LISTEN in /proc/net/tcp's "st" column. */
const LISTEN = '0A';
/** Bounds: a node with more descriptors than this is not searched further. */
const MAX_FDS_SCANNED = 200_000;

/** "0100007F" → 127.0.0.1: each 32-bit word of the address is printed in host (little-endian) order. */
export function procAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes: number[] = [];
  for (const w of words) {
    const n = Number.parseInt(w, 16);
    bytes.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  if (bytes.length === 4) return bytes.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  return `[${ipv6Text(groups)}]`;
}

/** Listening sockets on `port` in one /proc/net/tcp-format text: inode → address. */
export function listeningInodes(table: string, port: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    const [local, state, inode] = [f[1], f[3], f[9]];
    if (local === undefined || state !== LISTEN || inode === undefined) continue;
    const [addr, portHex] = local.split(':');
    if (addr === undefined || portHex === undefined || Number.parseInt(portHex, 16) !== port) continue;
    out.set(inode, `${procAddress(addr)}:${port}`);
  }
  return out;
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The processes listening on TCP `port` in this network namespace (empty when none is visible). */
export function tcpPortHolders(port: number, proc = '/proc'): PortHolder[] {
  const inodes = new Map([...listeningInodes(readText(path.join(proc, 'net/tcp')), port), ...listeningInodes(readText(path.join(proc, 'net/tcp6')), port)]);
  if (inodes.size === 0) return [];
  const holders: PortHolder[] = [];
  let scanned = 0;
  for (const pid of fs.readdirSync(proc).filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = fs.readdirSync(path.join(proc, pid, 'fd'));
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      if (++scanned > MAX_FDS_SCANNED) return holders;
      let target: string;
      try {
        target = fs.readlinkSync(path.join(proc, pid, 'fd', fd));
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      const address = inode !== undefined ? inodes.get(inode) : undefined;
      if (address === undefined) continue;
      holders.push({
        pid: Number(pid),
        comm: readText(path.join(proc, pid, 'comm')).trim(),
        cmdline: readText(path.join(proc, pid, 'cmdline')).split('\0').filter((s) => s !== '').join(' '),
        address,
      });
    }
  }
  return holders;
}

/** One sentence for a log line or an OCF exit reason. */
export function describeHolders(port: number, holders: PortHolder[]): string {
  if (holders.length === 0) return `TCP port ${port} is in use (by a process this user cannot see)`;
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const h of holders) {
    const key = `${h.pid}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const addrs = holders.filter((x) => x.pid === h.pid).map((x) => x.address);
    parts.push(`${h.comm || 'pid'} (pid ${h.pid}) on ${[...new Set(addrs)].join(', ')}`);
  }
  return `TCP port ${port} is held by ${parts.join('; ')}`;
}
