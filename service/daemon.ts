// witnessd: the store (read for the cluster view, written for registrations and audit), the
// witness registry, the witness RPC server and the endpoint mapper, wired together.

import type { Logger } from 'pino';
import { openStore, type Store } from '../store/index.ts';
import { retireRegistrations } from '../store/registrations.ts';
import type { ClusterView } from '../store/types.ts';
import { watchStore, type StoreWatch } from '../store/commit-watch.ts';
import { setupSecurity, type Security } from './auth/setup.ts';
import type { WitnessdConfig } from './config.ts';
import { epmInterface } from './epm/epm.ts';
import { listenEpm } from './epm/listen.ts';
import { ByteBudget } from './rpc/byte-budget.ts';
import { RpcServer } from './rpc/server.ts';
import { WITNESS_INTERFACE } from './swn/constants.ts';
import { witnessInterface } from './swn/methods.ts';
import { RegistrationJournal } from './swn/journal.ts';
import { Notifier } from './swn/notifier.ts';
import { setWitnessNode } from '../store/admin-requests.ts';
import { AdminExecutor } from './swn/admin-executor.ts';
import { WitnessRegistry } from './swn/registry.ts';
import { readView } from '../store/view.ts';

export interface Witnessd {
  registry: WitnessRegistry;
  notifier: Notifier;
  witness: RpcServer;
  epm: RpcServer | null;
  /** The witness port actually bound (useful with --listen HOST:0). */
  port: number;
  epmPort: number | null;
  store: Store;
  /** Counts and memory, for `kill -USR2` (logged) and benchmarks. */
  status(): WitnessdStatus;
  close(): Promise<void>;
}

export interface WitnessdStatus {
  connections: number;
  associations: number;
  registrations: number;
  pendingCalls: number;
  /** process.memoryUsage() in KiB; after a full GC when node runs with --expose-gc. */
  memoryKiB: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  gc: boolean;
}

export async function startWitnessd(cfg: WitnessdConfig, logger: Logger): Promise<Witnessd> {
  const store = openStore(cfg.db);
  let view: ClusterView | null = readView(store);
  setWitnessNode(store, cfg.node);
  const retired = retireRegistrations(store, cfg.node, Date.now(), 'restart');
  if (retired > 0) logger.info({ retired }, 'registrations of a previous witnessd on this node marked removed (clients re-register)');
  // What clients make witnessd write is bounded (service/swn/journal.ts): rows, bytes (this
  // connection's max_page_count), and what waits in memory while the store refuses writes.
  const journal = new RegistrationJournal({
    store,
    node: cfg.node,
    logger,
    limits: {
      storeBudgetBytes: cfg.limits.storeBudgetMB * 1024 * 1024,
      minFreeDiskBytes: cfg.limits.storeMinFreeMB * 1024 * 1024,
      maxStoredRegistrations: cfg.limits.maxStoredRegistrations,
      maxAuditRows: cfg.limits.maxAuditRows,
      maxQueuedRows: cfg.limits.maxQueuedRows,
    },
  });
  const registry = new WitnessRegistry({
    netNames: cfg.netnames,
    localNode: cfg.node,
    getView: () => view,
    unusedTimeoutMs: cfg.unusedTimeoutSec * 1000,
    forceUnregisterAfterMs: cfg.forceUnregisterAfterSec * 1000,
    observer: journal,
    limits: cfg.limits,
  });
  const notifier = new Notifier({ store, registry, logger, getView: () => view });
  const admin = new AdminExecutor({ store, registry, node: cfg.node, getView: () => view, logger });
  const onStoreChange = (): void => {
    try {
      view = readView(store);
      registry.viewChanged();
      notifier.pump();
      admin.pump();
    } catch (err) {
      logger.error({ err }, 'cannot read the cluster view or events from the store');
    }
  };
  const watch: StoreWatch = watchStore(store, onStoreChange);
  // Bounded growth: audit rows and removed registrations older than the retention go, hourly.
  const prune = (): void => {
    try {
      const n = journal.pruneRetention(Date.now() - cfg.auditRetentionDays * 86_400_000);
      if (n.notifications + n.registrations > 0) logger.info({ ...n, retentionDays: cfg.auditRetentionDays }, 'old audit rows pruned');
    } catch (err) {
      logger.error({ err }, 'audit pruning failed');
    }
  };
  prune();
  const pruneTimer = setInterval(prune, 3_600_000);
  pruneTimer.unref();

  let security: Security | null = null;
  let witness: RpcServer | null = null;
  let epm: RpcServer | null = null;
  try {
    security = await setupSecurity(cfg.auth, cfg.netnames, logger.child({ part: 'auth' }));
    if (!security) logger.warn('running with --auth none: clients are not authenticated and anyone who reaches this port may register (MS-SWN expects integrity or better); for tests only');
    // The two servers share the process's descriptors (the endpoint mapper's connections are
    // short: a tenth) and one budget of unfinished input.
    const pending = new ByteBudget(cfg.limits.maxPendingBytes);
    witness = new RpcServer({ interfaces: [witnessInterface(registry, logger, security?.authorize)], logger: logger.child({ server: 'witness' }), limits: cfg.limits, security: security?.factory ?? null, connectionShare: 0.9, pending });
    const addr = await witness.listen(cfg.listen.host, cfg.listen.port);
    const port = addr.port;
    let epmPort: number | null = null;
    if (cfg.epm) {
      epm = new RpcServer({
        interfaces: [epmInterface(() => [{ iface: { uuid: WITNESS_INTERFACE.uuid, version: WITNESS_INTERFACE.versionMajor, minor: WITNESS_INTERFACE.versionMinor }, annotation: 'Witness', port }], logger)],
        logger: logger.child({ server: 'epm' }),
        limits: cfg.limits,
        // The endpoint mapper answers everyone (no access check), authenticated binds included.
        security: security?.factory ?? null,
        connectionShare: 0.1,
        pending,
      });
      epmPort = (await listenEpm(epm, cfg.epm.host, cfg.epm.port)).port;
    }
    logger.info(
      { witness: `${cfg.listen.host}:${port}`, epm: cfg.epm ? `${cfg.epm.host}:${epmPort ?? 0}` : 'off', node: cfg.node, netnames: cfg.netnames, auth: security?.describe ?? 'none', ips: view?.ips.length ?? 0 },
      'witnessd listening',
    );
    // Requests queued while no witnessd ran (relayed from another node, say) are answered now.
    try {
      admin.pump();
    } catch (err) {
      logger.error({ err }, 'cannot read admin requests from the store');
    }
    const witnessServer = witness;
    const sec = security;
    return {
      registry,
      notifier,
      witness: witnessServer,
      epm,
      port,
      epmPort,
      store,
      status(): WitnessdStatus {
        let pendingCalls = 0;
        for (const r of registry.registrations()) if (r.pending) pendingCalls++;
        const gc = (globalThis as { gc?: () => void }).gc;
        gc?.();
        const m = process.memoryUsage();
        const kib = (b: number): number => Math.round(b / 1024);
        return {
          connections: witnessServer.connectionCount,
          associations: witnessServer.associations.size,
          registrations: registry.size,
          pendingCalls,
          memoryKiB: { rss: kib(m.rss), heapUsed: kib(m.heapUsed), external: kib(m.external), arrayBuffers: kib(m.arrayBuffers) },
          gc: gc !== undefined,
        };
      },
      async close(): Promise<void> {
        clearInterval(pruneTimer);
        watch.close();
        await Promise.all([witnessServer.close(), epm?.close()]);
        await sec?.close();
        registry.close();
        journal.close();
        store.close();
      },
    };
  } catch (err) {
    clearInterval(pruneTimer);
    watch.close();
    await Promise.allSettled([witness?.close(), epm?.close(), security?.close()]);
    registry.close();
    store.close();
    throw err;
  }
}
