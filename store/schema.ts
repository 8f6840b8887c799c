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
  // 2: witnessd's registrations (a copy for listing and audit; memory is authoritative) and the
  // audit trail of every notification attempt. Rows of removed registrations stay for the audit
  // until retention prunes them.
  `
  CREATE TABLE registrations (
    key TEXT PRIMARY KEY,            -- context handle, hex of its 20 bytes
    node TEXT NOT NULL,              -- witness node that holds it
    pid INTEGER NOT NULL,            -- witnessd process that holds it
    version INTEGER NOT NULL,        -- 0x00010001 (Register) or 0x00020000 (RegisterEx)
    net_name TEXT NOT NULL,
    share_name TEXT,
    ip_address TEXT NOT NULL,
    client_name TEXT NOT NULL,
    flags INTEGER NOT NULL,
    keep_alive INTEGER NOT NULL,     -- seconds; 0 = none
    association INTEGER NOT NULL,
    remote TEXT NOT NULL,
    local TEXT NOT NULL,
    identity TEXT,
    created_at INTEGER NOT NULL,
    last_use INTEGER NOT NULL,
    pending INTEGER NOT NULL,        -- 1 while an AsyncNotify waits
    notifications_sent INTEGER NOT NULL,
    removed_at INTEGER,
    removed_reason TEXT
  );
  CREATE INDEX registrations_live ON registrations(removed_at, node);
  CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    registration TEXT NOT NULL,
    client_name TEXT NOT NULL,
    node TEXT NOT NULL,
    type INTEGER NOT NULL,           -- RESP_ASYNC_NOTIFY.MessageType
    summary TEXT NOT NULL,
    event_seq INTEGER,
    event_at INTEGER,
    sent_at INTEGER NOT NULL,
    latency_ms REAL,                 -- sent_at - event_at
    outcome TEXT NOT NULL            -- delivered | client_gone | timed_out
  );
  CREATE INDEX notifications_sent_at ON notifications(sent_at);
  CREATE TABLE service_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // 3: admin requests (witnessctl → witnessd): written by the CLI, carried out by the witnessd of
  // the node named in `node`, which records the outcome.
  `
  CREATE TABLE admin_requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    node TEXT NOT NULL,              -- the witness node that must carry it out
    kind TEXT NOT NULL,              -- client-move | share-move | force-unregister
    selector TEXT NOT NULL,          -- JSON: which registrations
    target TEXT NOT NULL,            -- JSON: where to ({ "node": N } or { "ip": A }), {} for unregister
    state TEXT NOT NULL,             -- pending | done | failed
    done_at INTEGER,
    result TEXT                      -- JSON: { "registrations": n } or { "error": "..." }
  );
  CREATE INDEX admin_requests_pending ON admin_requests(node, state);
  `,
  // 4: requests from witnessctl on another node, relayed by this node's agent from a transient
  // node attribute (docs/cross-node-admin.md): their id, the asking node, and when the agent
  // published the outcome back.
  `
  ALTER TABLE admin_requests ADD COLUMN ref TEXT;          -- the request's id on the wire
  ALTER TABLE admin_requests ADD COLUMN origin TEXT;       -- node that asked
  ALTER TABLE admin_requests ADD COLUMN published_at INTEGER;
  CREATE UNIQUE INDEX admin_requests_ref ON admin_requests(ref) WHERE ref IS NOT NULL;
  `,
  // 5: room kept for the agent's events when the disk is full (store/index.ts, Store.ensureReserve):
  // one row of zeros whose pages a sync that fails for lack of space frees and uses. witnessd's
  // journal counters (rows it had to drop, budget prunes) go in service_state.
  `
  CREATE TABLE store_reserve (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    filler BLOB NOT NULL
  );
  `,
  // 6: each node's own addresses (its witness-addresses node attribute, agent/node-addresses.ts),
  // listed by GetInterfaceList beside the floating IPs. JSON array; NULL when the node has none.
  `
  ALTER TABLE nodes ADD COLUMN addresses TEXT;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
