//! The log itself: appending (counter bump + event rows, one statement) and reading pages.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{SubsecRound, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use super::PgStore;
use crate::domain::cursor::Seq;
use crate::domain::event::{EventType, StoredEvent};
use crate::domain::identity::IdentityKey;
use crate::domain::page::Page;
use crate::id::{DeliveryId, EventId, WebhookId};
use crate::store::columns::TextList;
use crate::store::rows::{Destination, LocatedEventRow, PageRow, handle};
use crate::store::{
    AppendLease, AppendRequest, AppendedGroup, ClaimedDelivery, EventStore, ReadRequest,
    StoreError, StoreResult,
};

/// One statement, so one round trip and one commit for any number of requests:
/// - `locked` takes every touched identity's row lock in id order, so two groups sharing
///   identities queue rather than deadlock. An erased identity is not taken (nor one whose
///   erasure commits while this waits for its lock): its events then fail the whole
///   statement (`seqhook_identity_gone`), and the group commit retries request by request;
/// - `bumped` moves each head once by its event count and keeps the lock to commit: no
///   reader sees seq N+1 before N, and a rolled-back group leaves no gap;
/// - each event's seq is its identity's old head plus its position among that identity's
///   events in the group, counted here in Rust, so the database neither sorts nor numbers
///   rows and sends back one row per identity, not per event;
/// - `outbox` writes one delivery per matching webhook (inactive ones too: their rows are
///   held) in the same transaction, so an acknowledged event never misses a webhook. Within
///   the lease's limits (`AppendLease`) a delivery is written already leased, attempt 1
///   under way, and comes back with what sending it takes; the rest are due at once.
///
/// Rows with no `delivery_id` are the identities' old heads (`base`), each carrying the
/// number of deliveries written due (`due`); the others are the leased deliveries.
const APPEND: &str = "
WITH counts AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS counts (identity_id, n)
), locked AS (
    SELECT identities.id, identities.tenant_id, identities.handle, counts.n
    FROM identities JOIN counts ON counts.identity_id = identities.id
    WHERE identities.erased_at IS NULL
    ORDER BY identities.id
    FOR UPDATE OF identities
), bumped AS (
    UPDATE identities SET head_seq = identities.head_seq + locked.n,
                          oldest_at = coalesce(identities.oldest_at, $8)
    FROM locked WHERE identities.id = locked.id
    RETURNING identities.id, identities.head_seq - locked.n AS base
), inserted AS (
    INSERT INTO events (identity_id, seq, id, type, data, created_at)
    SELECT input.identity_id,
           coalesce(bumped.base, seqhook_identity_gone(input.identity_id)) + input.position,
           input.id, input.type, input.data::json, $8
    FROM unnest($3::bigint[], $4::bigint[], $5::uuid[], $6::text[], $7::text[])
        AS input (identity_id, position, id, type, data)
    LEFT JOIN bumped ON bumped.id = input.identity_id
    RETURNING identity_id, seq, id, type
), room AS (
    SELECT * FROM unnest($11::uuid[], $12::int[]) AS room (webhook_id, free)
), matched AS (
    SELECT w.id AS webhook_id, inserted.identity_id, inserted.seq, inserted.id AS event_id,
           w.active AND NOT w.ordered AS leasable, coalesce(room.free, $13::int) AS room
    FROM inserted
    JOIN locked ON locked.id = inserted.identity_id
    JOIN webhooks w ON w.tenant_id = locked.tenant_id
    LEFT JOIN room ON room.webhook_id = w.id
    WHERE (w.identities IS NULL OR locked.handle = ANY(w.identities))
      AND seqhook_takes_type(w.event_names, w.event_prefixes, inserted.type)
), outbox AS (
    INSERT INTO deliveries (id, webhook_id, identity_id, seq, event_id, created_at, next_attempt_at, attempts)
    SELECT seqhook_ulid($8), webhook_id, identity_id, seq, event_id, $8,
           CASE WHEN leased THEN $10::timestamptz ELSE $8 END, CASE WHEN leased THEN 1 ELSE 0 END
    FROM (
        SELECT ranked.*, within_webhook
            AND row_number() OVER (PARTITION BY within_webhook ORDER BY webhook_id, identity_id, seq) <= $14::bigint
            AS leased
        FROM (
            SELECT matched.*, leasable
                AND row_number() OVER (PARTITION BY leasable, webhook_id ORDER BY identity_id, seq) <= room
                AS within_webhook
            FROM matched
        ) AS ranked
    ) AS lease
    RETURNING id, webhook_id, identity_id, seq, attempts
)
SELECT bumped.id AS identity_id, bumped.base, due.n AS due,
       NULL::uuid AS delivery_id, NULL::uuid AS webhook_id, NULL::bigint AS seq, NULL::text AS url,
       NULL::int AS rate_limit, NULL::text[] AS secrets, NULL::text AS handle,
       NULL::text AS signature_dialect
FROM bumped CROSS JOIN (SELECT count(*) AS n FROM outbox WHERE attempts = 0) AS due
UNION ALL
SELECT outbox.identity_id, NULL, NULL, outbox.id, outbox.webhook_id, outbox.seq, w.url, w.rate_limit,
       ARRAY(SELECT s.secret FROM webhook_secrets s
             WHERE s.webhook_id = w.id AND (s.expires_at IS NULL OR s.expires_at > $9::timestamptz)
             ORDER BY s.created_at DESC),
       locked.handle, w.signature_dialect
FROM outbox
JOIN webhooks w ON w.id = outbox.webhook_id
JOIN locked ON locked.id = outbox.identity_id
WHERE outbox.attempts > 0";

/// A row of the append's answer: an identity's old head, or a delivery written leased.
#[derive(FromRow)]
struct AppendRow {
    identity_id: i64,
    base: Option<i64>,
    due: Option<i64>,
    delivery_id: Option<Uuid>,
}

/// A delivery the append wrote leased, before its event is attached.
#[derive(FromRow)]
struct LeasedRow {
    identity_id: i64,
    seq: i64,
    #[sqlx(try_from = "Uuid")]
    delivery_id: DeliveryId,
    #[sqlx(try_from = "Uuid")]
    webhook_id: WebhookId,
    url: String,
    rate_limit: Option<i32>,
    secrets: TextList,
    handle: String,
    signature_dialect: Option<String>,
}

/// The leased deliveries, each with its event as just appended. The append has committed:
/// one that does not read back is left to its lease, which runs out and lets a claim take
/// it, rather than failing an append that happened.
fn leased_deliveries(
    requests: &[AppendRequest<'_>],
    appended: &[Vec<StoredEvent>],
    rows: Vec<LeasedRow>,
) -> Vec<ClaimedDelivery> {
    if rows.is_empty() {
        return Vec::new();
    }
    let events: HashMap<(i64, i64), &StoredEvent> = requests
        .iter()
        .zip(appended)
        .flat_map(|(request, events)| {
            events
                .iter()
                .map(move |event| ((request.identity.0, event.seq.0), event))
        })
        .collect();
    rows.into_iter()
        .filter_map(|row| {
            let delivery = row.delivery_id;
            let Some(event) = events.get(&(row.identity_id, row.seq)) else {
                tracing::error!(%delivery, "a leased delivery does not match its append; it waits for its lease to end");
                return None;
            };
            let read = Destination::parse(
                &row.url,
                row.rate_limit,
                &row.secrets.0,
                row.signature_dialect.as_deref(),
            )
                .and_then(|to| Ok((to, handle("handle", &row.handle)?)));
            let (to, identity) = match read {
                Ok(read) => read,
                Err(error) => {
                    tracing::error!(%error, %delivery, "a leased delivery does not read back; it waits for its lease to end");
                    return None;
                }
            };
            Some(ClaimedDelivery {
                id: delivery,
                webhook_id: row.webhook_id,
                url: to.url,
                attempt: 1,
                rate_limit: to.rate_limit,
                ordered: false,
                identity,
                event: (*event).clone(),
                secrets: to.secrets,
                dialect: to.dialect,
            })
        })
        .collect()
}

/// The head and the page come from one statement, hence one snapshot: the cursor and
/// `hasMore` can never disagree with the events returned.
const READ: &str = "
SELECT identities.head_seq, identities.earliest_seq, page.seq, page.id, page.type, page.data, page.created_at, page.redacted_at
FROM identities
LEFT JOIN LATERAL (
    SELECT seq, id, type, data, created_at, redacted_at FROM events
    WHERE events.identity_id = identities.id AND seq > $2 AND seq <= $3
      AND ($4::text[] IS NULL OR type = ANY($4))
    ORDER BY seq
    LIMIT $5
) page ON true
WHERE identities.id = $1 AND identities.erased_at IS NULL";

#[async_trait]
impl EventStore for PgStore {
    /// Looks ids up across all logs: a client id is unique service-wide. Events expired or
    /// erased but not yet removed are not found.
    async fn find_events(&self, ids: &[EventId]) -> StoreResult<Vec<(IdentityKey, StoredEvent)>> {
        let ids: Vec<Uuid> = ids.iter().map(EventId::as_uuid).collect();
        let rows: Vec<LocatedEventRow> = sqlx::query_as(
            "SELECT e.identity_id, e.seq, e.id, e.type, e.data, e.created_at, e.redacted_at
             FROM events e JOIN identities i ON i.id = e.identity_id
             WHERE e.id = ANY($1) AND i.erased_at IS NULL AND e.seq >= i.earliest_seq",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(LocatedEventRow::located).collect())
    }

    async fn append_events(
        &self,
        requests: &[AppendRequest<'_>],
        lease: Option<&AppendLease>,
    ) -> StoreResult<AppendedGroup> {
        let total: usize = requests.iter().map(|request| request.events.len()).sum();
        let mut counts: HashMap<i64, i64> = HashMap::new();
        let mut identity_ids = Vec::with_capacity(total);
        let mut positions = Vec::with_capacity(total);
        let mut ids = Vec::with_capacity(total);
        let mut types = Vec::with_capacity(total);
        let mut data = Vec::with_capacity(total);
        for request in requests {
            for event in request.events {
                let count = counts.entry(request.identity.0).or_default();
                *count += 1;
                identity_ids.push(request.identity.0);
                positions.push(*count);
                ids.push(event.id.as_uuid());
                types.push(event.event_type.as_str());
                data.push(event.data.get());
            }
        }
        let (count_ids, count_ns): (Vec<i64>, Vec<i64>) = counts.into_iter().unzip();
        // The API shows milliseconds; storing exactly that makes the append's answer and every
        // later read agree.
        let created_at = Utc::now().trunc_subsecs(3);
        let (room_ids, room_free): (Vec<Uuid>, Vec<i32>) = lease
            .map(|lease| {
                lease
                    .room
                    .iter()
                    .map(|(webhook, free)| (webhook.as_uuid(), *free as i32))
                    .unzip()
            })
            .unwrap_or_default();
        // Acquired apart from the statement: a connection that cannot be had means nothing was
        // sent, while one that breaks once the statement is out leaves its commit unknown.
        let mut connection = self.pool.acquire().await?;
        let rows = sqlx::query(APPEND)
            .bind(&count_ids)
            .bind(&count_ns)
            .bind(&identity_ids)
            .bind(&positions)
            .bind(&ids)
            .bind(&types)
            .bind(&data)
            .bind(created_at)
            .bind(lease.map_or(created_at, |lease| lease.now))
            .bind(lease.map_or(created_at, |lease| lease.until))
            .bind(&room_ids)
            .bind(&room_free)
            .bind(lease.map_or(0, |lease| lease.default_room as i32))
            .bind(lease.map_or(0, |lease| i64::from(lease.budget)))
            .fetch_all(&mut *connection)
            .await
            .map_err(StoreError::after_sending)?;
        drop(connection);

        let mut base: HashMap<i64, i64> = HashMap::with_capacity(requests.len());
        let mut deliveries_due = false;
        let mut leased_rows = Vec::new();
        for row in &rows {
            let head = AppendRow::from_row(row)?;
            match head.delivery_id {
                None => {
                    let old_head = head.base.ok_or_else(|| {
                        sqlx::Error::Decode("an identity's row carries its old head".into())
                    })?;
                    base.insert(head.identity_id, old_head);
                    deliveries_due |= head.due.is_some_and(|due| due > 0);
                }
                Some(delivery) => match LeasedRow::from_row(row) {
                    Ok(leased) => leased_rows.push(leased),
                    Err(error) => {
                        tracing::error!(%error, %delivery, "a leased delivery could not be read back; it waits for its lease to end");
                    }
                },
            }
        }
        let mut next: HashMap<i64, i64> = HashMap::with_capacity(base.len());
        let mut appended = Vec::with_capacity(requests.len());
        for request in requests {
            let identity = request.identity.0;
            let Some(&base) = base.get(&identity) else {
                return Err(StoreError::IdentityGone);
            };
            let position = next.entry(identity).or_default();
            let mut events = Vec::with_capacity(request.events.len());
            for event in request.events {
                *position += 1;
                events.push(StoredEvent {
                    id: event.id,
                    seq: Seq(base + *position),
                    event_type: event.event_type.as_str().to_owned(),
                    data: event.data.clone(),
                    created_at,
                    redacted_at: None,
                });
            }
            appended.push(events);
        }
        let leased = leased_deliveries(requests, &appended, leased_rows);
        Ok(AppendedGroup {
            events: appended,
            leased,
            deliveries_due,
        })
    }

    async fn read_events(&self, request: ReadRequest<'_>) -> StoreResult<Page> {
        let types: Option<Vec<&str>> = request
            .types
            .map(|types| types.iter().map(EventType::as_str).collect());
        let rows: Vec<PageRow> = sqlx::query_as(READ)
            .bind(request.identity.0)
            .bind(request.since.0)
            .bind(request.scan_end())
            .bind(types)
            .bind(i64::from(request.limit))
            .fetch_all(&self.pool)
            .await?;
        request.page(rows)
    }
}
