// How long a TCP client of a floating IP takes to notice that the IP moved after its node died,
// with and without tickle ACKs (our ocf:witness:tickle; with --portblock also
// ocf:heartbeat:portblock action=unblock tickle_dir=…, which needs iptables), for an active client
// (a request every 200 ms) and an idle one. Root only; network namespaces of its own
// (test/helpers/tickle-lab.ts).
//
//   node --import tsx bench/tickle.ts [--portblock] [outage seconds, default 3 10 20]
//
// Prints per case: the time from the IP's start on the new node (IPaddr2 start called) to the
// client's connection reset and to its new connection, and how long IPaddr2 and portblock took.
import { crashMove } from '../test/helpers/tickle-move.ts';
import { TickleLab } from '../test/helpers/tickle-lab.ts';

const outages = process.argv.slice(2).map(Number).filter((n) => n > 0);
const kinds = process.argv.includes('--portblock') ? (['none', 'ours', 'portblock'] as const) : (['none', 'ours'] as const);
const lab = new TickleLab(`pwtb${process.pid % 10000}`);
try {
  await lab.up();
  console.log('outage_s  client     tickle  reset_after_ip_ms  reconnected_after_ip_ms  ipaddr2_start_ms  tickle_start_ms');
  for (const outage of outages.length > 0 ? outages : [3, 10, 20]) {
    for (const mode of ['active', 'idle'] as const) {
      for (const tickle of kinds) {
        const r = await crashMove(lab, { mode, tickle, outageMs: outage * 1000, waitMs: mode === 'idle' && tickle === 'none' ? 10_000 : 70_000 });
        const f = (n: number | null): string => (n === null ? 'none' : String(n));
        console.log([String(outage).padStart(8), mode.padStart(6), tickle.padStart(9), f(r.resetAfterIpMs).padStart(18), f(r.reconnectedAfterIpMs).padStart(24), String(r.ipStartMs).padStart(17), f(r.tickleStartMs).padStart(16)].join('  '));
      }
    }
  }
} finally {
  lab.close();
}
