-- The event log: tenants, their keys, identities with a per-identity counter, the events,
-- and custom event types. Every id the API shows (`ten_…`, `key_…`, `evt_…`) is a ULID,
-- stored as a uuid: 16 bytes, and time-ordered so its index grows at the right edge.

CREATE TABLE tenants (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL
);

-- Only the SHA-256 of a key is kept; a key is found by its hash.
CREATE TABLE api_keys (
    id         uuid        PRIMARY KEY,
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    name       text,
    key_hash   bytea       NOT NULL UNIQUE,
    scopes     text[]      NOT NULL,
    identity   text,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, id) WHERE revoked_at IS NULL;

-- `head_seq` is the per-identity counter: an append bumps it and holds the row lock until
-- commit, which is what makes seqs gap-free and visible in order.
CREATE TABLE identities (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    handle     text        COLLATE "C" NOT NULL,
    head_seq   bigint      NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    UNIQUE (tenant_id, handle)
);

-- `data` is `json`, not `jsonb`: the payload is never queried inside, so it is kept exactly
-- as the producer sent it (key order included), which is also cheaper to store and to read.
-- Keyed by identity first, so the table can be hash-partitioned or distributed by
-- identity_id when one server is not enough. No foreign key to identities: the one write
-- path already holds that row's lock, and the check would cost every append a lookup.
CREATE TABLE events (
    identity_id bigint      NOT NULL,
    seq         bigint      NOT NULL,
    id          uuid        NOT NULL,
    type        text        NOT NULL,
    data        json        NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (identity_id, seq)
);
-- Event ids are global: a client-chosen id is idempotent across the whole service.
CREATE UNIQUE INDEX events_id_key ON events (id);

CREATE TABLE event_types (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id),
    name        text        NOT NULL,
    description text        NOT NULL,
    schema      jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
