// Taking the endpoint mapper's port. Only one endpoint mapper can have TCP 135 on a node, and the
// other candidate there is Samba's (docs/deploy-samba.md): when the port is taken, witnessd says
// by whom and what to change, instead of a bare EADDRINUSE.

import type net from 'node:net';
import type { RpcServer } from '../rpc/server.ts';
import { describeHolders, tcpPortHolders } from './port-holder.ts';

export class EpmPortInUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EpmPortInUseError';
  }
}

/** What to do about it, by who holds the port (measured with Debian 12's Samba 4.17). */
function advice(commands: string[]): string {
  if (commands.some((c) => /samba-dcerpcd|rpcd_epmapper/.test(c))) {
    return "Samba's samba-dcerpcd runs as a standalone daemon with its endpoint mapper: keep 'rpc start on demand helpers = yes' (Samba's default; smbd then starts samba-dcerpcd for named pipes only), or start samba-dcerpcd with its helpers listed and rpcd_epmapper left out; see docs/deploy-samba.md";
  }
  if (commands.some((c) => /^samba\b|\bsamba: |\/samba(\s|$)|^rpc[([]/.test(c))) {
    return "an Active Directory DC's samba serves the endpoint mapper (the domain needs it): run the witness on file servers that are not DCs, or start witnessd with --epm off";
  }
  return 'stop that endpoint mapper, or start witnessd with --epm HOST:PORT on an address it does not use, or --epm off';
}

/** Listens like RpcServer.listen; an address in use becomes an EpmPortInUseError that names the holder. */
export async function listenEpm(server: RpcServer, host: string, port: number): Promise<net.AddressInfo> {
  try {
    return await server.listen(host, port);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    const holders = tcpPortHolders(port);
    throw new EpmPortInUseError(`endpoint mapper cannot listen on ${host}:${port}: ${describeHolders(port, holders)}; ${advice(holders.flatMap((h) => [h.comm, h.cmdline]))}`);
  }
}
