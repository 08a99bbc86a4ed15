-- Inbound sources: an email provider's webhook, posting to its ingest URL, authenticated by
-- the provider's own signature. `credential` is what checks it: an HMAC secret, a public
-- key, or the hash of basic-auth credentials.
CREATE TABLE sources (
    id            uuid        PRIMARY KEY,
    tenant_id     uuid        NOT NULL REFERENCES tenants (id),
    provider      text        NOT NULL,
    credential    text        NOT NULL,
    identity_from text        NOT NULL,
    description   text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL
);
CREATE INDEX sources_tenant_idx ON sources (tenant_id, id);

-- The fingerprints of signed posts already taken, so the same post sent again is refused
-- as a replay; kept for a day.
CREATE TABLE source_receipts (
    source_id   uuid        NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    fingerprint text        NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (source_id, fingerprint)
);
-- What is forgotten is found by time, without reading the rest.
CREATE INDEX source_receipts_age_idx ON source_receipts (source_id, received_at);

-- The last refused posts of each source, for its owner to read.
CREATE TABLE source_refusals (
    id          uuid        PRIMARY KEY,
    source_id   uuid        NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    status      integer     NOT NULL,
    code        text        NOT NULL,
    message     text        NOT NULL
);
CREATE INDEX source_refusals_source_idx ON source_refusals (source_id, at);
