-- Claims take a webhook's due rows oldest event first: rows due at the same moment (a
-- backlog released by re-enabling a webhook, the deliveries of one batch) go in seq order,
-- which their random-tailed ids did not give.
CREATE INDEX deliveries_due_order_idx ON deliveries (webhook_id, next_attempt_at, seq, id) WHERE status = 'pending';
DROP INDEX deliveries_due_idx;
