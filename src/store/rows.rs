//! Rows as both backends' statements return them: each backend selects these columns under
//! these names, the row types decode them by name, and the conversions here turn them into
//! domain types. A stored value that does not parse fails the read and names its column: no
//! row is skipped, and nothing is parsed again later.

use std::collections::HashMap;

use serde_json::Value;
use serde_json::value::RawValue;
use sqlx::error::BoxDynError;
use sqlx::types::Json;
use sqlx::{ColumnIndex, Decode, FromRow, Row, Type};
use uuid::Uuid;

use super::columns::{TextList, Timestamp};
use super::{Claimed, ClaimedDelivery, CustomEventType, Unsendable};
use crate::domain::cursor::Seq;
use crate::domain::delivery::{Attempt, Delivery, DeliveryStatus};
use crate::domain::event::{EventType, StoredEvent};
use crate::domain::identity::{Identity, IdentityHandle, IdentityKey};
use crate::domain::key::{ApiKey, KeyHash, Scope};
use crate::domain::secret::SigningSecret;
use crate::domain::target::WebhookUrl;
use crate::domain::webhook::{EventFilter, Webhook};
use crate::id::{ApiKeyId, DeliveryId, EventId, TenantId, WebhookId};

/// A stored value parsed into its domain type, or a failed read naming the column.
fn parsed<T, E: Into<BoxDynError>>(column: &str, parsed: Result<T, E>) -> Result<T, sqlx::Error> {
    parsed.map_err(|error| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: error.into(),
    })
}

pub fn handle(column: &str, text: &str) -> Result<IdentityHandle, sqlx::Error> {
    parsed(column, IdentityHandle::parse(text))
}

fn count(column: &str, stored: i32) -> Result<u32, sqlx::Error> {
    parsed(column, u32::try_from(stored))
}

/// A stored webhook URL. It was screened when registered; the sender screens the address
/// it resolves to on every connect.
fn webhook_url(text: &str) -> Result<WebhookUrl, sqlx::Error> {
    parsed("url", reqwest::Url::parse(text)).map(WebhookUrl::trusted)
}

/// Stored signing secrets, in the order read.
pub fn signing_secrets(texts: &[String]) -> Result<Vec<SigningSecret>, sqlx::Error> {
    texts
        .iter()
        .map(|text| parsed("secret", SigningSecret::parse(text)))
        .collect()
}

#[derive(FromRow)]
pub struct EventRow {
    #[sqlx(try_from = "Uuid")]
    id: EventId,
    seq: i64,
    #[sqlx(rename = "type")]
    event_type: String,
    data: Json<Box<RawValue>>,
    created_at: Timestamp,
}

impl From<EventRow> for StoredEvent {
    fn from(row: EventRow) -> Self {
        StoredEvent {
            id: row.id,
            seq: Seq(row.seq),
            event_type: row.event_type,
            data: row.data.0,
            created_at: row.created_at.0,
        }
    }
}

/// An event and the log it is in.
#[derive(FromRow)]
pub struct LocatedEventRow {
    identity_id: i64,
    #[sqlx(flatten)]
    event: EventRow,
}

impl LocatedEventRow {
    pub fn located(self) -> (IdentityKey, StoredEvent) {
        (IdentityKey(self.identity_id), self.event.into())
    }
}

/// One row of a page read: the log's head, and an event unless the page is empty (the
/// event's columns are then NULL).
pub struct PageRow {
    pub head_seq: i64,
    pub event: Option<EventRow>,
}

impl<'r, R: Row> FromRow<'r, R> for PageRow
where
    &'r str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    EventRow: FromRow<'r, R>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let seq: Option<i64> = row.try_get("seq")?;
        Ok(PageRow {
            head_seq: row.try_get("head_seq")?,
            event: seq.map(|_| EventRow::from_row(row)).transpose()?,
        })
    }
}

#[derive(FromRow)]
pub struct IdentityRow {
    id: i64,
    handle: String,
    head_seq: i64,
    created_at: Timestamp,
}

impl IdentityRow {
    pub const COLUMNS: &str = "id, handle, head_seq, created_at";
}

impl TryFrom<IdentityRow> for Identity {
    type Error = sqlx::Error;

    fn try_from(row: IdentityRow) -> Result<Self, Self::Error> {
        Ok(Identity {
            key: IdentityKey(row.id),
            handle: handle("handle", &row.handle)?,
            head_seq: Seq(row.head_seq),
            created_at: row.created_at.0,
        })
    }
}

#[derive(FromRow)]
pub struct ApiKeyRow {
    #[sqlx(try_from = "Uuid")]
    id: ApiKeyId,
    #[sqlx(try_from = "Uuid")]
    tenant_id: TenantId,
    name: Option<String>,
    key_hash: Vec<u8>,
    scopes: TextList,
    identity: Option<String>,
    created_at: Timestamp,
}

impl ApiKeyRow {
    pub const COLUMNS: &str = "id, tenant_id, name, key_hash, scopes, identity, created_at";

    pub fn into_key(self) -> Result<(ApiKey, KeyHash), sqlx::Error> {
        let hash = parsed(
            "key_hash",
            <[u8; 32]>::try_from(self.key_hash).map_err(|_| "a key hash is 32 bytes"),
        )?;
        let scopes = self
            .scopes
            .0
            .iter()
            .map(|scope| parsed("scopes", Scope::parse(scope).ok_or("an unknown scope")))
            .collect::<Result<_, _>>()?;
        let key = ApiKey {
            id: self.id,
            tenant_id: self.tenant_id,
            name: self.name,
            scopes,
            identity: self
                .identity
                .map(|text| handle("identity", &text))
                .transpose()?,
            created_at: self.created_at.0,
        };
        Ok((key, KeyHash(hash)))
    }
}

/// A key's scopes, as stored.
pub fn scopes(key: &ApiKey) -> TextList {
    TextList(
        key.scopes
            .iter()
            .map(|scope| scope.as_str().to_owned())
            .collect(),
    )
}

#[derive(FromRow)]
pub struct EventTypeRow {
    name: String,
    description: String,
    schema: Json<Value>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl EventTypeRow {
    pub const COLUMNS: &str = "name, description, schema, created_at, updated_at";
}

impl TryFrom<EventTypeRow> for CustomEventType {
    type Error = sqlx::Error;

    fn try_from(row: EventTypeRow) -> Result<Self, Self::Error> {
        Ok(CustomEventType {
            name: parsed("name", EventType::parse(&row.name))?,
            description: row.description,
            schema: row.schema.0,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        })
    }
}

#[derive(FromRow)]
pub struct WebhookRow {
    #[sqlx(try_from = "Uuid")]
    id: WebhookId,
    #[sqlx(try_from = "Uuid")]
    tenant_id: TenantId,
    url: String,
    event_names: Option<TextList>,
    event_prefixes: Option<TextList>,
    identities: Option<TextList>,
    description: String,
    ordered: bool,
    rate_limit: Option<i32>,
    active: bool,
    disabled_reason: Option<String>,
    created_at: Timestamp,
}

impl WebhookRow {
    pub const COLUMNS: &str = "id, tenant_id, url, event_names, event_prefixes, identities, \
                               description, ordered, rate_limit, active, disabled_reason, created_at";
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = sqlx::Error;

    fn try_from(row: WebhookRow) -> Result<Self, Self::Error> {
        Ok(Webhook {
            id: row.id,
            tenant_id: row.tenant_id,
            url: webhook_url(&row.url)?,
            events: EventFilter {
                names: row.event_names.map(|list| list.0),
                prefixes: row.event_prefixes.map(|list| list.0),
            },
            identities: row
                .identities
                .map(|list| {
                    list.0
                        .iter()
                        .map(|text| handle("identities", text))
                        .collect()
                })
                .transpose()?,
            description: row.description,
            ordered: row.ordered,
            rate_limit: row
                .rate_limit
                .map(|limit| count("rate_limit", limit))
                .transpose()?,
            active: row.active,
            disabled_reason: row.disabled_reason,
            created_at: row.created_at.0,
        })
    }
}

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
    secrets: TextList,
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
            },
            secrets: signing_secrets(&row.secrets.0)?,
        })
    }
}

/// What sending to a webhook takes, as an append that leases its deliveries reads it.
pub struct Destination {
    pub url: WebhookUrl,
    pub rate_limit: Option<u32>,
    pub secrets: Vec<SigningSecret>,
}

impl Destination {
    pub fn parse(
        url: &str,
        rate_limit: Option<i32>,
        secrets: &[String],
    ) -> Result<Self, sqlx::Error> {
        Ok(Destination {
            url: webhook_url(url)?,
            rate_limit: rate_limit
                .map(|limit| count("rate_limit", limit))
                .transpose()?,
            secrets: signing_secrets(secrets)?,
        })
    }
}
