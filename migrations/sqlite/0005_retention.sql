-- Retention and erasure: the PostgreSQL schema's columns (see its 0005), in SQLite's types.
ALTER TABLE identities ADD COLUMN earliest_seq INTEGER NOT NULL DEFAULT 1;
ALTER TABLE identities ADD COLUMN purge_from INTEGER NOT NULL DEFAULT 1;
ALTER TABLE identities ADD COLUMN oldest_at INTEGER;
ALTER TABLE identities ADD COLUMN erased_at INTEGER;
UPDATE identities SET oldest_at = (
    SELECT created_at FROM events WHERE identity_id = identities.id ORDER BY seq LIMIT 1);
CREATE INDEX identities_oldest_idx ON identities (tenant_id, oldest_at) WHERE oldest_at IS NOT NULL;
CREATE INDEX identities_purge_idx ON identities (id) WHERE purge_from < earliest_seq;

-- A tenant's own window, in seconds; NULL follows the server's default, 0 keeps forever.
ALTER TABLE tenants ADD COLUMN retention_secs INTEGER CHECK (retention_secs >= 0);

ALTER TABLE events ADD COLUMN redacted_at INTEGER;

CREATE INDEX deliveries_event_idx ON deliveries (identity_id, seq);
