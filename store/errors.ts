// One error type for everything that can go wrong opening or using the store, with a code that
// callers (the OCF agent above all) map to exit codes without parsing messages.

export type StoreErrorCode = 'missing' | 'corrupt' | 'permission' | 'busy' | 'version' | 'full';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly path: string;

  constructor(code: StoreErrorCode, path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
    this.path = path;
  }
}

interface SqliteLikeError {
  code?: unknown;
  message?: unknown;
}

/** Translates a better-sqlite3 / fs error into a StoreError; anything unknown is rethrown as is. */
export function toStoreError(err: unknown, path: string): unknown {
  if (err instanceof StoreError) return err;
  const e = err as SqliteLikeError;
  const code = typeof e.code === 'string' ? e.code : '';
  const msg = typeof e.message === 'string' ? e.message : String(err);
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || code.startsWith('SQLITE_CORRUPT_')) {
    return new StoreError('corrupt', path, `store ${path} is corrupt or not a SQLite database (${msg}); move it aside and the agent rebuilds it from the CIB`, { cause: err });
  }
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') {
    // SQLite says "database or disk is full" for both: the file system has no room for the file
    // or its WAL, or the connection's PRAGMA max_page_count (witnessd's budget) is reached.
    return new StoreError('full', path, `store ${path} is full (${msg}): the file system holding it (or its -wal) has no space left, or the writer's page budget is reached`, { cause: err });
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code.startsWith('SQLITE_BUSY_')) {
    return new StoreError('busy', path, `store ${path} stayed locked by another process: ${msg}`, { cause: err });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'SQLITE_READONLY' || code === 'SQLITE_PERM' || code === 'SQLITE_CANTOPEN' && /permission/i.test(msg)) {
    return new StoreError('permission', path, `no permission to use store ${path}: ${msg}`, { cause: err });
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'ENOENT') {
    return new StoreError('missing', path, `store ${path} cannot be opened: ${msg}`, { cause: err });
  }
  return err;
}
