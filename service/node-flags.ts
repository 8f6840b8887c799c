// V8 flags and environment witnessd runs with, wherever it is started: bin/witnessd (which spells
// them out, being a shell script; a unit test keeps the two equal), the OCF agent and the tests.
//
// --max-semi-space-size=4 (MiB): V8 lets the young generation grow to 3 × 16 MiB under the
// allocation burst of thousands of clients connecting, and keeps it. Capped, witnessd's RSS per
// connection with its registration and pending AsyncNotify fell from 12.4 to 7.9 KB at 10,000
// clients (bench/fanout.ts), with no change in fan-out time: long-lived state goes to old space
// anyway, and scavenges of a small young generation are short.
export const WITNESSD_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

// MALLOC_ARENA_MAX=1: glibc gives each thread that allocates its own malloc arena, and V8's
// helper threads (parallel GC, background compilation) allocate and free a lot while thousands of
// clients connect and authenticate. What those arenas freed stays in the process, scattered
// between live blocks. With one arena, witnessd's RSS per sealed client (connection + NTLMSSP
// session + registration + pending AsyncNotify) at 10,000 clients fell from 12.9 to 8.3–9.1 KB,
// unauthenticated from 8.5 to 7.3 KB (bench/client-memory.ts; docs/auth-performance.md has the
// figures and the CPU cost). An admin's own MALLOC_ARENA_MAX in the environment is kept.
export const WITNESSD_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' };

/** The environment to start witnessd with: ours, then whatever the caller's environment already says. */
export function witnessdEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...WITNESSD_ENV, ...env };
}
