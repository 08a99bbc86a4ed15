//! An append's outbox rows, written in its transaction: one delivery per event and per
//! webhook of the identity's tenant whose filters take it (inactive webhooks too: their
//! rows are held), so an acknowledged event never misses a webhook. Within the lease's
//! limits (`AppendLease`) a delivery is written already leased, attempt 1 under way, and
//! comes back with what sending it takes; the rest are due at once. Matching runs here, in
//! Rust, which also makes the delivery ids here, like every other id.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{FromRow, SqliteConnection};
use uuid::Uuid;

use super::encoding::{hex, id_list, json_rows, to_micros};
use crate::domain::event::StoredEvent;
use crate::domain::identity::IdentityHandle;
use crate::domain::webhook::EventFilter;
use crate::id::{DeliveryId, WebhookId};
use crate::store::columns::{TextList, Timestamp};
use crate::store::rows::{Destination, handle};
use crate::store::{AppendLease, ClaimedDelivery, StoreResult};

/// Outbox rows as `[id, webhook, identity, seq, event, next_attempt_at, attempts]`, made at
/// `?2`.
pub(super) const INSERT_DELIVERIES: &str = "
INSERT INTO deliveries (id, webhook_id, identity_id, seq, event_id, created_at, next_attempt_at, attempts)
SELECT unhex(value ->> 0), unhex(value ->> 1), value ->> 2, value ->> 3, unhex(value ->> 4), ?2,
       value ->> 5, value ->> 6
FROM json_each(?1)";

/// One input row of `INSERT_DELIVERIES`.
pub(super) type DeliveryInput = (String, String, i64, i64, String, i64, u32);

/// The events one identity's log just took.
pub(super) struct Appended<'a> {
    pub identity: i64,
    pub tenant: Uuid,
    pub handle: &'a str,
    pub events: &'a [StoredEvent],
}

/// What the outbox took: the deliveries written leased, and whether any was written due.
pub(super) struct Fanout {
    pub leased: Vec<ClaimedDelivery>,
    pub due: bool,
}

#[derive(FromRow)]
struct SubscriberRow {
    id: Uuid,
    tenant_id: Uuid,
    event_names: Option<TextList>,
    event_prefixes: Option<TextList>,
    identities: Option<TextList>,
    url: String,
    rate_limit: Option<i32>,
    active: bool,
    ordered: bool,
    signature_dialect: Option<String>,
}

/// A webhook as the append matches events against it.
struct Subscriber {
    id: Uuid,
    tenant: Uuid,
    events: EventFilter,
    identities: Option<Vec<String>>,
    url: String,
    rate_limit: Option<i32>,
    signature_dialect: Option<String>,
    leasable: bool,
}

impl From<SubscriberRow> for Subscriber {
    fn from(row: SubscriberRow) -> Self {
        Subscriber {
            id: row.id,
            tenant: row.tenant_id,
            events: EventFilter {
                names: row.event_names.map(|list| list.0),
                prefixes: row.event_prefixes.map(|list| list.0),
            },
            identities: row.identities.map(|list| list.0),
            url: row.url,
            rate_limit: row.rate_limit,
            signature_dialect: row.signature_dialect,
            leasable: row.active && !row.ordered,
        }
    }
}

impl Subscriber {
    fn takes(&self, log: &Appended<'_>, event: &StoredEvent) -> bool {
        log.tenant == self.tenant
            && self
                .identities
                .as_ref()
                .is_none_or(|handles| handles.iter().any(|handle| handle == log.handle))
            && self.events.matches(&event.event_type)
    }
}

/// A delivery to write: webhook `webhook` (an index into the subscribers) for `event`.
struct Match<'a> {
    webhook: usize,
    log: &'a Appended<'a>,
    /// The log's handle, if it reads back: a delivery is leased only with it.
    identity: Option<&'a IdentityHandle>,
    event: &'a StoredEvent,
    leased: bool,
}

pub(super) async fn fan_out(
    tx: &mut SqliteConnection,
    logs: &[Appended<'_>],
    lease: Option<&AppendLease>,
    created_at: DateTime<Utc>,
) -> StoreResult<Fanout> {
    let subscribers = subscribers(tx, logs).await?;
    let identities: Vec<Option<IdentityHandle>> = logs
        .iter()
        .map(|log| handle("handle", log.handle).ok())
        .collect();
    let mut matches = Vec::new();
    for (log, identity) in logs.iter().zip(&identities) {
        for event in log.events {
            for (webhook, subscriber) in subscribers.iter().enumerate() {
                if subscriber.takes(log, event) {
                    matches.push(Match {
                        webhook,
                        log,
                        identity: identity.as_ref(),
                        event,
                        leased: false,
                    });
                }
            }
        }
    }
    let mut destinations = HashMap::new();
    if let Some(lease) = lease {
        choose_leased(&mut matches, &subscribers, lease);
        destinations = read_destinations(tx, &matches, &subscribers, lease.now).await?;
    }

    let mut rows: Vec<DeliveryInput> = Vec::with_capacity(matches.len());
    let mut leased = Vec::new();
    for found in &matches {
        let subscriber = &subscribers[found.webhook];
        let id = DeliveryId::generate();
        let sending = found
            .leased
            .then(|| destinations.get(&found.webhook))
            .flatten()
            .zip(found.identity)
            .zip(lease);
        let (next_attempt_at, attempts) = match sending {
            Some(((to, identity), lease)) => {
                leased.push(ClaimedDelivery {
                    id,
                    webhook_id: WebhookId::from_uuid(subscriber.id),
                    url: to.url.clone(),
                    attempt: 1,
                    rate_limit: to.rate_limit,
                    ordered: false,
                    identity: identity.clone(),
                    event: found.event.clone(),
                    secrets: to.secrets.clone(),
                    dialect: std::sync::Arc::clone(&to.dialect),
                });
                (lease.until, 1)
            }
            None => (created_at, 0),
        };
        rows.push((
            hex(id.as_uuid()),
            hex(subscriber.id),
            found.log.identity,
            found.event.seq.0,
            hex(found.event.id.as_uuid()),
            to_micros(next_attempt_at),
            attempts,
        ));
    }
    if !rows.is_empty() {
        sqlx::query(INSERT_DELIVERIES)
            .bind(json_rows(&rows)?)
            .bind(Timestamp(created_at))
            .execute(&mut *tx)
            .await?;
    }
    Ok(Fanout {
        due: rows.len() > leased.len(),
        leased,
    })
}

/// Every webhook of the tenants owning these logs.
async fn subscribers(
    tx: &mut SqliteConnection,
    logs: &[Appended<'_>],
) -> StoreResult<Vec<Subscriber>> {
    let tenants: HashSet<Uuid> = logs.iter().map(|log| log.tenant).collect();
    let rows: Vec<SubscriberRow> = sqlx::query_as(
        "SELECT id, tenant_id, event_names, event_prefixes, identities, url, rate_limit, active,
                ordered, signature_dialect
         FROM webhooks WHERE tenant_id IN (SELECT unhex(value) FROM json_each(?1))",
    )
    .bind(id_list(tenants)?)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(Subscriber::from).collect())
}

/// Marks the deliveries written leased: those of active, unordered webhooks, at most the
/// webhook's room of each, and `budget` in all, taken by webhook, identity and seq (as the
/// PostgreSQL statement does).
fn choose_leased(matches: &mut [Match<'_>], subscribers: &[Subscriber], lease: &AppendLease) {
    let mut leasable: Vec<usize> = (0..matches.len())
        .filter(|&i| subscribers[matches[i].webhook].leasable && matches[i].identity.is_some())
        .collect();
    leasable.sort_by_key(|&i| {
        let found = &matches[i];
        (
            subscribers[found.webhook].id,
            found.log.identity,
            found.event.seq,
        )
    });
    let mut taken: HashMap<usize, u32> = HashMap::new();
    let mut budget = lease.budget;
    for i in leasable {
        let webhook = matches[i].webhook;
        let id = subscribers[webhook].id;
        let room = lease
            .room
            .iter()
            .find(|(leased, _)| leased.as_uuid() == id)
            .map_or(lease.default_room, |(_, room)| *room);
        let taken = taken.entry(webhook).or_default();
        if *taken < room && budget > 0 {
            *taken += 1;
            budget -= 1;
            matches[i].leased = true;
        }
    }
}

/// What sending to each webhook with a leased delivery takes, by subscriber index. A
/// webhook that does not read back gets none: its deliveries are written due, and the
/// claim that takes them records why they cannot be sent.
async fn read_destinations(
    tx: &mut SqliteConnection,
    matches: &[Match<'_>],
    subscribers: &[Subscriber],
    now: DateTime<Utc>,
) -> StoreResult<HashMap<usize, Destination>> {
    let webhooks: HashSet<usize> = matches
        .iter()
        .filter(|found| found.leased)
        .map(|found| found.webhook)
        .collect();
    if webhooks.is_empty() {
        return Ok(HashMap::new());
    }
    let secrets: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT webhook_id, secret FROM webhook_secrets
         WHERE webhook_id IN (SELECT unhex(value) FROM json_each(?1))
           AND (expires_at IS NULL OR expires_at > ?2)
         ORDER BY webhook_id, created_at DESC",
    )
    .bind(id_list(webhooks.iter().map(|&i| subscribers[i].id))?)
    .bind(Timestamp(now))
    .fetch_all(&mut *tx)
    .await?;
    let mut by_webhook: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (webhook, secret) in secrets {
        by_webhook.entry(webhook).or_default().push(secret);
    }
    let mut destinations = HashMap::with_capacity(webhooks.len());
    for i in webhooks {
        let subscriber = &subscribers[i];
        let secrets = by_webhook.remove(&subscriber.id).unwrap_or_default();
        match Destination::parse(
            &subscriber.url,
            subscriber.rate_limit,
            &secrets,
            subscriber.signature_dialect.as_deref(),
        ) {
            Ok(to) => {
                destinations.insert(i, to);
            }
            Err(error) => {
                tracing::error!(%error, webhook = %WebhookId::from_uuid(subscriber.id), "a webhook does not read back; its deliveries are written due");
            }
        }
    }
    Ok(destinations)
}
