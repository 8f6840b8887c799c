// The established TCP connections to one local address and port, read from /proc/net/tcp the way
// ss(8) reads it (state 01), for the tickle agent to record. IPv4 only: tickle ACKs are sent by
// resource-agents' tickle_tcp, and portblock (its only user) records IPv4 connections only.

import fs from 'node:fs';
import { procAddress } from '../service/epm/port-holder.ts';

/** TCP_ESTABLISHED in /proc/net/tcp's "st" column. */
const ESTABLISHED = '01';

export interface Connection {
  local: string; // "198.19.78.10:445"
  remote: string; // "198.19.78.100:50312"
}

/** Connections in one /proc/net/tcp text whose local end is `ip`:`port`. */
export function establishedTo(table: string, ip: string, port: number): Connection[] {
  const out: Connection[] = [];
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const [local, remote, state] = [f[1], f[2], f[3]];
    if (local === undefined || remote === undefined || state !== ESTABLISHED) continue;
    const [la, lp] = local.split(':');
    const [ra, rp] = remote.split(':');
    if (la === undefined || lp === undefined || ra === undefined || rp === undefined) continue;
    if (Number.parseInt(lp, 16) !== port || procAddress(la) !== ip) continue;
    out.push({ local: `${ip}:${port}`, remote: `${procAddress(ra)}:${Number.parseInt(rp, 16)}` });
  }
  return out;
}

export function readEstablished(ip: string, port: number, file = '/proc/net/tcp'): Connection[] {
  return establishedTo(fs.readFileSync(file, 'utf8'), ip, port);
}
