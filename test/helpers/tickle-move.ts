// One failover in the tickle lab (tickle-lab.ts): the floating IP and, with `tickle`, a tickle
// resource (ours, or portblock action=unblock) run on n1; a client connects; the resource's monitor
// records the connection in tickle_dir (as every monitor interval does); n1 crashes; after
// `outageMs` (failure detection and fencing) n2 starts the IP and then the tickle resource, whose
// start sends the tickle ACKs.
// Afterwards the lab is back to "the IP nowhere, n1 up" for the next case.
import fs from 'node:fs';
import path from 'node:path';
import { VIP, type TickleLab } from './tickle-lab.ts';

export interface MoveOptions {
  mode: 'active' | 'idle';
  tickle: 'none' | 'ours' | 'portblock';
  outageMs: number;
  /** How long to wait for the client to reconnect after the IP is back. */
  waitMs: number;
}

export interface MoveResult {
  /** From IPaddr2 start on n2 (called) to the client's reset / new connection; null: not within waitMs. */
  resetAfterIpMs: number | null;
  reconnectedAfterIpMs: number | null;
  ipStartMs: number;
  /** How long the tickle resource's start took on n2. */
  tickleStartMs: number | null;
  /** What portblock's monitor recorded for the floating IP on n1 (tickle_dir/<ip>). */
  recorded: string;
  /** The client's port on its first connection (the one the move interrupts). */
  clientPort: number;
  /** The reason the client gave for losing the connection. */
  why: string | null;
  /** Everything the agents printed, for a failing assertion's message. */
  agentOutput: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function check(what: string, r: { code: number; out: string }, log: string[]): void {
  log.push(`${what}: exit ${r.code}\n${r.out}`);
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.out}`);
}

type Agent = (node: 'n1' | 'n2', act: 'start' | 'stop' | 'monitor') => { code: number; out: string; ms: number };
type Client = ReturnType<TickleLab['client']>;

/** Both moves start alike: no connection list, the IP and (with `tickle`) the tickle resource up on n1. */
function startOnN1(lab: TickleLab, o: Pick<MoveOptions, 'tickle'>): { log: string[]; stateFile: string; tickle: Agent } {
  const log: string[] = [];
  const stateFile = path.join(lab.tickleDir, VIP);
  fs.rmSync(stateFile, { force: true });
  check('n1 IPaddr2 start', lab.ipaddr('n1', 'start'), log);
  const tickle: Agent = (node, act) => (o.tickle === 'ours' ? lab.tickle(node, act) : lab.portblock(node, act));
  if (o.tickle !== 'none') check('n1 tickle start', tickle('n1', 'start'), log);
  return { log, stateFile, tickle };
}

/**
 * Both moves end alike: n2 starts the IP, then the tickle resource; the client's reset and new
 * connection after `since` are timed from the IP's start.
 */
async function takeOverOnN2(lab: TickleLab, o: Pick<MoveOptions, 'tickle' | 'waitMs'>, tickle: Agent, log: string[], client: Client, since: number, firstPort: number, recorded: string): Promise<MoveResult> {
  const tIp = Date.now();
  const ip = lab.ipaddr('n2', 'start');
  check('n2 IPaddr2 start', ip, log);
  let tickleStartMs: number | null = null;
  if (o.tickle !== 'none') {
    const t = tickle('n2', 'start');
    check('n2 tickle start', t, log);
    tickleStartMs = t.ms;
  }
  const reconnected = await client.next('connected', since, o.waitMs);
  const lost = client.events.find((e) => e.ev === 'lost' && e.t >= since) ?? null;
  return {
    resetAfterIpMs: lost ? lost.t - tIp : null,
    reconnectedAfterIpMs: reconnected ? reconnected.t - tIp : null,
    ipStartMs: ip.ms,
    tickleStartMs,
    recorded,
    clientPort: firstPort,
    why: lost?.why ?? null,
    agentOutput: log.join('\n'),
  };
}

/** What every move leaves behind undone: the client, and the IP and tickle resource on n2. */
async function stopOnN2(lab: TickleLab, o: Pick<MoveOptions, 'tickle'>, tickle: Agent, client: Client): Promise<void> {
  await client.stop();
  if (o.tickle !== 'none') tickle('n2', 'stop');
  lab.ipaddr('n2', 'stop');
}

export async function crashMove(lab: TickleLab, o: MoveOptions): Promise<MoveResult> {
  const { log, stateFile, tickle } = startOnN1(lab, o);
  const client = lab.client(o.mode);
  try {
    const first = await client.next('connected', 0, 15_000);
    if (first?.port === undefined) throw new Error('the client did not connect');
    let recorded = '';
    if (o.tickle !== 'none') {
      check('n1 tickle monitor', tickle('n1', 'monitor'), log);
      recorded = fs.readFileSync(stateFile, 'utf8');
    }
    await sleep(500); // a few requests go through first (active client)
    const tFail = Date.now();
    lab.crash('n1');
    await sleep(o.outageMs);
    return await takeOverOnN2(lab, o, tickle, log, client, tFail, first.port, recorded);
  } finally {
    await stopOnN2(lab, o, tickle, client);
    lab.revive('n1');
  }
}

/**
 * A planned move (pcs resource move): the group stops on n1 in reverse order (the tickle resource
 * records the connections, then IPaddr2 removes the IP; the SMB server, a clone, keeps its socket)
 * and starts on n2 (IPaddr2, then the tickle resource). Returns the same figures as crashMove.
 */
export async function plannedMove(lab: TickleLab, o: Omit<MoveOptions, 'outageMs'>): Promise<MoveResult> {
  const { log, stateFile, tickle } = startOnN1(lab, o);
  const client = lab.client(o.mode);
  try {
    const first = await client.next('connected', 0, 15_000);
    if (first?.port === undefined) throw new Error('the client did not connect');
    await sleep(500);
    const tStop = Date.now();
    if (o.tickle !== 'none') check('n1 tickle stop', tickle('n1', 'stop'), log);
    const recorded = o.tickle !== 'none' ? fs.readFileSync(stateFile, 'utf8') : '';
    check('n1 IPaddr2 stop', lab.ipaddr('n1', 'stop'), log);
    return await takeOverOnN2(lab, o, tickle, log, client, tStop, first.port, recorded);
  } finally {
    await stopOnN2(lab, o, tickle, client);
  }
}
