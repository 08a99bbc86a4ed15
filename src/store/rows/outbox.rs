//! The outbox's rows: deliveries as the delivery log shows them, their attempts, and the
//! deliveries a claim or an append leases, with what sending them takes.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::value::RawValue;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{count, dialect, handle, parsed, signing_secrets, webhook_url};
use crate::domain::cursor::Seq;
use crate::domain::delivery::{Attempt, Delivery, DeliveryStatus};
use crate::domain::dialect::SignatureDialect;
use crate::domain::event::StoredEvent;
use crate::domain::secret::SigningSecret;
use crate::domain::target::WebhookUrl;
use crate::id::{DeliveryId, EventId, WebhookId};
use crate::store::columns::{TextList, Timestamp};
use crate::store::{Claimed, ClaimedDelivery, Unsendable};

/// A delivery as the delivery log shows it, before its attempts are attached.
#[derive(FromRow)]
pub struct DeliveryRow {
    #[sqlx(try_from = "Uuid")]
    id: DeliveryId,
    #[sqlx(try_from = "Uuid")]
    webhook_id: WebhookId,
    #[sqlx(try_from = "Uuid")]
    event_id: EventId,
    handle: String,
    seq: i64,
    status: String,
    next_attempt_at: Option<Timestamp>,
    created_at: Timestamp,
}

impl DeliveryRow {
    /// Selected from `deliveries d JOIN identities i`.
    pub const COLUMNS: &str = "d.id, d.webhook_id, d.event_id, i.handle, d.seq, d.status, d.next_attempt_at, d.created_at";

    pub fn id(&self) -> DeliveryId {
        self.id
    }
}

#[derive(FromRow)]
pub struct AttemptRow {
    #[sqlx(try_from = "Uuid")]
    delivery_id: DeliveryId,
    at: Timestamp,
    duration_ms: i32,
    status_code: Option<i32>,
    error: Option<String>,
    response_body: Option<String>,
}

impl AttemptRow {
    pub const COLUMNS: &str = "delivery_id, at, duration_ms, status_code, error, response_body";
}

/// Deliveries with their attempts, which come from a second query, in attempt order.
pub fn deliveries(
    rows: Vec<DeliveryRow>,
    attempts: Vec<AttemptRow>,
) -> Result<Vec<Delivery>, sqlx::Error> {
    let mut by_delivery: HashMap<DeliveryId, Vec<Attempt>> = HashMap::new();
    for attempt in attempts {
        by_delivery
            .entry(attempt.delivery_id)
            .or_default()
            .push(Attempt {
                at: attempt.at.0,
                duration_ms: count("duration_ms", attempt.duration_ms)?,
                status_code: attempt
                    .status_code
                    .map(|code| parsed("status_code", u16::try_from(code)))
                    .transpose()?,
                error: attempt.error,
                response_body: attempt.response_body,
            });
    }
    rows.into_iter()
        .map(|row| {
            Ok(Delivery {
                id: row.id,
                webhook_id: row.webhook_id,
                event_id: row.event_id,
                identity: handle("handle", &row.handle)?,
                seq: Seq(row.seq),
                status: parsed(
                    "status",
                    DeliveryStatus::parse(&row.status).ok_or("an unknown delivery status"),
                )?,
                attempts: by_delivery.remove(&row.id).unwrap_or_default(),
                next_attempt_at: row.next_attempt_at.map(|at| at.0),
                created_at: row.created_at.0,
            })
        })
        .collect()
}

/// A claimed delivery with its webhook's sending settings and its event.
#[derive(FromRow)]
pub struct ClaimedRow {
    #[sqlx(try_from = "Uuid")]
    id: DeliveryId,
    #[sqlx(try_from = "Uuid")]
    webhook_id: WebhookId,
    attempts: i32,
    url: String,
    rate_limit: Option<i32>,
    ordered: bool,
    handle: String,
    #[sqlx(try_from = "Uuid")]
    event_id: EventId,
    seq: i64,
    #[sqlx(rename = "type")]
    event_type: String,
    data: Json<Box<RawValue>>,
    created_at: Timestamp,
    redacted_at: Option<Timestamp>,
    secrets: TextList,
    signature_dialect: Option<String>,
}

impl ClaimedRow {
    /// The claimed deliveries ready to send, and those whose webhook does not read back.
    pub fn claimed(rows: Vec<ClaimedRow>) -> Claimed {
        let mut claimed = Claimed::default();
        for row in rows {
            let (id, webhook_id, attempts) = (row.id, row.webhook_id, row.attempts);
            match ClaimedDelivery::try_from(row) {
                Ok(delivery) => claimed.deliveries.push(delivery),
                Err(error) => {
                    tracing::error!(%error, delivery = %id, webhook = %webhook_id, "a claimed delivery's webhook does not read back");
                    claimed.unsendable.push(Unsendable {
                        id,
                        webhook_id,
                        attempt: u32::try_from(attempts).unwrap_or(1),
                        reason: format!("the webhook as stored cannot be sent to: {error}"),
                    });
                }
            }
        }
        claimed
    }
}

impl TryFrom<ClaimedRow> for ClaimedDelivery {
    type Error = sqlx::Error;

    fn try_from(row: ClaimedRow) -> Result<Self, Self::Error> {
        Ok(ClaimedDelivery {
            id: row.id,
            webhook_id: row.webhook_id,
            url: webhook_url(&row.url)?,
            attempt: count("attempts", row.attempts)?,
            rate_limit: row
                .rate_limit
                .map(|limit| count("rate_limit", limit))
                .transpose()?,
            ordered: row.ordered,
            identity: handle("handle", &row.handle)?,
            event: StoredEvent {
                id: row.event_id,
                seq: Seq(row.seq),
                event_type: row.event_type,
                data: row.data.0,
                created_at: row.created_at.0,
                redacted_at: row.redacted_at.map(|at| at.0),
            },
            secrets: signing_secrets(&row.secrets.0)?,
            dialect: dialect(row.signature_dialect.as_deref())?,
        })
    }
}

/// What sending to a webhook takes, as an append that leases its deliveries reads it.
pub struct Destination {
    pub url: WebhookUrl,
    pub rate_limit: Option<u32>,
    pub secrets: Vec<SigningSecret>,
    pub dialect: Arc<SignatureDialect>,
}

impl Destination {
    pub fn parse(
        url: &str,
        rate_limit: Option<i32>,
        secrets: &[String],
        signature_dialect: Option<&str>,
    ) -> Result<Self, sqlx::Error> {
        Ok(Destination {
            url: webhook_url(url)?,
            rate_limit: rate_limit
                .map(|limit| count("rate_limit", limit))
                .transpose()?,
            secrets: signing_secrets(secrets)?,
            dialect: dialect(signature_dialect)?,
        })
    }
}
