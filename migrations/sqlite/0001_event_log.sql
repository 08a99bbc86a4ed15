-- The event log for the embedded SQLite database: the same tables and indexes as the
-- PostgreSQL schema, in SQLite's types. Ids (ULIDs) are 16-byte BLOBs, which compare
-- bytewise like uuids, so they stay time-ordered. Timestamps are INTEGER microseconds since
-- the Unix epoch: PostgreSQL's precision, and numbers sort and compare correctly where text
-- with a varying number of fraction digits does not. Lists are JSON text, NULL for none.
-- Tables are STRICT, so a value of the wrong type is refused rather than stored as is.

CREATE TABLE tenants (
    id         BLOB    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- Only the SHA-256 of a key is kept; a key is found by its hash. `scopes` is a JSON array.
CREATE TABLE api_keys (
    id         BLOB    NOT NULL PRIMARY KEY,
    tenant_id  BLOB    NOT NULL REFERENCES tenants (id),
    name       TEXT,
    key_hash   BLOB    NOT NULL UNIQUE,
    scopes     TEXT    NOT NULL,
    identity   TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, id) WHERE revoked_at IS NULL;

-- `head_seq` is the per-identity counter. Every write goes through one connection, so an
-- append's bump and its events commit together, in order, with no row lock to hold. The
-- id is the rowid; identities are never deleted, so no id is ever reused. Handles compare
-- with SQLite's default BINARY collation: byte order, like PostgreSQL's COLLATE "C".
CREATE TABLE identities (
    id         INTEGER PRIMARY KEY,
    tenant_id  BLOB    NOT NULL REFERENCES tenants (id),
    handle     TEXT    NOT NULL,
    head_seq   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, handle)
) STRICT;

-- `data` is the payload exactly as the producer sent it (key order included): it is never
-- queried inside. A rowid table rather than WITHOUT ROWID: payloads are too large to sit in
-- the primary key's b-tree without thinning it out. No foreign key to identities: the one
-- write path has just bumped that row, and the check would cost every event a lookup.
CREATE TABLE events (
    identity_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    id          BLOB    NOT NULL,
    type        TEXT    NOT NULL,
    data        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (identity_id, seq)
) STRICT;
-- Event ids are global: a client-chosen id is idempotent across the whole service.
CREATE UNIQUE INDEX events_id_key ON events (id);

CREATE TABLE event_types (
    tenant_id   BLOB    NOT NULL REFERENCES tenants (id),
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    schema      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
) STRICT;
