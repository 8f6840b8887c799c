// Tells a reader, within milliseconds, that another process committed to the store.
//
// Two signals, both cheap:
// - inotify (fs.watch) on the store's directory: every WAL commit modifies `<db>-wal`, so a
//   commit by the agent wakes us at once without polling;
// - a slow PRAGMA data_version poll as the safety net (inotify events can be coalesced or lost
//   on overflow, and some filesystems do not deliver them).
// Either signal only triggers a data_version comparison; the callback runs only when the value
// changed, i.e. when another connection really committed.

import fs from 'node:fs';
import path from 'node:path';
import type { Store } from './index.ts';

export interface StoreWatchOptions {
  /** Safety-net poll interval in milliseconds (default 250). */
  pollMs?: number;
}

export interface StoreWatch {
  close(): void;
}

export function watchStore(store: Store, onChange: () => void, opts: StoreWatchOptions = {}): StoreWatch {
  let last = store.dataVersion();
  let closed = false;
  const check = (): void => {
    if (closed || !store.db.open) return;
    const now = store.dataVersion();
    if (now !== last) {
      last = now;
      onChange();
    }
  };
  // The WAL write that wakes us can come just before the commit becomes visible (the wal-index
  // in -shm is updated through mmap, which inotify does not see), so look again shortly after.
  let settle: NodeJS.Timeout | null = null;
  const onFsEvent = (): void => {
    check();
    if (settle) clearTimeout(settle);
    settle = setTimeout(() => {
      check();
      settle = setTimeout(() => {
        settle = null;
        check();
      }, 20);
    }, 2);
  };
  const base = path.basename(store.path);
  let watcher: fs.FSWatcher | null = null;
  try {
    watcher = fs.watch(path.dirname(store.path), (_event, name) => {
      if (name === null || name.startsWith(base)) onFsEvent();
    });
    watcher.on('error', () => {
      watcher?.close();
      watcher = null;
    });
  } catch {
    watcher = null; // the poll below still works
  }
  // Both handles keep the event loop alive until close(), like a socket would.
  const timer = setInterval(check, opts.pollMs ?? 250);
  return {
    close(): void {
      closed = true;
      clearInterval(timer);
      if (settle) clearTimeout(settle);
      watcher?.close();
    },
  };
}
