// The node-local state store: one SQLite file in WAL mode.
//
// Writers: the agent (view + events). Readers: witnessd, witnessctl, `witness-agent show`.
// WAL lets readers in other processes read while the agent writes; PRAGMA data_version (see
// watch.ts) tells them cheaply that another connection committed.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StoreError, toStoreError } from './errors.ts';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.ts';
import {
  compareCibVersion,
  type CibVersion,
  type ClusterEvent,
  type ClusterView,
  type EventKind,
  type IpView,
  type NewEvent,
  type NodeState,
  type NodeView,
  type ShareView,
  type WitnessInstanceView,
} from './types.ts';

export { StoreError } from './errors.ts';


/**
 * Space kept in the file for the agent's events (table store_reserve): 64 pages, room for a
 * thousand events, enough to record failovers while an admin frees the disk. SQLite cannot reserve
 * disk space, but pages it already owns are reused without growing the file: a sync that fails
 * for lack of space deletes this row and writes its events into the freed pages, in one transaction.
 */
export const RESERVE_BYTES = 256 * 1024;

/** The tables written because of what clients do (witnessd's registrations and audit trail), and what their budget is measured on. */
export const CLIENT_TABLES = ['registrations', 'notifications'] as const;

/** What Store.limitClientGrowth set: page counts (of pageSize bytes). */
export interface WriteBudget {
  pageSize: number;
  /** The connection's PRAGMA max_page_count now (SQLite never sets it below the file's size). */
  maxPages: number;
  /** Pages the client tables and their indexes take. */
  clientPages: number;
  /** What they may take. */
  budgetPages: number;
  /** Pages of the file: everything, free pages included. */
  filePages: number;
  /** Of which free (reused before the file grows). */
  freePages: number;
}

function isFull(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_FULL' || (err instanceof StoreError && err.code === 'full');
}

export interface OpenOptions {
  /** Open for reading only; a missing file is then an error instead of being created. */
  readonly?: boolean;
  /** Milliseconds to wait for another writer's lock (default 5000). */
  busyTimeoutMs?: number;
}

export interface CommitResult {
  /** False when the CIB revision is older than the stored one (a racing sync won). */
  applied: boolean;
  /** The events written by this commit (empty when nothing changed). */
  events: ClusterEvent[];
}

export type DiffFn = (prev: ClusterView | null, next: ClusterView) => NewEvent[];

interface EventRow {
  seq: number;
  at: number;
  cib_admin_epoch: number;
  cib_epoch: number;
  cib_num_updates: number;
  kind: string;
  subject: string;
  from_node: string | null;
  to_node: string | null;
  payload: string;
}

interface ViewMetaRow {
  cib_admin_epoch: number;
  cib_epoch: number;
  cib_num_updates: number;
  dc: string | null;
}

interface IpRow {
  resource: string;
  agent: string;
  grp: string | null;
  clone: string | null;
  address: string;
  family: number;
  prefix: number | null;
  node: string | null;
  started: number;
  failed: number;
}

function rowToEvent(r: EventRow): ClusterEvent {
  return {
    seq: r.seq,
    at: r.at,
    cib: { adminEpoch: r.cib_admin_epoch, epoch: r.cib_epoch, numUpdates: r.cib_num_updates },
    kind: r.kind as EventKind,
    subject: r.subject,
    from: r.from_node,
    to: r.to_node,
    payload: JSON.parse(r.payload) as Record<string, unknown>,
  };
}

/** Creates the directory (0700) and an empty file (0600) so SQLite never creates them world-readable. */
function prepareFile(file: string): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    fs.fchmodSync(fd, 0o600);
  } finally {
    fs.closeSync(fd);
  }
}

export class Store {
  readonly path: string;
  readonly readonly: boolean;
  readonly db: Database.Database;

  private readonly statements = new Map<string, Database.Statement>();
  /** When a sync last had to use the reserve (it is put back a minute later, if there is room). */
  private reserveUsedAt: number | null = null;

  constructor(file: string, db: Database.Database, readonly: boolean) {
    this.path = file;
    this.db = db;
    this.readonly = readonly;
  }

  /** A prepared statement, prepared once per connection. */
  stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  /** The last committed view, or null before the first sync. */
  readView(): ClusterView | null {
    try {
      const meta = this.stmt('SELECT cib_admin_epoch, cib_epoch, cib_num_updates, dc FROM view_meta WHERE id = 1').get() as ViewMetaRow | undefined;
      if (!meta) return null;
      const nodes = (this.stmt('SELECT name, node_id, state, addresses FROM nodes ORDER BY name').all() as { name: string; node_id: string; state: string; addresses: string | null }[])
        .map((r): NodeView => {
          const n: NodeView = { name: r.name, id: r.node_id, state: r.state as NodeState };
          if (r.addresses !== null) n.addresses = JSON.parse(r.addresses) as string[];
          return n;
        });
      const ips = (this.stmt('SELECT * FROM ips ORDER BY address, resource').all() as IpRow[]).map(
        (r): IpView => ({
          resource: r.resource,
          agent: r.agent,
          group: r.grp,
          clone: r.clone,
          address: r.address,
          family: r.family === 6 ? 6 : 4,
          prefix: r.prefix,
          node: r.node,
          started: r.started !== 0,
          failed: r.failed !== 0,
        }),
      );
      const shares = (this.stmt('SELECT name, resource, node, ips FROM shares ORDER BY name').all() as { name: string; resource: string; node: string | null; ips: string }[]).map(
        (r): ShareView => ({ name: r.name, resource: r.resource, node: r.node, ips: JSON.parse(r.ips) as string[] }),
      );
      const witness = (this.stmt('SELECT node, resource, started FROM witness_instances ORDER BY node, resource').all() as { node: string; resource: string; started: number }[]).map(
        (r): WitnessInstanceView => ({ node: r.node, resource: r.resource, started: r.started !== 0 }),
      );
      return {
        cib: { adminEpoch: meta.cib_admin_epoch, epoch: meta.cib_epoch, numUpdates: meta.cib_num_updates },
        dc: meta.dc,
        nodes,
        ips,
        shares,
        witness,
      };
    } catch (err) {
      throw toStoreError(err, this.path);
    }
  }

  /**
   * Diffs `next` against the stored view and writes the new view plus the events in one
   * IMMEDIATE transaction. Taking the write lock before reading the previous view is what makes
   * two racing syncs (watcher and monitor action) safe: the second one diffs against what the
   * first wrote, so it finds no change instead of duplicating events. A CIB revision older than
   * the stored one is ignored (applied: false), so a slow sync can't roll the view back.
   */
  commitSync(next: ClusterView, diff: DiffFn, now: number = Date.now()): CommitResult {
    try {
      return this.writeEvents((): CommitResult => {
        const prev = this.readView();
        if (prev && compareCibVersion(next.cib, prev.cib) < 0) return { applied: false, events: [] };
        const newEvents = diff(prev, next);
        this.writeView(next, prev, now);
        const events = newEvents.map((e) => this.insertEvent(e, next.cib, now));
        return { applied: true, events };
      });
    } catch (err) {
      throw toStoreError(err, this.path);
    }
  }

  /**
   * Runs one of the agent's writes in an IMMEDIATE transaction. When it fails for lack of space
   * (SQLITE_FULL), it runs again once with the reserve freed first, in the same transaction, so
   * the events land in pages the file already has; a checkpoint before lets the WAL start over
   * in the space it already takes. witnessd never comes here: its writes cannot touch the reserve.
   */
  private writeEvents<T>(body: () => T): T {
    try {
      const r = this.db.transaction(body).immediate();
      if (this.reserveUsedAt !== null && Date.now() - this.reserveUsedAt > 60_000) {
        this.reserveUsedAt = this.ensureReserve() ? null : Date.now();
      }
      return r;
    } catch (err) {
      if (!isFull(err)) throw err;
      try {
        this.db.pragma('wal_checkpoint(PASSIVE)');
      } catch {
        // no room to checkpoint either: the retry may still fit in the WAL
      }
      const r = this.db.transaction(() => {
        this.stmt('DELETE FROM store_reserve').run();
        return body();
      }).immediate();
      this.reserveUsedAt = Date.now();
      return r;
    }
  }

  /**
   * Makes sure the reserve row exists (a writer's openStore calls it). False when there is no room
   * for it (it is tried again later); never throws.
   */
  ensureReserve(): boolean {
    if (this.readonly) return false;
    try {
      if (this.stmt('SELECT 1 FROM store_reserve WHERE id = 1').get() !== undefined) return true;
      this.db.transaction(() => this.stmt('INSERT OR IGNORE INTO store_reserve (id, filler) VALUES (1, zeroblob(?))').run(RESERVE_BYTES)).immediate();
      return true;
    } catch {
      return false;
    }
  }

  /** Bytes an unprivileged writer may still use on the file system holding the store (statfs). */
  freeDiskBytes(): number {
    try {
      const st = fs.statfsSync(path.dirname(this.path));
      return st.bavail * st.bsize;
    } catch {
      return Number.POSITIVE_INFINITY;
    }
  }

  /**
   * Pages of everything but the client tables (CLIENT_TABLES): the schema, the agent's view and
   * events, the reserve, admin requests; from SQLite's dbstat, which reads every page it counts,
   * so the client tables (the big ones) are left out: they are what remains.
   */
  otherPages(): number {
    try {
      const names = this.stmt(`SELECT name FROM sqlite_schema WHERE type IN ('table', 'index') AND rootpage > 0 AND tbl_name NOT IN (${CLIENT_TABLES.map(() => '?').join(', ')})`)
        .pluck().all(...CLIENT_TABLES) as string[];
      const pages = this.stmt('SELECT pageno FROM dbstat WHERE name = ? AND aggregate = TRUE').pluck();
      let n = 0;
      for (const name of ['sqlite_schema', ...names]) n += Number(pages.get(name) ?? 0);
      return n;
    } catch (err) {
      throw toStoreError(err, this.path);
    }
  }

  /** Pages the client tables (CLIENT_TABLES) and their indexes take: what is neither free nor otherPages(). */
  clientPages(): number {
    const filePages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    return Math.max(0, filePages - free - this.otherPages());
  }

  /**
   * Caps how far this connection's writes can grow the file: PRAGMA max_page_count = the pages of
   * everything but the client tables + `budgetBytes`. It is per connection: witnessd's writes then
   * fail with SQLITE_FULL at the budget, while the agent's connection grows the file as it needs.
   * SQLite raises the cap to the file's size when another connection grew it, so call this again
   * when a write fails for lack of space (the agent's new events move the cap up with them).
   * `noGrowth`: not a page more than the file has (the disk is almost full): writes reuse free pages only.
   */
  limitClientGrowth(budgetBytes: number, noGrowth = false): WriteBudget {
    try {
      const pageSize = this.db.pragma('page_size', { simple: true }) as number;
      const filePages = this.db.pragma('page_count', { simple: true }) as number;
      const free = this.db.pragma('freelist_count', { simple: true }) as number;
      const others = this.otherPages();
      const clientPages = Math.max(0, filePages - free - others);
      const budgetPages = Math.ceil(budgetBytes / pageSize);
      // SQLite never sets it below the file's current size: 1 means "as big as it is".
      const maxPages = this.db.pragma(`max_page_count = ${noGrowth ? 1 : Math.max(1, others + budgetPages)}`, { simple: true }) as number;
      return { pageSize, maxPages, clientPages, budgetPages, filePages, freePages: free };
    } catch (err) {
      throw toStoreError(err, this.path);
    }
  }

  /**
   * Writes the view. Tables whose content did not change are left alone: most syncs only bump
   * the CIB revision (a monitor result, an attribute), and rewriting hundreds of rows each time
   * would dominate a big cluster's sync.
   */
  private writeView(v: ClusterView, prev: ClusterView | null, now: number): void {
    this.stmt(
      `INSERT INTO view_meta (id, cib_admin_epoch, cib_epoch, cib_num_updates, dc, synced_at) VALUES (1, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET cib_admin_epoch = excluded.cib_admin_epoch, cib_epoch = excluded.cib_epoch,
       cib_num_updates = excluded.cib_num_updates, dc = excluded.dc, synced_at = excluded.synced_at`,
    ).run(v.cib.adminEpoch, v.cib.epoch, v.cib.numUpdates, v.dc, now);
    const changed = (a: unknown, b: unknown): boolean => prev === null || JSON.stringify(a) !== JSON.stringify(b);
    if (changed(prev?.nodes, v.nodes)) {
      this.stmt('DELETE FROM nodes').run();
      const ins = this.stmt('INSERT INTO nodes (name, node_id, state, addresses) VALUES (?, ?, ?, ?)');
      for (const n of v.nodes) ins.run(n.name, n.id, n.state, n.addresses !== undefined && n.addresses.length > 0 ? JSON.stringify(n.addresses) : null);
    }
    if (changed(prev?.ips, v.ips)) {
      this.stmt('DELETE FROM ips').run();
      const ins = this.stmt('INSERT INTO ips (resource, agent, grp, clone, address, family, prefix, node, started, failed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
      for (const ip of v.ips) {
        ins.run(ip.resource, ip.agent, ip.group, ip.clone, ip.address, ip.family, ip.prefix, ip.node, ip.started ? 1 : 0, ip.failed ? 1 : 0);
      }
    }
    if (changed(prev?.shares, v.shares)) {
      this.stmt('DELETE FROM shares').run();
      const ins = this.stmt('INSERT INTO shares (name, resource, node, ips) VALUES (?, ?, ?, ?)');
      for (const sh of v.shares) ins.run(sh.name, sh.resource, sh.node, JSON.stringify(sh.ips));
    }
    if (changed(prev?.witness, v.witness)) {
      this.stmt('DELETE FROM witness_instances').run();
      const ins = this.stmt('INSERT INTO witness_instances (node, resource, started) VALUES (?, ?, ?)');
      for (const w of v.witness) ins.run(w.node, w.resource, w.started ? 1 : 0);
    }
  }

  /** Records events that come with no view change (the agent's planned moves), in one transaction. */
  appendEvents(events: readonly NewEvent[], cib: CibVersion, now: number = Date.now()): ClusterEvent[] {
    try {
      return this.writeEvents(() => events.map((e) => this.insertEvent(e, cib, now)));
    } catch (err) {
      throw toStoreError(err, this.path);
    }
  }

  private insertEvent(e: NewEvent, cib: CibVersion, now: number): ClusterEvent {
    const info = this.db
      .prepare(
        `INSERT INTO events (at, cib_admin_epoch, cib_epoch, cib_num_updates, kind, subject, from_node, to_node, payload)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(now, cib.adminEpoch, cib.epoch, cib.numUpdates, e.kind, e.subject, e.from, e.to, JSON.stringify(e.payload));
    return { ...e, seq: Number(info.lastInsertRowid), at: now, cib };
  }

  /** Events with seq > `seq`, oldest first, at most `limit`. */
  eventsAfter(seq: number, limit = 1000): ClusterEvent[] {
    try {
      const rows = this.stmt('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?').all(seq, limit) as EventRow[];
      return rows.map(rowToEvent);
    } catch (err) {
      throw toStoreError(err, this.path);
    }
  }

  /** The newest `limit` events, oldest first. */
  lastEvents(limit: number): ClusterEvent[] {
    try {
      const rows = this.stmt('SELECT * FROM (SELECT * FROM events ORDER BY seq DESC LIMIT ?) ORDER BY seq').all(limit) as EventRow[];
      return rows.map(rowToEvent);
    } catch (err) {
      throw toStoreError(err, this.path);
    }
  }

  /** Highest event seq, 0 when there is none. */
  lastSeq(): number {
    try {
      const row = this.stmt('SELECT COALESCE(MAX(seq), 0) AS seq FROM events').get() as { seq: number };
      return row.seq;
    } catch (err) {
      throw toStoreError(err, this.path);
    }
  }

  /** Changes whenever another connection commits (SQLite's PRAGMA data_version). */
  dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function migrate(db: Database.Database, file: string): void {
  // Read user_version inside the IMMEDIATE transaction: two processes opening a new store at once
  // (the agent and witnessd) must not both apply the same migration.
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new StoreError('version', file, `store ${file} has schema version ${current}, newer than this program's ${SCHEMA_VERSION}; upgrade pacemaker-witness`);
    }
    for (let v = current; v < SCHEMA_VERSION; v++) {
      const sql = MIGRATIONS[v];
      if (sql !== undefined) db.exec(sql);
    }
    if (current !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/** Opens (and for writers creates and migrates) the store at `file`. Throws StoreError. */
export function openStore(file: string, opts: OpenOptions = {}): Store {
  const readonly = opts.readonly ?? false;
  if (readonly && !fs.existsSync(file)) {
    throw new StoreError('missing', file, `store ${file} does not exist; is the witness agent running on this node (witness-agent sync --db ${file})?`);
  }
  let db: Database.Database | undefined;
  try {
    if (!readonly) prepareFile(file);
    // A read-only connection still needs to write the -shm file of a WAL database, so readers open
    // read-write but never write; query_only enforces that.
    db = new Database(file, { fileMustExist: true });
    db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
    if (readonly) {
      db.pragma('query_only = ON');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version === 0) throw new StoreError('missing', file, `store ${file} is empty (never synced); run witness-agent sync --db ${file}`);
      if (version > SCHEMA_VERSION) {
        throw new StoreError('version', file, `store ${file} has schema version ${version}, newer than this program's ${SCHEMA_VERSION}; upgrade pacemaker-witness`);
      }
      if (version < SCHEMA_VERSION) {
        throw new StoreError('version', file, `store ${file} has schema version ${version}, older than this program's ${SCHEMA_VERSION}; the agent migrates it on its next sync`);
      }
    } else {
      db.pragma('journal_mode = WAL');
      // NORMAL is durable across process crashes in WAL mode; a power cut may lose the last
      // commits, which the next sync rederives from the CIB.
      db.pragma('synchronous = NORMAL');
      migrate(db, file);
    }
    const store = new Store(file, db, readonly);
    store.ensureReserve();
    return store;
  } catch (err) {
    db?.close();
    throw toStoreError(err, file);
  }
}
