//! The log itself: appending (counter bump, event rows and outbox rows, one transaction on
//! the writer) and reading pages.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{SubsecRound, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::SqliteStore;
use super::encoding::{hex, id_list, json_rows, to_micros};
use super::fanout::{Appended, fan_out};
use crate::domain::cursor::Seq;
use crate::domain::event::{EventType, StoredEvent};
use crate::domain::identity::IdentityKey;
use crate::domain::page::Page;
use crate::id::EventId;
use crate::store::rows::{LocatedEventRow, PageRow};
use crate::store::{
    AppendLease, AppendRequest, AppendedGroup, EventStore, ReadRequest, StoreError, StoreResult,
};

/// Moves each head once by its identity's event count. RETURNING sees the new head; the
/// old one, the base of this group's seqs, is that minus the count.
const BUMP: &str = "
UPDATE identities SET head_seq = head_seq + counts.n, oldest_at = coalesce(oldest_at, ?2)
FROM (SELECT value ->> 0 AS identity_id, value ->> 1 AS n FROM json_each(?1)) AS counts
WHERE identities.id = counts.identity_id AND identities.erased_at IS NULL
RETURNING id, tenant_id, handle, head_seq";

/// `data` travels as a JSON string and `->>` unquotes it, so it is stored exactly as sent.
const INSERT_EVENTS: &str = "
INSERT INTO events (identity_id, seq, id, type, data, created_at)
SELECT value ->> 0, value ->> 1, unhex(value ->> 2), value ->> 3, value ->> 4, ?2
FROM json_each(?1)";

/// An identity as the append found it.
struct Bumped {
    tenant_id: Uuid,
    handle: String,
    base: i64,
}

/// The `INSERT_EVENTS` input: one `[identity, seq, id, type, data]` per event.
fn events_input(
    requests: &[AppendRequest<'_>],
    appended: &[Vec<StoredEvent>],
) -> Result<String, sqlx::Error> {
    let rows: Vec<(i64, i64, String, &str, &str)> = requests
        .iter()
        .zip(appended)
        .flat_map(|(request, events)| {
            events.iter().map(move |event| {
                (
                    request.identity.0,
                    event.seq.0,
                    hex(event.id.as_uuid()),
                    event.event_type.as_str(),
                    event.data.get(),
                )
            })
        })
        .collect();
    json_rows(&rows)
}

/// The head and the page come from one statement, hence one snapshot: the cursor and
/// `hasMore` can never disagree with the events returned.
const READ: &str = "
SELECT identities.head_seq, identities.earliest_seq, page.seq, page.id, page.type, page.data, page.created_at, page.redacted_at
FROM identities
LEFT JOIN events AS page ON page.identity_id = identities.id AND page.seq > ?2 AND page.seq <= ?3
    AND (?4 IS NULL OR page.type IN (SELECT value FROM json_each(?4)))
WHERE identities.id = ?1 AND identities.erased_at IS NULL
ORDER BY page.seq
LIMIT max(?5, 1)";

#[async_trait]
impl EventStore for SqliteStore {
    /// Looks ids up across all logs: a client id is unique service-wide. Events expired or
    /// erased but not yet removed are not found.
    async fn find_events(&self, ids: &[EventId]) -> StoreResult<Vec<(IdentityKey, StoredEvent)>> {
        let rows: Vec<LocatedEventRow> = sqlx::query_as(
            "SELECT e.identity_id, e.seq, e.id, e.type, e.data, e.created_at, e.redacted_at
             FROM events e JOIN identities i ON i.id = e.identity_id
             WHERE e.id IN (SELECT unhex(value) FROM json_each(?1))
               AND i.erased_at IS NULL AND e.seq >= i.earliest_seq",
        )
        .bind(id_list(ids.iter().map(EventId::as_uuid))?)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(LocatedEventRow::located).collect())
    }

    /// One write transaction for any number of requests. The writer pool has one connection,
    /// so nothing else writes between the bump and the commit: seqs are gap-free, and no
    /// reader sees seq N+1 before N. The outbox rows go in the same transaction (`fanout`).
    async fn append_events(
        &self,
        requests: &[AppendRequest<'_>],
        lease: Option<&AppendLease>,
    ) -> StoreResult<AppendedGroup> {
        let mut counts: HashMap<i64, i64> = HashMap::new();
        for request in requests.iter().filter(|request| !request.events.is_empty()) {
            *counts.entry(request.identity.0).or_default() += request.events.len() as i64;
        }
        let counts_input: Vec<(i64, i64)> = counts.iter().map(|(id, n)| (*id, *n)).collect();
        // The API shows milliseconds; storing exactly that makes the append's answer and every
        // later read agree.
        let created_at = Utc::now().trunc_subsecs(3);

        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(BUMP)
            .bind(json_rows(&counts_input)?)
            .bind(to_micros(created_at))
            .fetch_all(&mut *tx)
            .await?;
        let mut bumped: HashMap<i64, Bumped> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let head: i64 = row.try_get("head_seq")?;
            bumped.insert(
                id,
                Bumped {
                    tenant_id: row.try_get("tenant_id")?,
                    handle: row.try_get("handle")?,
                    base: head - counts.get(&id).copied().unwrap_or_default(),
                },
            );
        }

        let mut next: HashMap<i64, i64> = HashMap::with_capacity(bumped.len());
        let mut appended = Vec::with_capacity(requests.len());
        for request in requests {
            let identity = request.identity.0;
            // Erased: the transaction rolls back, and the group commit retries one by one.
            let Some(found) = bumped.get(&identity) else {
                return Err(StoreError::IdentityGone);
            };
            let position = next.entry(identity).or_default();
            let mut events = Vec::with_capacity(request.events.len());
            for event in request.events {
                *position += 1;
                events.push(StoredEvent {
                    id: event.id,
                    seq: Seq(found.base + *position),
                    event_type: event.event_type.as_str().to_owned(),
                    data: event.data.clone(),
                    created_at,
                    redacted_at: None,
                });
            }
            appended.push(events);
        }

        sqlx::query(INSERT_EVENTS)
            .bind(events_input(requests, &appended)?)
            .bind(to_micros(created_at))
            .execute(&mut *tx)
            .await?;

        let logs: Vec<Appended<'_>> = requests
            .iter()
            .zip(&appended)
            .map(|(request, events)| {
                let identity = &bumped[&request.identity.0];
                Appended {
                    identity: request.identity.0,
                    tenant: identity.tenant_id,
                    handle: &identity.handle,
                    events,
                }
            })
            .collect();
        let fanout = fan_out(&mut tx, &logs, lease, created_at).await?;
        tx.commit().await.map_err(StoreError::after_sending)?;
        Ok(AppendedGroup {
            events: appended,
            leased: fanout.leased,
            deliveries_due: fanout.due,
        })
    }

    async fn read_events(&self, request: ReadRequest<'_>) -> StoreResult<Page> {
        let types = request
            .types
            .map(|types| json_rows(&types.iter().map(EventType::as_str).collect::<Vec<_>>()))
            .transpose()?;
        let rows: Vec<PageRow> = sqlx::query_as(READ)
            .bind(request.identity.0)
            .bind(request.since.0)
            .bind(request.scan_end())
            .bind(types)
            .bind(i64::from(request.limit))
            .fetch_all(&self.reader)
            .await?;
        request.page(rows)
    }
}
