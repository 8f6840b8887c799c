// V8 flags witnessd runs with, wherever it is started: bin/witnessd (which spells them out, being
// a shell script; a unit test keeps the two equal), the OCF agent and the tests.
//
// --max-semi-space-size=4 (MiB): V8 lets the young generation grow to 3 × 16 MiB under the
// allocation burst of thousands of clients connecting, and keeps it. Capped, witnessd's RSS per
// connection with its registration and pending AsyncNotify fell from 12.4 to 7.9 KB at 10,000
// clients (bench/fanout.ts), with no change in fan-out time: long-lived state goes to old space
// anyway, and scavenges of a small young generation are short.
export const WITNESSD_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
