-- Activity by the minute, for `GET /v1/stats`, as in PostgreSQL: each process counts in
-- memory and adds its counts here every few seconds. `minute` is minutes since the Unix
-- epoch; rows older than 25 hours are removed, found through the `minute` indexes.

CREATE TABLE append_minutes (
    tenant_id BLOB    NOT NULL,
    minute    INTEGER NOT NULL,
    events    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, minute)
) STRICT, WITHOUT ROWID;
CREATE INDEX append_minutes_age_idx ON append_minutes (minute);

-- Attempts by outcome and by a log-scale bucket of how long the receiver took (-1 when it
-- did not answer).
CREATE TABLE attempt_minutes (
    webhook_id BLOB    NOT NULL,
    minute     INTEGER NOT NULL,
    outcome    TEXT    NOT NULL,
    bucket     INTEGER NOT NULL,
    attempts   INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, minute, outcome, bucket)
) STRICT, WITHOUT ROWID;
CREATE INDEX attempt_minutes_age_idx ON attempt_minutes (minute);

-- Each webhook's latest failed attempt.
CREATE TABLE webhook_last_errors (
    webhook_id    BLOB    NOT NULL PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    delivery_id   BLOB    NOT NULL,
    at            INTEGER NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    response_body TEXT
) STRICT;

-- How far behind a webhook is: its pending deliveries, oldest (by id) first.
CREATE INDEX deliveries_pending_idx ON deliveries (webhook_id, id) WHERE status = 'pending';
