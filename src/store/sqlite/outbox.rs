//! The outbox: claiming due deliveries with a lease, recording attempts, replays. Every
//! write runs on the one writer connection, so claims need no row locks; no statement here
//! is held open across an HTTP call.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use uuid::Uuid;

use super::SqliteStore;
use super::encoding::{hex, id_list, json_rows, to_micros};
use super::fanout::{DeliveryInput, INSERT_DELIVERIES};
use crate::domain::webhook::EventFilter;
use crate::id::DeliveryId;
use crate::store::columns::TextList;
use crate::store::rows::ClaimedRow;
use crate::store::{
    AttemptResult, ClaimRequest, Claimed, OutboxStore, ReplayRequest, StoreResult, Success,
};

/// Events a replay reads at a time, so a long log is never held in memory at once.
const REPLAY_PAGE: i64 = 1_000;

/// - `due` walks the active webhooks and takes, from each, at most its room of earliest
///   due rows, oldest event first among rows due together (a backlog released at once) —
///   so a webhook with a deep backlog or no free slots cannot crowd the others
///   out of a claim — skipping, for ordered webhooks, rows with an earlier pending row of
///   the same identity (inactive webhooks' rows are held). SQLite has no LATERAL: the
///   correlated `IN` reads at most `limit` rows per webhook off `deliveries_due_order_idx`, and
///   `nth` cuts that to the webhook's room;
/// - the claim pushes `next_attempt_at` to the lease's end: the lease.
const CLAIM: &str = "
WITH room (webhook_id, free) AS (
    SELECT unhex(value ->> 0), value ->> 1 FROM json_each(?3)
), due AS (
    SELECT d.id, d.next_attempt_at, d.seq, coalesce(room.free, ?4) AS free,
           row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.seq, d.id) AS nth
    FROM webhooks w
    LEFT JOIN room ON room.webhook_id = w.id
    JOIN deliveries d ON d.id IN (
        SELECT e.id FROM deliveries e
        WHERE e.webhook_id = w.id AND e.status = 'pending' AND e.next_attempt_at <= ?1
          AND (NOT w.ordered OR NOT EXISTS (
                SELECT 1 FROM deliveries f
                WHERE f.webhook_id = e.webhook_id AND f.identity_id = e.identity_id
                  AND f.status = 'pending' AND f.seq < e.seq))
        ORDER BY e.next_attempt_at, e.seq, e.id
        LIMIT ?5)
    WHERE w.active AND coalesce(room.free, ?4) > 0
)
UPDATE deliveries SET next_attempt_at = ?2, attempts = attempts + 1
WHERE id IN (SELECT id FROM due WHERE nth <= free ORDER BY next_attempt_at, seq, id LIMIT ?5)
RETURNING id";

/// Everything a worker needs to send what was just claimed.
const CLAIMED: &str = "
SELECT d.id, d.webhook_id, d.attempts, d.seq, w.url, w.rate_limit, w.ordered, i.handle,
       w.signature_dialect,
       e.id AS event_id, e.type, e.data, e.created_at, e.redacted_at,
       (SELECT json_group_array(s.secret ORDER BY s.created_at DESC) FROM webhook_secrets s
        WHERE s.webhook_id = w.id AND (s.expires_at IS NULL OR s.expires_at > ?2)) AS secrets
FROM deliveries d
JOIN webhooks w ON w.id = d.webhook_id
JOIN identities i ON i.id = d.identity_id
JOIN events e ON e.identity_id = d.identity_id AND e.seq = d.seq
WHERE d.id IN (SELECT unhex(value) FROM json_each(?1))
  -- An erased or expired event not yet removed is not sent; the sweep removes its delivery.
  AND d.seq >= i.earliest_seq
ORDER BY d.webhook_id, d.seq";

#[async_trait]
impl OutboxStore for SqliteStore {
    /// Leases due deliveries; takes the write lock, so concurrent claims queue.
    async fn claim_deliveries(&self, request: ClaimRequest<'_>) -> StoreResult<Claimed> {
        let room: Vec<(String, u32)> = request
            .room
            .iter()
            .map(|(id, free)| (hex(id.as_uuid()), *free))
            .collect();
        let now = to_micros(request.now);
        let mut tx = self.begin_write().await?;
        let claimed: Vec<Uuid> = sqlx::query_scalar(CLAIM)
            .bind(now)
            .bind(to_micros(request.lease_until))
            .bind(json_rows(&room)?)
            .bind(i64::from(request.default_room))
            .bind(i64::from(request.limit))
            .fetch_all(&mut *tx)
            .await?;
        if claimed.is_empty() {
            tx.commit().await?;
            return Ok(Claimed::default());
        }
        let rows: Vec<ClaimedRow> = sqlx::query_as(CLAIMED)
            .bind(id_list(claimed)?)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ClaimedRow::claimed(rows))
    }

    /// One transaction for the whole batch: the common case costs one write per batch rather
    /// than per delivery.
    async fn record_successes(&self, successes: &[Success]) -> StoreResult<()> {
        if successes.is_empty() {
            return Ok(());
        }
        let input: Vec<serde_json::Value> = successes
            .iter()
            .map(|success| {
                serde_json::json!([
                    hex(success.delivery.as_uuid()),
                    success.attempt,
                    to_micros(success.record.at),
                    success.record.duration_ms,
                    success.record.status_code,
                    success.record.response_body,
                    hex(success.webhook.as_uuid()),
                ])
            })
            .collect();
        let input = json_rows(&input)?;
        let mut tx = self.begin_write().await?;
        // A webhook deleted mid-flight took its deliveries with it; the rest still count. (A
        // WHERE clause is needed anyway: it keeps SQLite from reading the upsert's ON as a join
        // constraint.)
        sqlx::query(
            "INSERT INTO delivery_attempts (delivery_id, attempt, at, duration_ms, status_code, response_body)
             SELECT unhex(value ->> 0), value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5
             FROM json_each(?1)
             WHERE EXISTS (SELECT 1 FROM deliveries WHERE deliveries.id = unhex(json_each.value ->> 0))
             ON CONFLICT (delivery_id, attempt) DO NOTHING",
        )
        .bind(input.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE deliveries SET status = 'succeeded', next_attempt_at = NULL
             WHERE id IN (SELECT unhex(value ->> 0) FROM json_each(?1))",
        )
        .bind(input.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE webhooks SET failing_since = NULL
             WHERE id IN (SELECT unhex(value ->> 6) FROM json_each(?1)) AND failing_since IS NOT NULL",
        )
        .bind(input.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One transaction: the attempt row, the delivery's new state, and the webhook's streak.
    async fn record_attempt(&self, result: AttemptResult<'_>) -> StoreResult<()> {
        let (status, next) = result.delivery_state();
        // Whole seconds, as PostgreSQL's `interval` takes them.
        let disable_after = result.disable_after.num_seconds();
        let at = to_micros(result.record.at);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO delivery_attempts (delivery_id, attempt, at, duration_ms, status_code, error, response_body)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
             -- A webhook deleted mid-flight took its deliveries with it: nothing left to record.
             WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?1)
             ON CONFLICT (delivery_id, attempt) DO NOTHING",
        )
        .bind(result.delivery.as_uuid())
        .bind(i64::from(result.attempt))
        .bind(at)
        .bind(i64::from(result.record.duration_ms))
        .bind(result.record.status_code.map(i64::from))
        .bind(&result.record.error)
        .bind(&result.record.response_body)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE deliveries SET status = ?2, next_attempt_at = ?3 WHERE id = ?1")
            .bind(result.delivery.as_uuid())
            .bind(status.as_str())
            .bind(next.map(to_micros))
            .execute(&mut *tx)
            .await?;
        sqlx::query(STREAK)
            .bind(result.webhook.as_uuid())
            .bind(at)
            .bind(result.delivered())
            .bind(result.gone())
            .bind(disable_after.saturating_mul(1_000_000))
            .bind(format!("every delivery failed for {disable_after} seconds"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn release_deliveries(&self, ids: &[DeliveryId], now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE deliveries SET next_attempt_at = ?2, attempts = max(attempts - 1, 0)
             WHERE id IN (SELECT unhex(value) FROM json_each(?1)) AND status = 'pending'",
        )
        .bind(id_list(ids.iter().map(DeliveryId::as_uuid))?)
        .bind(to_micros(now))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// One transaction, reading the log a page at a time; the filter is the webhook's event
    /// types only, as in PostgreSQL.
    async fn replay(&self, request: ReplayRequest<'_>) -> StoreResult<Option<u64>> {
        let mut tx = self.begin_write().await?;
        let identity: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, earliest_seq FROM identities
             WHERE tenant_id = ?1 AND handle = ?2 AND erased_at IS NULL",
        )
        .bind(request.tenant.as_uuid())
        .bind(request.identity.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((identity_id, earliest)) = identity else {
            return Ok(None);
        };
        let target: Option<(Option<TextList>, Option<TextList>)> = sqlx::query_as(
            "SELECT event_names, event_prefixes FROM webhooks WHERE tenant_id = ?1 AND id = ?2",
        )
        .bind(request.tenant.as_uuid())
        .bind(request.webhook.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((names, prefixes)) = target else {
            return Ok(Some(0));
        };
        let wanted = EventFilter {
            names: names.map(|list| list.0),
            prefixes: prefixes.map(|list| list.0),
        };
        let now = to_micros(request.now);
        // Expired events not yet removed are not replayed.
        let mut after = request.since.0.max(earliest - 1);
        let mut enqueued = 0;
        loop {
            let page: Vec<(i64, Uuid, String)> = sqlx::query_as(
                "SELECT seq, id, type FROM events WHERE identity_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )
            .bind(identity_id)
            .bind(after)
            .bind(REPLAY_PAGE)
            .fetch_all(&mut *tx)
            .await?;
            let Some(&(last, _, _)) = page.last() else {
                break;
            };
            after = last;
            let rows: Vec<DeliveryInput> = page
                .iter()
                .filter(|(_, _, event_type)| wanted.matches(event_type))
                .map(|(seq, event_id, _)| {
                    (
                        hex(DeliveryId::generate().as_uuid()),
                        hex(request.webhook.as_uuid()),
                        identity_id,
                        *seq,
                        hex(*event_id),
                        now,
                        0,
                    )
                })
                .collect();
            if !rows.is_empty() {
                sqlx::query(INSERT_DELIVERIES)
                    .bind(json_rows(&rows)?)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                enqueued += rows.len() as u64;
            }
        }
        tx.commit().await?;
        Ok(Some(enqueued))
    }

    async fn pending_deliveries(&self) -> StoreResult<u64> {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'pending'")
                .fetch_one(&self.reader)
                .await?;
        Ok(pending as u64)
    }
}

/// The webhook's failure streak, touched only when the attempt changes it, so steady
/// successes never write the webhook row.
const STREAK: &str = "
UPDATE webhooks SET
    failing_since = CASE WHEN ?3 THEN NULL ELSE coalesce(failing_since, ?2) END,
    active = CASE WHEN ?4 THEN 0
                  WHEN NOT ?3 AND coalesce(failing_since, ?2) <= ?2 - ?5 THEN 0
                  ELSE active END,
    disabled_reason = CASE
        WHEN ?4 THEN 'the endpoint answered 410 Gone'
        WHEN NOT ?3 AND coalesce(failing_since, ?2) <= ?2 - ?5 THEN ?6
        ELSE disabled_reason END
WHERE id = ?1 AND (
    (?3 AND failing_since IS NOT NULL)
    OR (NOT ?3 AND (failing_since IS NULL OR ?4 OR failing_since <= ?2 - ?5)))";
