//! The store's contract for webhooks and their signing secrets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
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
    pub active: Option<bool>,
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
    ) -> StoreResult<Vec<String>>;
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
