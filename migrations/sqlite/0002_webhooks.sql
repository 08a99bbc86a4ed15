-- Webhook push: endpoints, their signing secrets, and the outbox, as in PostgreSQL. A
-- delivery row is written by the append transaction itself, so an acknowledged event can
-- never miss a webhook. Claims need no row locks: the one writer connection serialises them.

CREATE TABLE webhooks (
    id              BLOB    NOT NULL PRIMARY KEY,
    tenant_id       BLOB    NOT NULL REFERENCES tenants (id),
    url             TEXT    NOT NULL,
    -- NULL = every type; otherwise JSON arrays. Exact names and `prefix.` filters are kept
    -- apart, as in PostgreSQL.
    event_names     TEXT,
    event_prefixes  TEXT,
    identities      TEXT,
    description     TEXT    NOT NULL DEFAULT '',
    ordered         INTEGER NOT NULL DEFAULT 0,
    rate_limit      INTEGER,
    active          INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    -- Start of the current run of failures; cleared by any success. Auto-disable reads it.
    failing_since   INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX webhooks_tenant_idx ON webhooks (tenant_id, id);

-- Signing secrets. The newest is current; older ones sign too until `expires_at`. Small
-- rows always read by webhook: WITHOUT ROWID keeps them in the primary key's b-tree.
CREATE TABLE webhook_secrets (
    webhook_id BLOB    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    secret     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (webhook_id, created_at)
) STRICT, WITHOUT ROWID;

-- The outbox. `next_attempt_at` is both the schedule and the lease: a claim pushes it past
-- the lease, so a crashed worker's claim falls due again by itself. Rows are small and
-- mostly found by id (claims, records, releases): WITHOUT ROWID saves a lookup each.
CREATE TABLE deliveries (
    id              BLOB    NOT NULL PRIMARY KEY,
    webhook_id      BLOB    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    identity_id     INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    event_id        BLOB    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    created_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
-- Claims walk active webhooks and take each one's earliest due rows from here.
CREATE INDEX deliveries_due_idx ON deliveries (webhook_id, next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX deliveries_webhook_idx ON deliveries (webhook_id, id);
-- Ordered webhooks hold back an identity's later events behind its earliest pending one.
CREATE INDEX deliveries_ordering_idx ON deliveries (webhook_id, identity_id, seq) WHERE status = 'pending';

CREATE TABLE delivery_attempts (
    delivery_id   BLOB    NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    response_body TEXT,
    PRIMARY KEY (delivery_id, attempt)
) STRICT;
