//! The log itself: appending (counter bump, event rows and outbox rows, one transaction on
//! the writer) and reading pages.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{SubsecRound, Utc};
use serde_json::value::RawValue;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::SqliteStore;
use super::encoding::{hex, id_list, json_rows, optional_text_list, timestamp, to_micros};
use crate::domain::cursor::Seq;
use crate::domain::event::{EventType, StoredEvent};
use crate::domain::identity::IdentityKey;
use crate::domain::page::Page;
use crate::domain::webhook::EventFilter;
use crate::id::{DeliveryId, EventId};
use crate::store::{
    AppendLease, AppendRequest, AppendedGroup, EventStore, ReadRequest, StoreError, StoreResult,
};

/// Moves each head once by its identity's event count. RETURNING sees the new head; the
/// old one, the base of this group's seqs, is that minus the count.
const BUMP: &str = "
UPDATE identities SET head_seq = head_seq + counts.n
FROM (SELECT value ->> 0 AS identity_id, value ->> 1 AS n FROM json_each(?1)) AS counts
WHERE identities.id = counts.identity_id
RETURNING id, tenant_id, handle, head_seq";

/// `data` travels as a JSON string and `->>` unquotes it, so it is stored exactly as sent.
const INSERT_EVENTS: &str = "
INSERT INTO events (identity_id, seq, id, type, data, created_at)
SELECT value ->> 0, value ->> 1, unhex(value ->> 2), value ->> 3, value ->> 4, ?2
FROM json_each(?1)";

pub(super) const INSERT_DELIVERIES: &str = "
INSERT INTO deliveries (id, webhook_id, identity_id, seq, event_id, created_at, next_attempt_at)
SELECT unhex(value ->> 0), unhex(value ->> 1), value ->> 2, value ->> 3, unhex(value ->> 4), ?2, ?2
FROM json_each(?1)";

/// An identity as the append found it.
struct Bumped {
    tenant_id: Uuid,
    handle: String,
    base: i64,
}

/// A webhook as the append matches events against it.
struct Subscriber {
    id: Uuid,
    events: EventFilter,
    identities: Option<Vec<String>>,
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

/// Every webhook of the tenants owning these identities, by tenant. Matching in Rust lets
/// the delivery ids be made here, like every other id.
async fn tenant_webhooks(
    tx: &mut SqliteConnection,
    identities: &HashMap<i64, Bumped>,
) -> StoreResult<HashMap<Uuid, Vec<Subscriber>>> {
    let tenants: HashSet<Uuid> = identities
        .values()
        .map(|identity| identity.tenant_id)
        .collect();
    let rows = sqlx::query(
        "SELECT id, tenant_id, event_names, event_prefixes, identities FROM webhooks
         WHERE tenant_id IN (SELECT unhex(value) FROM json_each(?1))",
    )
    .bind(id_list(tenants)?)
    .fetch_all(&mut *tx)
    .await?;
    let mut subscribers: HashMap<Uuid, Vec<Subscriber>> = HashMap::new();
    for row in &rows {
        subscribers
            .entry(row.try_get("tenant_id")?)
            .or_default()
            .push(Subscriber {
                id: row.try_get("id")?,
                events: EventFilter {
                    names: optional_text_list(row, "event_names")?,
                    prefixes: optional_text_list(row, "event_prefixes")?,
                },
                identities: optional_text_list(row, "identities")?,
            });
    }
    Ok(subscribers)
}

/// The head and the page come from one statement, hence one snapshot: the cursor and
/// `hasMore` can never disagree with the events returned.
const READ: &str = "
SELECT identities.head_seq, page.seq, page.id, page.type, page.data, page.created_at
FROM identities
LEFT JOIN events AS page ON page.identity_id = identities.id AND page.seq > ?2 AND page.seq <= ?3
    AND (?4 IS NULL OR page.type IN (SELECT value FROM json_each(?4)))
WHERE identities.id = ?1
ORDER BY page.seq
LIMIT max(?5, 1)";

#[async_trait]
impl EventStore for SqliteStore {
    /// Looks ids up across all logs: a client id is unique service-wide.
    async fn find_events(&self, ids: &[EventId]) -> StoreResult<Vec<(IdentityKey, StoredEvent)>> {
        let rows = sqlx::query(
            "SELECT identity_id, seq, id, type, data, created_at FROM events
             WHERE id IN (SELECT unhex(value) FROM json_each(?1))",
        )
        .bind(id_list(ids.iter().map(EventId::as_uuid))?)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    IdentityKey(row.try_get("identity_id")?),
                    event_from_row(row)?,
                ))
            })
            .collect()
    }

    /// One write transaction for any number of requests. The writer pool has one connection,
    /// so nothing else writes between the bump and the commit: seqs are gap-free, and no
    /// reader sees seq N+1 before N. Outbox rows go in the same transaction, one per matching
    /// webhook (inactive ones too: their rows are held), so an acknowledged event never misses
    /// a webhook.
    async fn append_events(
        &self,
        requests: &[AppendRequest<'_>],
        // Not honoured: every delivery is written due (see `honours_append_leases`).
        _lease: Option<&AppendLease>,
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
            let Some(found) = bumped.get(&identity) else {
                return Err(sqlx::Error::RowNotFound.into()); // the identity vanished; identities are never deleted
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
                });
            }
            appended.push(events);
        }

        sqlx::query(INSERT_EVENTS)
            .bind(events_input(requests, &appended)?)
            .bind(to_micros(created_at))
            .execute(&mut *tx)
            .await?;

        let subscribers = tenant_webhooks(&mut tx, &bumped).await?;
        let mut outbox: Vec<(String, String, i64, i64, String)> = Vec::new();
        for (request, events) in requests.iter().zip(&appended) {
            let identity = &bumped[&request.identity.0];
            let Some(webhooks) = subscribers.get(&identity.tenant_id) else {
                continue;
            };
            for event in events {
                for webhook in webhooks {
                    let wants_identity = webhook
                        .identities
                        .as_ref()
                        .is_none_or(|handles| handles.contains(&identity.handle));
                    if wants_identity && webhook.events.matches(&event.event_type) {
                        outbox.push((
                            hex(DeliveryId::generate().as_uuid()),
                            hex(webhook.id),
                            request.identity.0,
                            event.seq.0,
                            hex(event.id.as_uuid()),
                        ));
                    }
                }
            }
        }
        if !outbox.is_empty() {
            sqlx::query(INSERT_DELIVERIES)
                .bind(json_rows(&outbox)?)
                .bind(to_micros(created_at))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await.map_err(StoreError::after_sending)?;
        Ok(AppendedGroup {
            events: appended,
            leased: Vec::new(),
            deliveries_due: !outbox.is_empty(),
        })
    }

    async fn read_events(&self, request: ReadRequest<'_>) -> StoreResult<Page> {
        let scan_end = request.since.0.saturating_add(request.scan_window);
        let types = request
            .types
            .map(|types| json_rows(&types.iter().map(EventType::as_str).collect::<Vec<_>>()))
            .transpose()?;
        let rows = sqlx::query(READ)
            .bind(request.identity.0)
            .bind(request.since.0)
            .bind(scan_end)
            .bind(types)
            .bind(i64::from(request.limit))
            .fetch_all(&self.reader)
            .await?;
        let head = match rows.first() {
            Some(row) => Seq(row.try_get("head_seq")?),
            None => return Err(sqlx::Error::RowNotFound.into()),
        };
        let mut events = Vec::with_capacity(rows.len());
        // One row comes even for a limit of 0, as it carries the head.
        for row in rows.iter().take(request.limit as usize) {
            if row.try_get::<Option<i64>, _>("seq")?.is_none() {
                continue; // the LEFT JOIN's empty page
            }
            events.push(event_from_row(row)?);
        }
        // A full page stops at its last event; a short one examined everything up to the head
        // or the end of the scan window, whichever came first.
        let cursor = match events.last() {
            Some(last) if events.len() == request.limit as usize => last.seq,
            _ => Seq(head.0.min(scan_end).max(request.since.0)),
        };
        Ok(Page {
            events,
            cursor,
            head,
        })
    }
}

fn event_from_row(row: &SqliteRow) -> StoreResult<StoredEvent> {
    Ok(StoredEvent {
        id: EventId::from_uuid(row.try_get("id")?),
        seq: Seq(row.try_get("seq")?),
        event_type: row.try_get("type")?,
        data: row.try_get::<Json<Box<RawValue>>, _>("data")?.0,
        created_at: timestamp(row, "created_at")?,
    })
}
