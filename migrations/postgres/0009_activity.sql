-- Activity by the minute, for `GET /v1/stats`. Each process counts appends and delivery
-- attempts in memory and adds its counts here every few seconds, so no append or attempt
-- writes a row of its own. `minute` is minutes since the Unix epoch; rows older than 25 hours
-- are removed by the process that adds them, found through the `minute` indexes.

CREATE TABLE append_minutes (
    tenant_id uuid   NOT NULL,
    minute    bigint NOT NULL,
    events    bigint NOT NULL,
    PRIMARY KEY (tenant_id, minute)
);
CREATE INDEX append_minutes_age_idx ON append_minutes (minute);

-- Attempts by outcome (`delivered`, `retrying`, `failed`: the last attempt failed) and by
-- how long the receiver took, as a bucket of a log scale (see `activity::latency`; -1 when
-- it did not answer).
-- No foreign key: a removed webhook's rows age out with the rest (and leave the tenant's
-- totals at once, which are read through its webhooks).
CREATE TABLE attempt_minutes (
    webhook_id uuid     NOT NULL,
    minute     bigint   NOT NULL,
    outcome    text     NOT NULL,
    bucket     smallint NOT NULL,
    attempts   bigint   NOT NULL,
    PRIMARY KEY (webhook_id, minute, outcome, bucket)
);
CREATE INDEX attempt_minutes_age_idx ON attempt_minutes (minute);

-- Each webhook's latest failed attempt.
CREATE TABLE webhook_last_errors (
    webhook_id    uuid        PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    delivery_id   uuid        NOT NULL,
    at            timestamptz NOT NULL,
    status_code   integer,
    error         text,
    response_body text
);

-- How far behind a webhook is: its pending deliveries, oldest (by id, a ULID of when the
-- delivery was made) first.
CREATE INDEX deliveries_pending_idx ON deliveries (webhook_id, id) WHERE status = 'pending';
