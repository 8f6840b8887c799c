// The node-local state store: one SQLite file in WAL mode, opened (and migrated) here.
//
// One API style: a Store is the open file — its statements (prepared once, stmt), its writes
// with the reserve, its size budget, data_version, close. Each table set has a module of free
// functions taking the Store: view.ts (the cluster view), events.ts, registrations.ts (witnessd's
// registrations, audit and journal counters), admin-requests.ts (and witnessd's node name). No SQL
// outside store/.
//
// Writers: the agent (view + events), witnessd (registrations, audit), witnessctl (admin
// requests). WAL lets readers in other processes read while another writes; PRAGMA data_version
// (commit-watch.ts) tells them cheaply that another connection committed.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StoreError, toStoreError } from './errors.ts';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.ts';

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
  /** The SQLite connection: for store/'s table modules and the store's own tests, nothing else (.ci/check-structure.ts). */
  readonly db: Database.Database;

  private readonly statements = new Map<string, Database.Statement>();
  /** When a sync last had to use the reserve (it is put back a minute later, if there is room). */
  private reserveUsedAt: number | null = null;

  constructor(file: string, db: Database.Database, readonly: boolean) {
    this.path = file;
    this.db = db;
    this.readonly = readonly;
  }

  /** A prepared statement, prepared once per connection (for store/'s table modules). */
  stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }



  /**
   * Runs one of the agent's writes in an IMMEDIATE transaction. When it fails for lack of space
   * (SQLITE_FULL), it runs again once with the reserve freed first, in the same transaction, so
   * the events land in pages the file already has; a checkpoint before lets the WAL start over
   * in the space it already takes. witnessd never comes here: its writes cannot touch the reserve.
   */
  writeWithReserve<T>(body: () => T): T {
    try {
      const r = this.db.transaction(body).immediate();
      if (this.reserveUsedAt !== null && Date.now() - this.reserveUsedAt > 60_000) {
        this.reserveUsedAt = this.ensureReserve() ? null : Date.now();
      }
      return r;
    } catch (err) {
      if (!isFull(err)) throw err;
      try {
        this.checkpoint();
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







  /** Changes whenever another connection commits (SQLite's PRAGMA data_version). */
  dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  /** Copies what the WAL holds into the database file where no reader needs it (PASSIVE: never waits). */
  checkpoint(): void {
    this.db.pragma('wal_checkpoint(PASSIVE)');
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
