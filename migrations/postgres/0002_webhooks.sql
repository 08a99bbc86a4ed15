-- Webhook push: endpoints, their signing secrets, and the outbox. A delivery row is written
-- by the append transaction itself, so an acknowledged event can never miss a webhook; the
-- worker pool then claims due rows with a lease and records each attempt.

CREATE TABLE webhooks (
    id              uuid        PRIMARY KEY,
    tenant_id       uuid        NOT NULL REFERENCES tenants (id),
    url             text        NOT NULL,
    -- NULL = every type. Exact names and `prefix.*` filters are kept apart so the append
    -- statement matches them without parsing.
    event_names     text[],
    event_prefixes  text[],
    identities      text[],
    description     text        NOT NULL DEFAULT '',
    ordered         boolean     NOT NULL DEFAULT false,
    rate_limit      integer,
    active          boolean     NOT NULL DEFAULT true,
    disabled_reason text,
    -- Start of the current run of failures; cleared by any success. Auto-disable reads it.
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX webhooks_tenant_idx ON webhooks (tenant_id, id);

-- Signing secrets. The newest is current; older ones sign too until `expires_at`, so a
-- receiver can roll its secret without dropping a delivery.
CREATE TABLE webhook_secrets (
    webhook_id uuid        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    secret     text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    PRIMARY KEY (webhook_id, created_at)
);

-- The outbox. `next_attempt_at` is both the schedule and the lease: a claim pushes it past
-- the lease, so a crashed worker's claim falls due again by itself.
CREATE TABLE deliveries (
    id              uuid        PRIMARY KEY,
    webhook_id      uuid        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    identity_id     bigint      NOT NULL,
    seq             bigint      NOT NULL,
    event_id        uuid        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL
);
-- Claims walk active webhooks and take each one's earliest due rows from here.
CREATE INDEX deliveries_due_idx ON deliveries (webhook_id, next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX deliveries_webhook_idx ON deliveries (webhook_id, id);
-- Ordered webhooks hold back an identity's later events behind its earliest pending one.
CREATE INDEX deliveries_ordering_idx ON deliveries (webhook_id, identity_id, seq) WHERE status = 'pending';

CREATE TABLE delivery_attempts (
    delivery_id   uuid        NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt       integer     NOT NULL,
    at            timestamptz NOT NULL,
    duration_ms   integer     NOT NULL,
    status_code   integer,
    error         text,
    response_body text,
    PRIMARY KEY (delivery_id, attempt)
);

-- A time-ordered uuid in the ULID layout (48-bit milliseconds, 80 random bits), so rows
-- made inside SQL get ids like those made in Rust.
CREATE FUNCTION seqhook_ulid(at timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        overlay(uuid_send(gen_random_uuid())
                placing substring(int8send((extract(epoch FROM at) * 1000)::bigint) FROM 3)
                FROM 1 FOR 6),
        'hex')::uuid
$$;
