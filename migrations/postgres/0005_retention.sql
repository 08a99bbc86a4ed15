-- Retention and erasure. An identity's log is held from `earliest_seq` on: the sweep moves
-- it past expired events, and an erasure past the head. Rows below it are removed in
-- bounded batches from `purge_from` up, so `purge_from < earliest_seq` is work left over
-- (an erasure, or a sweep that stopped half-way) that the next sweep resumes.
-- `oldest_at` is the time of the first event held (NULL when none is): an append sets it
-- when it was NULL, the sweep after each batch, and the sweep finds expired logs through
-- its index without reading any event.
-- An erased identity keeps its row (`erased_at`) until its rows are gone and for as long
-- after as its handle may come back: re-creating the handle continues after the old head,
-- so a consumer holding an old cursor never sees a seq again.
ALTER TABLE identities
    ADD COLUMN earliest_seq bigint NOT NULL DEFAULT 1,
    ADD COLUMN purge_from   bigint NOT NULL DEFAULT 1,
    ADD COLUMN oldest_at    timestamptz,
    ADD COLUMN erased_at    timestamptz;
UPDATE identities SET oldest_at = (
    SELECT created_at FROM events WHERE identity_id = identities.id ORDER BY seq LIMIT 1);
CREATE INDEX identities_oldest_idx ON identities (tenant_id, oldest_at) WHERE oldest_at IS NOT NULL;
CREATE INDEX identities_purge_idx ON identities (id) WHERE purge_from < earliest_seq;

-- A tenant's own window, in seconds; NULL follows the server's default, 0 keeps forever.
ALTER TABLE tenants ADD COLUMN retention_secs bigint CHECK (retention_secs >= 0);

-- A redacted event keeps its id, seq and type; its data is the tombstone.
ALTER TABLE events ADD COLUMN redacted_at timestamptz;

-- The sweep deletes all day long: vacuum these tables once a small share of their rows is
-- dead, rather than the default fifth, so freed space is reused before the tables grow.
ALTER TABLE events SET (autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE delivery_attempts SET (autovacuum_vacuum_scale_factor = 0.02);

-- A log's deliveries go with its events: found by the event they carry.
CREATE INDEX deliveries_event_idx ON deliveries (identity_id, seq);

-- Raised inside the append when one of its identities was erased (or is being erased):
-- the whole statement rolls back, and the group commit retries its requests one by one.
CREATE FUNCTION seqhook_identity_gone(identity bigint) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'identity % is erased', identity USING ERRCODE = 'SH404';
END
$$;
