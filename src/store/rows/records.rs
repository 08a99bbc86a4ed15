//! The records' rows: identities, API keys, event types, webhooks.

use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{count, handle, parsed, webhook_url};
use crate::domain::cursor::Seq;
use crate::domain::dialect::SignatureDialect;
use crate::domain::event::EventType;
use crate::domain::identity::{Identity, IdentityKey};
use crate::domain::key::{ApiKey, KeyHash, Scope};
use crate::domain::retention::Retention;
use crate::domain::webhook::{EventFilter, Webhook};
use crate::id::{ApiKeyId, TenantId, WebhookId};
use crate::store::CustomEventType;
use crate::store::columns::{TextList, Timestamp};

#[derive(FromRow)]
pub struct IdentityRow {
    id: i64,
    handle: String,
    head_seq: i64,
    earliest_seq: i64,
    created_at: Timestamp,
    /// Read where the log is shown (`SHOWN`); absent where a row is written and returned.
    #[sqlx(default)]
    last_event_at: Option<Timestamp>,
}

impl IdentityRow {
    pub const COLUMNS: &str = "id, handle, head_seq, earliest_seq, created_at";
    /// `COLUMNS`, and when the head event was appended (by its primary key; none once it
    /// expired or was erased), from `identities` unaliased.
    pub const SHOWN: &str = "id, handle, head_seq, earliest_seq, created_at, \
        (SELECT e.created_at FROM events e \
         WHERE e.identity_id = identities.id AND e.seq = identities.head_seq) AS last_event_at";
}

impl TryFrom<IdentityRow> for Identity {
    type Error = sqlx::Error;

    fn try_from(row: IdentityRow) -> Result<Self, Self::Error> {
        Ok(Identity {
            key: IdentityKey(row.id),
            handle: handle("handle", &row.handle)?,
            head_seq: Seq(row.head_seq),
            earliest_seq: Seq(row.earliest_seq),
            created_at: row.created_at.0,
            last_event_at: row.last_event_at.map(|at| at.0),
        })
    }
}

/// A tenant's own retention: seconds, 0 for forever, NULL for the server's default.
#[derive(FromRow)]
pub struct TenantRetentionRow {
    #[sqlx(try_from = "Uuid")]
    id: TenantId,
    retention_secs: Option<i64>,
}

impl TenantRetentionRow {
    pub fn retention(self) -> (TenantId, Option<Retention>) {
        let retention = self
            .retention_secs
            .map(|secs| Retention::from_secs(secs.max(0) as u64));
        (self.id, retention)
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
    signature_dialect: Option<String>,
}

impl WebhookRow {
    pub const COLUMNS: &str = "id, tenant_id, url, event_names, event_prefixes, identities, \
                               description, ordered, rate_limit, active, disabled_reason, created_at, \
                               signature_dialect";
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
            dialect: match row.signature_dialect {
                Some(text) => parsed("signature_dialect", SignatureDialect::from_stored(&text))?,
                None => SignatureDialect::standard_webhooks(),
            },
            active: row.active,
            disabled_reason: row.disabled_reason,
            created_at: row.created_at.0,
        })
    }
}
