-- Inbound sources: an email provider's webhook, posting to its ingest URL, authenticated by
-- the provider's own signature. `credential` is what checks it: an HMAC secret, a public
-- key, or the hash of basic-auth credentials.
CREATE TABLE sources (
    id            BLOB    NOT NULL PRIMARY KEY,
    tenant_id     BLOB    NOT NULL REFERENCES tenants (id),
    provider      TEXT    NOT NULL,
    credential    TEXT    NOT NULL,
    identity_from TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX sources_tenant_idx ON sources (tenant_id, id);

-- The fingerprints of signed posts already taken, so the same post sent again is refused
-- as a replay; kept for a day.
CREATE TABLE source_receipts (
    source_id   BLOB    NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    fingerprint TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (source_id, fingerprint)
) STRICT, WITHOUT ROWID;
-- What is forgotten is found by time, without reading the rest.
CREATE INDEX source_receipts_age_idx ON source_receipts (source_id, received_at);

-- The last refused posts of each source, for its owner to read.
CREATE TABLE source_refusals (
    id          BLOB    NOT NULL PRIMARY KEY,
    source_id   BLOB    NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    code        TEXT    NOT NULL,
    message     TEXT    NOT NULL
) STRICT;
CREATE INDEX source_refusals_source_idx ON source_refusals (source_id, at);
