//! The outbox: claiming due deliveries with a lease, recording attempts, handing leases
//! back, replays. No statement here is held open across an HTTP call.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::PgStore;
use crate::id::DeliveryId;
use crate::store::rows::ClaimedRow;
use crate::store::{
    AttemptResult, ClaimRequest, Claimed, OutboxStore, ReplayRequest, StoreResult, Success,
};

/// - `due` walks the active webhooks and takes, from each, at most its room of earliest
///   due rows, oldest event first among rows due together (a backlog released at once) —
///   so a webhook with a deep backlog or no free slots cannot crowd the others
///   out of a claim — skipping, for ordered webhooks, rows with an earlier pending row of
///   the same identity (inactive webhooks' rows are held);
/// - `locked` re-checks due-ness under the row lock and skips rows another worker holds;
/// - the claim pushes `next_attempt_at` to the lease's end: the lease.
const CLAIM: &str = "
WITH room AS (
    SELECT * FROM unnest($4::uuid[], $5::int[]) AS room (webhook_id, free)
), due AS (
    SELECT d.id, d.next_attempt_at, d.seq
    FROM webhooks w
    LEFT JOIN room ON room.webhook_id = w.id
    CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at, d.seq FROM deliveries d
        WHERE d.webhook_id = w.id AND d.status = 'pending' AND d.next_attempt_at <= $1
          AND (NOT w.ordered OR NOT EXISTS (
                SELECT 1 FROM deliveries e
                WHERE e.webhook_id = d.webhook_id AND e.identity_id = d.identity_id
                  AND e.status = 'pending' AND e.seq < d.seq))
        ORDER BY d.next_attempt_at, d.seq, d.id
        LIMIT coalesce(room.free, $6)
    ) d
    WHERE w.active AND coalesce(room.free, $6) > 0
    ORDER BY d.next_attempt_at, d.seq, d.id
    LIMIT $3
), locked AS (
    SELECT id FROM deliveries
    WHERE id IN (SELECT id FROM due) AND status = 'pending' AND next_attempt_at <= $1
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE deliveries d SET next_attempt_at = $2, attempts = d.attempts + 1
    FROM locked WHERE d.id = locked.id
    RETURNING d.id, d.webhook_id, d.attempts, d.identity_id, d.seq
)
SELECT claimed.id, claimed.webhook_id, claimed.attempts, claimed.seq, w.url, w.rate_limit, w.ordered, i.handle,
       w.signature_dialect,
       e.id AS event_id, e.type, e.data, e.created_at, e.redacted_at,
       ARRAY(SELECT s.secret FROM webhook_secrets s
             WHERE s.webhook_id = w.id AND (s.expires_at IS NULL OR s.expires_at > $1)
             ORDER BY s.created_at DESC) AS secrets
FROM claimed
JOIN webhooks w ON w.id = claimed.webhook_id
JOIN identities i ON i.id = claimed.identity_id
JOIN events e ON e.identity_id = claimed.identity_id AND e.seq = claimed.seq
-- An erased or expired event not yet removed is not sent; the sweep removes its delivery.
WHERE claimed.seq >= i.earliest_seq
ORDER BY claimed.webhook_id, claimed.seq";

#[async_trait]
impl OutboxStore for PgStore {
    async fn claim_deliveries(&self, request: ClaimRequest<'_>) -> StoreResult<Claimed> {
        let (room_ids, room_free): (Vec<Uuid>, Vec<i32>) = request
            .room
            .iter()
            .map(|(id, free)| (id.as_uuid(), *free as i32))
            .unzip();
        let rows: Vec<ClaimedRow> = sqlx::query_as(CLAIM)
            .bind(request.now)
            .bind(request.lease_until)
            .bind(i64::from(request.limit))
            .bind(&room_ids)
            .bind(&room_free)
            .bind(request.default_room as i32)
            .fetch_all(&self.outbox)
            .await?;
        Ok(ClaimedRow::claimed(rows))
    }

    async fn record_successes(&self, successes: &[Success]) -> StoreResult<()> {
        let deliveries: Vec<Uuid> = successes
            .iter()
            .map(|success| success.delivery.as_uuid())
            .collect();
        let webhooks: Vec<Uuid> = successes
            .iter()
            .map(|success| success.webhook.as_uuid())
            .collect();
        let attempts: Vec<i32> = successes
            .iter()
            .map(|success| success.attempt as i32)
            .collect();
        let at: Vec<DateTime<Utc>> = successes.iter().map(|success| success.record.at).collect();
        let durations: Vec<i32> = successes
            .iter()
            .map(|success| success.record.duration_ms as i32)
            .collect();
        let codes: Vec<Option<i32>> = successes
            .iter()
            .map(|success| success.record.status_code.map(i32::from))
            .collect();
        let bodies: Vec<Option<String>> = successes
            .iter()
            .map(|success| success.record.response_body.clone())
            .collect();
        sqlx::query(
            "WITH input AS (
                SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::timestamptz[], $5::int[], $6::int[], $7::text[])
                    AS input (delivery_id, webhook_id, attempt, at, duration_ms, status_code, response_body)
             ), attempts AS (
                INSERT INTO delivery_attempts (delivery_id, attempt, at, duration_ms, status_code, response_body)
                SELECT delivery_id, attempt, at, duration_ms, status_code, response_body FROM input
                -- A webhook deleted mid-flight took its deliveries with it; the rest still count.
                WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = input.delivery_id)
                ON CONFLICT (delivery_id, attempt) DO NOTHING
             ), done AS (
                UPDATE deliveries SET status = 'succeeded', next_attempt_at = NULL
                FROM input WHERE deliveries.id = input.delivery_id
             )
             UPDATE webhooks SET failing_since = NULL
             WHERE id IN (SELECT webhook_id FROM input) AND failing_since IS NOT NULL",
        )
        .bind(&deliveries)
        .bind(&webhooks)
        .bind(&attempts)
        .bind(&at)
        .bind(&durations)
        .bind(&codes)
        .bind(&bodies)
        .execute(&self.outbox)
        .await?;
        Ok(())
    }

    async fn record_attempt(&self, result: AttemptResult<'_>) -> StoreResult<()> {
        let (status, next) = result.delivery_state();
        let disable_after = format!("{} seconds", result.disable_after.num_seconds());
        sqlx::query(RECORD)
            .bind(result.delivery.as_uuid())
            .bind(result.webhook.as_uuid())
            .bind(result.attempt as i32)
            .bind(result.record.at)
            .bind(result.record.duration_ms as i32)
            .bind(result.record.status_code.map(i32::from))
            .bind(&result.record.error)
            .bind(&result.record.response_body)
            .bind(status.as_str())
            .bind(next)
            .bind(result.delivered())
            .bind(result.gone())
            .bind(disable_after)
            .execute(&self.outbox)
            .await?;
        Ok(())
    }

    async fn release_deliveries(&self, ids: &[DeliveryId], now: DateTime<Utc>) -> StoreResult<()> {
        let ids: Vec<Uuid> = ids.iter().map(DeliveryId::as_uuid).collect();
        sqlx::query(
            "UPDATE deliveries SET next_attempt_at = $2, attempts = greatest(attempts - 1, 0)
             WHERE id = ANY($1) AND status = 'pending'",
        )
        .bind(&ids)
        .bind(now)
        .execute(&self.outbox)
        .await?;
        Ok(())
    }

    /// Holds the identity's row (shared) for the enqueueing, so no sweep step or erasure
    /// commits in between: a delivery is never written for an event just removed.
    async fn replay(&self, request: ReplayRequest<'_>) -> StoreResult<Option<u64>> {
        let mut tx = self.pool.begin().await?;
        let target: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, earliest_seq FROM identities
             WHERE tenant_id = $1 AND handle = $2 AND erased_at IS NULL
             FOR SHARE",
        )
        .bind(request.tenant.as_uuid())
        .bind(request.identity.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((identity, earliest)) = target else {
            return Ok(None);
        };
        let enqueued = sqlx::query(
            "INSERT INTO deliveries (id, webhook_id, identity_id, seq, event_id, created_at, next_attempt_at)
             SELECT seqhook_ulid($4), w.id, e.identity_id, e.seq, e.id, $4, $4
             FROM webhooks w JOIN events e ON e.identity_id = $3 AND e.seq > $5
             WHERE w.tenant_id = $1 AND w.id = $2
               AND seqhook_takes_type(w.event_names, w.event_prefixes, e.type)
             ORDER BY e.seq",
        )
        .bind(request.tenant.as_uuid())
        .bind(request.webhook.as_uuid())
        .bind(identity)
        .bind(request.now)
        // Expired events not yet removed are not replayed.
        .bind(request.since.0.max(earliest - 1))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(Some(enqueued))
    }

    async fn pending_deliveries(&self) -> StoreResult<u64> {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(pending as u64)
    }
}

/// One statement: the attempt row, the delivery's new state, and — only when it changes
/// anything — the webhook's failure streak, so steady successes never touch the webhook row.
const RECORD: &str = "
WITH attempt AS (
    INSERT INTO delivery_attempts (delivery_id, attempt, at, duration_ms, status_code, error, response_body)
    SELECT $1::uuid, $3::int, $4::timestamptz, $5::int, $6::int, $7::text, $8::text
    -- A webhook deleted mid-flight took its deliveries with it: nothing left to record.
    WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = $1)
    ON CONFLICT (delivery_id, attempt) DO NOTHING
), delivery AS (
    UPDATE deliveries SET status = $9, next_attempt_at = $10 WHERE id = $1
)
UPDATE webhooks SET
    failing_since = CASE WHEN $11 THEN NULL ELSE coalesce(failing_since, $4) END,
    active = CASE WHEN $12 THEN false
                  WHEN NOT $11 AND coalesce(failing_since, $4) <= $4 - $13::interval THEN false
                  ELSE active END,
    disabled_reason = CASE
        WHEN $12 THEN 'the endpoint answered 410 Gone'
        WHEN NOT $11 AND coalesce(failing_since, $4) <= $4 - $13::interval
            THEN 'every delivery failed for ' || $13::text
        ELSE disabled_reason END
WHERE id = $2 AND (
    ($11 AND failing_since IS NOT NULL)
    OR (NOT $11 AND (failing_since IS NULL OR $12 OR failing_since <= $4 - $13::interval)))";
