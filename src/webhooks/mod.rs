//! WEBHOOKS: registering where events are pushed, and everything a tenant does with it —
//! changes, secrets and their rotation, replays, pings, the delivery log and its retries.
//! The rules live here (`rules`), with no HTTP and no SQL; the pushing itself is the
//! delivery part's, which this one wakes when something falls due.

mod deliveries;
pub mod rules;

use std::sync::Arc;

use crate::clock::Clock;
use crate::delivery::pool::DeliveryPool;
use crate::domain::cursor::Seq;
use crate::domain::delivery::Attempt;
use crate::domain::identity::IdentityHandle;
use crate::domain::secret::SigningSecret;
use crate::domain::webhook::Webhook;
use crate::id::{TenantId, WebhookId};
use crate::store::{ReplayRequest, Store, StoreError};
pub use deliveries::DeliveryFilter;
use rules::{WebhookChanges, WebhookDraft};

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no such webhook")]
    NotFound,
    #[error("no such delivery")]
    DeliveryNotFound,
    #[error("no such identity")]
    IdentityNotFound,
    #[error("the log no longer holds the events after `since`")]
    CursorExpired { earliest: Seq },
    /// The request breaks a rule; `code` names which.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WebhookError {
    fn invalid(code: &'static str, message: impl ToString) -> Self {
        WebhookError::Invalid {
            code,
            message: message.to_string(),
        }
    }
}

pub struct Webhooks {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    deliveries: Arc<DeliveryPool>,
    /// Whether a webhook may point at a private address (the embedded default, and tests).
    allow_private: bool,
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        deliveries: Arc<DeliveryPool>,
        allow_private: bool,
    ) -> Self {
        Self {
            store,
            clock,
            deliveries,
            allow_private,
        }
    }

    /// Registers a webhook, active at once, with the secret its deliveries are signed with.
    pub async fn create(
        &self,
        tenant: TenantId,
        draft: WebhookDraft,
    ) -> Result<(Webhook, SigningSecret), WebhookError> {
        let secret = rules::secret(draft.secret.as_deref())?;
        let webhook = Webhook {
            id: WebhookId::generate(),
            tenant_id: tenant,
            url: rules::url(&draft.url, self.allow_private).await?,
            events: rules::filter(draft.events.as_deref())?,
            identities: rules::identities(draft.identities.as_deref())?,
            description: draft
                .description
                .map(rules::description)
                .transpose()?
                .unwrap_or_default(),
            ordered: draft.ordered.unwrap_or(false),
            rate_limit: rules::rate_limit(draft.rate_limit)?,
            dialect: rules::dialect(draft.dialect.as_ref())?,
            active: true,
            disabled_reason: None,
            created_at: self.clock.now(),
        };
        self.store.create_webhook(&webhook, &secret).await?;
        Ok((webhook, secret))
    }

    /// Up to `limit` webhooks after `after`, by id.
    pub async fn list(
        &self,
        tenant: TenantId,
        after: Option<WebhookId>,
        limit: u32,
    ) -> Result<Vec<Webhook>, WebhookError> {
        Ok(self.store.list_webhooks(tenant, after, limit).await?)
    }

    pub async fn find(&self, tenant: TenantId, id: WebhookId) -> Result<Webhook, WebhookError> {
        self.store
            .find_webhook(tenant, id)
            .await?
            .ok_or(WebhookError::NotFound)
    }

    /// Changes what `changes` carries. Re-activating makes what was held meanwhile due.
    pub async fn update(
        &self,
        tenant: TenantId,
        id: WebhookId,
        changes: WebhookChanges,
    ) -> Result<Webhook, WebhookError> {
        let patch = changes.check(self.allow_private).await?;
        let updated = self
            .store
            .update_webhook(tenant, id, &patch, self.clock.now())
            .await?
            .ok_or(WebhookError::NotFound)?;
        if patch.active == Some(true) {
            self.deliveries.wake();
        }
        Ok(updated)
    }

    /// Removes the webhook with its secrets and deliveries.
    pub async fn delete(&self, tenant: TenantId, id: WebhookId) -> Result<(), WebhookError> {
        if self.store.delete_webhook(tenant, id).await? {
            Ok(())
        } else {
            Err(WebhookError::NotFound)
        }
    }

    /// The secret new deliveries are signed with first.
    pub async fn current_secret(
        &self,
        tenant: TenantId,
        id: WebhookId,
    ) -> Result<SigningSecret, WebhookError> {
        // Every webhook has a current secret, so none means no such webhook for this tenant.
        let secrets = self
            .store
            .webhook_secrets(tenant, id, self.clock.now())
            .await?;
        secrets.into_iter().next().ok_or(WebhookError::NotFound)
    }

    /// Makes `chosen` (or a new secret) the current one; the older ones keep signing for
    /// `retire_after_secs` (a day unless given).
    pub async fn rotate_secret(
        &self,
        tenant: TenantId,
        id: WebhookId,
        chosen: Option<&str>,
        retire_after_secs: Option<u64>,
    ) -> Result<SigningSecret, WebhookError> {
        let secret = rules::secret(chosen)?;
        let retire_after = rules::retire_after(retire_after_secs)?;
        let now = self.clock.now();
        if !self
            .store
            .rotate_webhook_secret(tenant, id, &secret, now, now + retire_after)
            .await?
        {
            return Err(WebhookError::NotFound);
        }
        Ok(secret)
    }

    /// Enqueues the identity's events after `since` that pass the webhook's filter, as new
    /// deliveries; answers how many.
    pub async fn replay(
        &self,
        tenant: TenantId,
        id: WebhookId,
        identity: &str,
        since: u64,
    ) -> Result<u64, WebhookError> {
        let webhook = self.find(tenant, id).await?;
        let identity = IdentityHandle::parse(identity)
            .map_err(|error| WebhookError::invalid("invalid_handle", error))?;
        let since = i64::try_from(since)
            .map_err(|_| WebhookError::invalid("invalid_since", "`since` is too large"))?;
        let found = self
            .store
            .find_identity(tenant, &identity)
            .await?
            .ok_or(WebhookError::IdentityNotFound)?;
        if since < found.earliest_seq.0 - 1 {
            return Err(WebhookError::CursorExpired {
                earliest: found.earliest_seq,
            });
        }
        let request = ReplayRequest {
            tenant,
            webhook: webhook.id,
            identity: &identity,
            since: Seq(since),
            now: self.clock.now(),
        };
        let enqueued = self
            .store
            .replay(request)
            .await?
            .ok_or(WebhookError::IdentityNotFound)?;
        self.deliveries.wake();
        Ok(enqueued)
    }

    /// Sends a signed `webhook.ping` now, outside the outbox, and answers how it went.
    pub async fn ping(&self, tenant: TenantId, id: WebhookId) -> Result<Attempt, WebhookError> {
        let webhook = self.find(tenant, id).await?;
        let secrets = self
            .store
            .webhook_secrets(tenant, webhook.id, self.clock.now())
            .await?;
        Ok(self
            .deliveries
            .ping(&webhook.url, &secrets, &webhook.dialect, webhook.id)
            .await)
    }
}
