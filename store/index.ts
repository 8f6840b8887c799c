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
export type { StoreErrorCode } from './errors.ts';

export const DEFAULT_DB_PATH = '/var/lib/pacemaker-witness/state.db';

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
      const nodes = (this.stmt('SELECT name, node_id, state FROM nodes ORDER BY name').all() as { name: string; node_id: string; state: string }[])
        .map((r): NodeView => ({ name: r.name, id: r.node_id, state: r.state as NodeState }));
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
    const run = this.db.transaction((): CommitResult => {
      const prev = this.readView();
      if (prev && compareCibVersion(next.cib, prev.cib) < 0) return { applied: false, events: [] };
      const newEvents = diff(prev, next);
      this.writeView(next, prev, now);
      const events = newEvents.map((e) => this.insertEvent(e, next.cib, now));
      return { applied: true, events };
    });
    try {
      return run.immediate();
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
      const ins = this.stmt('INSERT INTO nodes (name, node_id, state) VALUES (?, ?, ?)');
      for (const n of v.nodes) ins.run(n.name, n.id, n.state);
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
      return this.db.transaction(() => events.map((e) => this.insertEvent(e, cib, now))).immediate();
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
    return new Store(file, db, readonly);
  } catch (err) {
    db?.close();
    throw toStoreError(err, file);
  }
}
