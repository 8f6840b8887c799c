// How long a TCP client of a floating IP takes to notice that the IP moved after its node died,
// with and without tickle ACKs (our ocf:witness:tickle; with --portblock also
// ocf:heartbeat:portblock action=unblock tickle_dir=…, which needs iptables), for an active client
// (a request every 200 ms) and an idle one. Root only; network namespaces of its own
// (test/helpers/tickle-lab.ts).
//
//   node --import tsx bench/tickle.ts [--portblock] [outage seconds, default 3 10 20]
//
// Prints per case: the time from the IP's start on the new node (IPaddr2 start called) to the
// client's connection reset and to its new connection, and how long IPaddr2 and the tickle
// resource's start took. portblock's stop leaves an iptables DROP rule for ip:port on n2 that its
// next start there does not remove on Debian 12 (iptables 1.8.9 prints protocol numbers; see
// docs/deploy-samba.md): the bench counts the rules left after each portblock case, removes them
// so that later cases are not blocked, and ends with one idle case on the rule left in place.
import { crashMove } from '../test/helpers/tickle-move.ts';
import { spawnSync } from 'node:child_process';
import { TickleLab, VIP } from '../test/helpers/tickle-lab.ts';

const outages = process.argv.slice(2).map(Number).filter((n) => n > 0);
type Kind = 'none' | 'ours' | 'portblock';
const kinds: Kind[] = process.argv.includes('--portblock') ? ['none', 'ours', 'portblock'] : ['none', 'ours'];
const lab = new TickleLab(`pwtb${process.pid % 10000}`);
const iptables = (...args: string[]): string => spawnSync('ip', ['netns', 'exec', lab.ns.n2, 'iptables', '-w', ...args], { encoding: 'utf8' }).stdout;
/** portblock's DROP rules for the floating IP left in n2's INPUT chain. */
const dropRules = (): number => iptables('-S', 'INPUT').split('\n').filter((l) => l.includes(`-d ${VIP}/32`) && l.includes('-j DROP')).length;
const f = (n: number | null): string => (n === null ? 'none' : String(n));
try {
  await lab.up();
  console.log('outage_s  client     tickle  reset_after_ip_ms  reconnected_after_ip_ms  ipaddr2_start_ms  tickle_start_ms');
  for (const outage of outages.length > 0 ? outages : [3, 10, 20]) {
    for (const mode of ['active', 'idle'] as const) {
      for (const tickle of kinds) {
        const r = await crashMove(lab, { mode, tickle, outageMs: outage * 1000, waitMs: mode === 'idle' && tickle === 'none' ? 10_000 : 70_000 });
        console.log([String(outage).padStart(8), mode.padStart(6), tickle.padStart(9), f(r.resetAfterIpMs).padStart(18), f(r.reconnectedAfterIpMs).padStart(24), String(r.ipStartMs).padStart(17), f(r.tickleStartMs).padStart(16)].join('  '));
        if (tickle === 'portblock') {
          const left = dropRules();
          console.log(`#   portblock left ${left} DROP rule(s) for ${VIP} on n2 after its stop; removed`);
          for (let i = 0; i < left; i++) iptables('-D', 'INPUT', '-p', 'tcp', '-d', VIP, '-m', 'multiport', '--dports', '445', '-j', 'DROP');
        }
      }
    }
  }
  if (kinds.includes('portblock')) {
    // A node portblock once stopped on: its start leaves the DROP rule, the client is blocked.
    lab.ipaddr('n2', 'start');
    lab.portblock('n2', 'start');
    lab.portblock('n2', 'stop');
    lab.ipaddr('n2', 'stop');
    const before = dropRules();
    const r = await crashMove(lab, { mode: 'idle', tickle: 'portblock', outageMs: 3000, waitMs: 15_000 });
    console.log(`# portblock started again on n2 after a stop there (${before} DROP rule(s) in n2's INPUT before its start): idle client reset ${f(r.resetAfterIpMs)} ms, reconnected ${f(r.reconnectedAfterIpMs)} ms after IPaddr2 start`);
  }
} finally {
  lab.close();
}
