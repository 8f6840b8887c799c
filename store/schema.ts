// Schema and migrations. PRAGMA user_version holds the number of migrations applied; each
// migration runs in the same transaction as the user_version bump, so a crash never leaves a
// half-migrated file. Append new migrations at the end; never edit an applied one.

export const MIGRATIONS: readonly string[] = [
  // 1: the cluster view (replaced whole on every sync) and the append-only event log.
  `
  CREATE TABLE view_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cib_admin_epoch INTEGER NOT NULL,
    cib_epoch INTEGER NOT NULL,
    cib_num_updates INTEGER NOT NULL,
    dc TEXT,
    synced_at INTEGER NOT NULL
  );
  CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    state TEXT NOT NULL
  );
  CREATE TABLE ips (
    resource TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    grp TEXT,
    clone TEXT,
    address TEXT NOT NULL,
    family INTEGER NOT NULL CHECK (family IN (4, 6)),
    prefix INTEGER,
    node TEXT,
    started INTEGER NOT NULL,
    failed INTEGER NOT NULL
  );
  CREATE INDEX ips_address ON ips(address);
  CREATE TABLE shares (
    name TEXT PRIMARY KEY,
    resource TEXT NOT NULL,
    node TEXT,
    ips TEXT NOT NULL -- JSON array of addresses
  );
  CREATE TABLE witness_instances (
    node TEXT NOT NULL,
    resource TEXT NOT NULL,
    started INTEGER NOT NULL,
    PRIMARY KEY (node, resource)
  );
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    cib_admin_epoch INTEGER NOT NULL,
    cib_epoch INTEGER NOT NULL,
    cib_num_updates INTEGER NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    from_node TEXT,
    to_node TEXT,
    payload TEXT NOT NULL -- JSON object
  );
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
