// `witness-agent watch`: follow CIB changes cluster-wide and sync on each.
//
// Live mode runs agent/watch/witness-cib-watch, which subscribes to the local CIB manager's
// change notifications and writes the whole CIB after every change as frames
// "CIB <length>\n<XML>". With CIB_file set (tests, offline use) the file is watched instead.
// `--poll MS` is an explicit, slower alternative for nodes without the helper.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { openStore } from '../store/index.ts';
import { formatCibVersion } from '../store/types.ts';
import { cibFileFrom, readCib } from './cib/source.ts';
import type { ViewConfig } from './config.ts';
import { syncXml, type SyncResult } from './sync.ts';
import { watchStore, type StoreWatch } from '../store/commit-watch.ts';
import { AdminRelay } from './admin/relay.ts';
import type { Attrd } from './admin/attrd.ts';
import { MovePlanner, type Simulator } from './planned.ts';
import { SkippedIpLog } from './skipped.ts';

/** A CIB bigger than this is refused rather than buffered (a real one is a few MB at most). */
export const MAX_FRAME = 64 * 1024 * 1024;
/** How often the files Samba's shares were read from are checked for changes. */
const SAMBA_CHECK_MS = 1000;

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Splits the helper's stdout into frames; bounded: never buffers more than one frame. */
export class FrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need: number | null = null;
  private readonly max: number;

  constructor(max = MAX_FRAME) {
    this.max = max;
  }

  push(chunk: Buffer): string[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: string[] = [];
    for (;;) {
      if (this.need === null) {
        const buf = this.flat();
        const nl = buf.indexOf(0x0a);
        if (nl < 0) {
          if (buf.length > 32) throw new FrameError(`bad frame header: no newline in ${JSON.stringify(buf.subarray(0, 32).toString('latin1'))}`);
          return out;
        }
        const header = buf.subarray(0, nl).toString('latin1');
        const m = /^CIB (\d{1,10})$/.exec(header);
        if (!m) throw new FrameError(`bad frame header ${JSON.stringify(header)}`);
        const len = Number(m[1]);
        if (len > this.max) throw new FrameError(`frame of ${len} bytes exceeds the ${this.max}-byte limit`);
        this.need = len;
        this.setRest(buf.subarray(nl + 1));
      }
      if (this.buffered < this.need) return out;
      const buf = this.flat();
      out.push(buf.subarray(0, this.need).toString('utf8'));
      this.setRest(buf.subarray(this.need));
      this.need = null;
    }
  }

  private flat(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private setRest(rest: Buffer): void {
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
  }
}

export interface CibStream {
  close(): void;
}

export interface CibStreamOptions {
  logger: Logger;
  onCib: (xml: string, receivedAt: number) => void;
  /** Path of witness-cib-watch (default: next to this module, in the source tree). */
  helper?: string;
  /** Poll the CIB with cibadmin every N ms instead of subscribing. */
  pollMs?: number;
}

/** The helper binary, built by `npm run build` into agent/watch/. */
export function defaultHelperPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // From source (agent/) or from the build (dist/agent/): the binary lives in the source tree.
  const candidates = [path.join(here, 'watch', 'witness-cib-watch'), path.join(here, '..', '..', 'agent', 'watch', 'witness-cib-watch')];
  return candidates.find((c) => fs.existsSync(c)) ?? candidates[0] ?? 'witness-cib-watch';
}

/** Follows the live CIB through the helper, restarting it with capped back-off when it exits. */
function helperStream(opts: CibStreamOptions, helper: string): CibStream {
  let child: ChildProcess | null = null;
  let closed = false;
  let backoff = 100;
  let restartTimer: NodeJS.Timeout | null = null;
  const start = (): void => {
    const parser = new FrameParser();
    const started = Date.now();
    const c = spawn(helper, [], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout?.on('data', (chunk: Buffer) => {
      try {
        for (const xml of parser.push(chunk)) opts.onCib(xml, performance.now());
      } catch (err) {
        opts.logger.error({ err }, 'bad output from the CIB watcher helper; restarting it');
        c.kill('SIGTERM');
      }
    });
    c.stderr?.on('data', (d: Buffer) => {
      opts.logger.warn({ helper: d.toString().trim() }, 'CIB watcher helper');
    });
    c.on('error', (err) => {
      opts.logger.error({ err, helper }, 'cannot run the CIB watcher helper');
    });
    c.on('close', (code, signal) => {
      child = null;
      if (closed) return;
      // A helper that ran a while before dying earns a fresh back-off.
      if (Date.now() - started > 10_000) backoff = 100;
      opts.logger.warn({ code, signal, retryMs: backoff }, 'CIB watcher helper exited; restarting');
      restartTimer = setTimeout(start, backoff);
      backoff = Math.min(backoff * 2, 5000);
    });
  };
  start();
  return {
    close(): void {
      closed = true;
      if (restartTimer) clearTimeout(restartTimer);
      child?.kill('SIGTERM');
    },
  };
}

/** CIB_file mode: re-read the file whenever it changes (debounced), plus once at start. */
function fileStream(opts: CibStreamOptions, file: string): CibStream {
  let timer: NodeJS.Timeout | null = null;
  let last = '';
  const read = (): void => {
    timer = null;
    fs.readFile(file, 'utf8', (err, xml) => {
      if (err) {
        opts.logger.warn({ err, file }, 'cannot read the CIB file');
        return;
      }
      if (xml === last) return;
      last = xml;
      opts.onCib(xml, performance.now());
    });
  };
  // Watch the directory: editors and `cp` replace the file, which a file watch would lose.
  const watcher = fs.watch(path.dirname(path.resolve(file)), (_e, name) => {
    if (name !== null && name !== path.basename(file)) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(read, 5);
  });
  read();
  return {
    close(): void {
      watcher.close();
      if (timer) clearTimeout(timer);
    },
  };
}

/** Explicit polling mode (`--poll MS`): cibadmin every MS; for nodes without the helper. */
function pollStream(opts: CibStreamOptions, ms: number): CibStream {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let last = '';
  const tick = (): void => {
    readCib({})
      .then((xml) => {
        if (!stopped && xml !== last) {
          last = xml;
          opts.onCib(xml, performance.now());
        }
      })
      .catch((err: unknown) => {
        opts.logger.warn({ err }, 'CIB poll failed');
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, ms);
      });
  };
  tick();
  return {
    close(): void {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

export function startCibStream(opts: CibStreamOptions): CibStream {
  const file = cibFileFrom({});
  if (file !== undefined) return fileStream(opts, file);
  if (opts.pollMs !== undefined) return pollStream(opts, opts.pollMs);
  const helper = opts.helper ?? defaultHelperPath();
  if (!fs.existsSync(helper)) {
    throw new Error(`the CIB watcher helper ${helper} is missing: build it with 'npm run build' (needs pacemaker-dev), or run 'witness-agent watch --poll MS'`);
  }
  return helperStream(opts, helper);
}

export interface RunWatchOptions {
  db: string;
  config: ViewConfig;
  logger: Logger;
  signal?: AbortSignal;
  pollMs?: number;
  helper?: string;
  /** Created once the first CIB is synced, removed on exit: the OCF agent's start waits for it. */
  readyFile?: string;
  /**
   * This node's cluster name and the attribute manager: with both, admin requests from other
   * nodes are relayed (agent/admin/relay.ts). Without, they are not (CIB_file mode, tests).
   */
  relay?: { node: string; attrd: Attrd };
  /** Ask the scheduler about planned moves on configuration changes (agent/planned.ts). */
  planner?: { simulate?: Simulator };
  /** Called after every sync (agent/node-addresses.ts publishes this node's addresses from it). */
  afterSync?: (r: SyncResult) => void;
}

/** Runs until `signal` aborts: every CIB frame is synced into the store. */
export async function runWatch(opts: RunWatchOptions): Promise<void> {
  const store = openStore(opts.db);
  const { logger } = opts;
  let ready = false;
  let stream: CibStream | null = null;
  const relay = opts.relay ? new AdminRelay({ store, node: opts.relay.node, attrd: opts.relay.attrd, logger }) : null;
  let storeWatch: StoreWatch | null = null;
  const skippedLog = new SkippedIpLog(logger);
  let lastXml: string | null = null;
  let sambaTimer: NodeJS.Timeout | null = null;
  const planner = opts.planner ? new MovePlanner({ store, logger, ...(opts.planner.simulate ? { simulate: opts.planner.simulate } : {}) }) : null;
  if (relay) {
    const publish = (): void => {
      try {
        relay.onStoreChange();
      } catch (err) {
        logger.error({ err }, 'admin relay: cannot read finished requests');
      }
    };
    storeWatch = watchStore(store, publish);
    publish();
    logger.info({ node: opts.relay?.node }, 'relaying admin requests from other nodes');
  }
  try {
    await new Promise<void>((resolve, reject) => {
      const stop = (): void => {
        resolve();
      };
      if (opts.signal?.aborted === true) {
        resolve();
        return;
      }
      opts.signal?.addEventListener('abort', stop, { once: true });
      try {
        stream = startCibStream({
          logger,
          ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
          ...(opts.helper !== undefined ? { helper: opts.helper } : {}),
          onCib: (xml, receivedAt) => {
            lastXml = xml;
            try {
              const r = syncXml(store, xml, opts.config);
              skippedLog.report(r.skipped);
              if (relay && opts.relay) relay.onAttributes(r.transient.get(opts.relay.node));
              if (r.applied) planner?.onCib(xml, r.view);
              if (r.applied) opts.afterSync?.(r);
              const ms = performance.now() - receivedAt;
              if (r.events.length > 0 || !ready) {
                logger.info({ cib: formatCibVersion(r.cib), applied: r.applied, events: r.events.map((e) => `${e.kind} ${e.subject}`), ms: Number(ms.toFixed(2)) }, 'synced');
              } else {
                logger.debug({ cib: formatCibVersion(r.cib), applied: r.applied, ms: Number(ms.toFixed(2)) }, 'synced');
              }
              if (!ready) {
                ready = true;
                if (opts.readyFile !== undefined) fs.writeFileSync(opts.readyFile, `${process.pid}\n`);
                logger.info({ db: opts.db }, 'watching');
              }
            } catch (err) {
              logger.error({ err }, 'sync failed');
            }
          },
        });
        // smb.conf edits (and registry shares) change the share catalogue without any CIB
        // change: a few stat calls a second notice them, and the last CIB is synced again.
        const samba = opts.config.sambaShares;
        if (samba) {
          sambaTimer = setInterval(() => {
            if (lastXml === null || !samba.changed()) return;
            try {
              const r = syncXml(store, lastXml, opts.config);
              if (r.events.length > 0) logger.info({ cib: formatCibVersion(r.cib), applied: r.applied, events: r.events.map((e) => `${e.kind} ${e.subject}`) }, 'synced after a Samba configuration change');
            } catch (err) {
              logger.error({ err }, 'sync after a Samba configuration change failed');
            }
          }, SAMBA_CHECK_MS);
          sambaTimer.unref();
        }
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  } finally {
    if (sambaTimer) clearInterval(sambaTimer);
    (stream as CibStream | null)?.close();
    storeWatch?.close();
    await relay?.settle();
    await planner?.settle();
    store.close();
    if (opts.readyFile !== undefined) fs.rmSync(opts.readyFile, { force: true });
  }
}
