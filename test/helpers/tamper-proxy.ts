// A TCP proxy between a real client and witnessd that can change what the client sends, one
// DCE/RPC PDU at a time: flip a bit, replay an earlier PDU, cut a verifier short. The client's
// crypto stays real (python3-samba signs and seals), so the server's checks are tested against
// genuine signatures, tampered with on the way.

import net from 'node:net';
import { Deframer } from '../../service/rpc/framing.ts';

/** Called for every PDU the client sends (n counts from 0 per connection): returns what to forward instead. */
export type Tamper = (pdu: Buffer, n: number, seen: readonly Buffer[]) => Buffer[];

export class TamperProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(targetPort: number, tamper: Tamper) {
    this.server = net.createServer((client) => {
      const upstream = net.connect({ port: targetPort, host: '127.0.0.1' });
      this.sockets.add(client);
      this.sockets.add(upstream);
      const deframer = new Deframer(1 << 20);
      const seen: Buffer[] = [];
      client.on('data', (chunk: Buffer) => {
        for (const pdu of deframer.push(chunk)) {
          const copy = Buffer.from(pdu);
          for (const out of tamper(copy, seen.length, seen)) upstream.write(out);
          seen.push(Buffer.from(pdu));
        }
      });
      upstream.pipe(client);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('close', end);
      upstream.on('close', end);
      client.on('error', end);
      upstream.on('error', end);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

/** The PDU type of a fragment (byte 2 of the common header). */
export const ptypeOf = (pdu: Buffer): number => pdu.readUInt8(2);
