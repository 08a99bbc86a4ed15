//! The store's contract for webhooks and their signing secrets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, QueryBuilder, Type};

use super::StoreResult;
use super::columns::{TextList, Timestamp};
use crate::domain::identity::IdentityHandle;
use crate::domain::secret::SigningSecret;
use crate::domain::target::WebhookUrl;
use crate::domain::webhook::{EventFilter, Webhook};
use crate::id::{TenantId, WebhookId};

/// The fields a `PATCH` changes; `None` leaves one as it is.
#[derive(Default)]
pub struct WebhookPatch {
    pub url: Option<WebhookUrl>,
    pub events: Option<EventFilter>,
    pub identities: Option<Option<Vec<IdentityHandle>>>,
    pub description: Option<String>,
    pub ordered: Option<bool>,
    pub rate_limit: Option<Option<u32>>,
    /// The dialect as stored: `Some(None)` is the default.
    pub signature_dialect: Option<Option<String>>,
    pub active: Option<bool>,
}

impl WebhookPatch {
    /// An update's SET list, the same on both backends: each field the patch carries, what
    /// switching `active` means for the reason and the failure streak, and `updated_at`.
    pub(super) fn push_assignments<'a, DB>(
        &'a self,
        query: &mut QueryBuilder<'a, DB>,
        now: Timestamp,
    ) where
        DB: Database,
        &'a str: Encode<'a, DB> + Type<DB>,
        bool: Encode<'a, DB> + Type<DB>,
        Option<i32>: Encode<'a, DB> + Type<DB>,
        Option<TextList>: Encode<'a, DB> + Type<DB>,
        Option<&'a str>: Encode<'a, DB> + Type<DB>,
        Timestamp: Encode<'a, DB> + Type<DB>,
    {
        let mut set = query.separated(", ");
        if let Some(url) = &self.url {
            set.push("url = ").push_bind_unseparated(url.as_str());
        }
        if let Some(events) = &self.events {
            let names = events.names.as_ref().map(|names| TextList(names.clone()));
            let prefixes = events
                .prefixes
                .as_ref()
                .map(|prefixes| TextList(prefixes.clone()));
            set.push("event_names = ").push_bind_unseparated(names);
            set.push("event_prefixes = ")
                .push_bind_unseparated(prefixes);
        }
        if let Some(identities) = &self.identities {
            let handles = identities.as_deref().map(TextList::handles);
            set.push("identities = ").push_bind_unseparated(handles);
        }
        if let Some(description) = &self.description {
            set.push("description = ")
                .push_bind_unseparated(description.as_str());
        }
        if let Some(ordered) = self.ordered {
            set.push("ordered = ").push_bind_unseparated(ordered);
        }
        if let Some(rate_limit) = self.rate_limit {
            // At most `webhooks::rules::MAX_RATE_LIMIT`, checked before it gets here.
            let rate_limit = rate_limit.map(|limit| i32::try_from(limit).unwrap_or(i32::MAX));
            set.push("rate_limit = ").push_bind_unseparated(rate_limit);
        }
        if let Some(stored) = &self.signature_dialect {
            set.push("signature_dialect = ")
                .push_bind_unseparated(stored.as_deref());
        }
        match self.active {
            Some(true) => {
                set.push("active = ").push_bind_unseparated(true);
                set.push("disabled_reason = NULL");
                set.push("failing_since = NULL");
            }
            Some(false) => {
                set.push("active = ").push_bind_unseparated(false);
                set.push("disabled_reason = 'disabled through the API'");
            }
            None => {}
        }
        set.push("updated_at = ").push_bind_unseparated(now);
    }
}

/// Webhooks, each with its current and retiring secrets.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(&self, webhook: &Webhook, secret: &SigningSecret) -> StoreResult<()>;
    async fn find_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<Option<Webhook>>;
    async fn list_webhooks(
        &self,
        tenant: TenantId,
        after: Option<WebhookId>,
        limit: u32,
    ) -> StoreResult<Vec<Webhook>>;
    async fn update_webhook(
        &self,
        tenant: TenantId,
        id: WebhookId,
        patch: &WebhookPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Webhook>>;
    /// Deletes the webhook and its outbox rows.
    async fn delete_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<bool>;
    /// Signing secrets still active at `now`, newest first.
    async fn webhook_secrets(
        &self,
        tenant: TenantId,
        id: WebhookId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SigningSecret>>;
    /// Adds `secret` as the current one; older secrets stop signing at `retire_at` (or
    /// earlier, if they were already due to).
    async fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        id: WebhookId,
        secret: &SigningSecret,
        now: DateTime<Utc>,
        retire_at: DateTime<Utc>,
    ) -> StoreResult<bool>;
}
