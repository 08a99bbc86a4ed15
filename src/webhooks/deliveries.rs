//! The delivery log: a webhook's deliveries with their attempts, one delivery, a retry now.

use super::{WebhookError, Webhooks};
use crate::domain::delivery::{Delivery, DeliveryStatus};
use crate::domain::identity::IdentityHandle;
use crate::id::{DeliveryId, TenantId, WebhookId};
use crate::store::DeliveryQuery;

/// Which of a webhook's deliveries to list, as the client sent it.
#[derive(Default)]
pub struct DeliveryFilter {
    pub status: Option<String>,
    pub identity: Option<String>,
}

impl Webhooks {
    /// Up to `limit` of the webhook's deliveries after `after`, oldest first.
    pub async fn deliveries(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        filter: &DeliveryFilter,
        after: Option<DeliveryId>,
        limit: u32,
    ) -> Result<Vec<Delivery>, WebhookError> {
        let webhook = self.find(tenant, webhook).await?;
        let status = filter
            .status
            .as_deref()
            .map(|raw| {
                DeliveryStatus::parse(raw).ok_or_else(|| {
                    WebhookError::invalid(
                        "invalid_status",
                        "`status` is pending, succeeded or failed",
                    )
                })
            })
            .transpose()?;
        let identity = filter
            .identity
            .as_deref()
            .map(|raw| {
                IdentityHandle::parse(raw)
                    .map_err(|error| WebhookError::invalid("invalid_handle", error))
            })
            .transpose()?;
        let query = DeliveryQuery {
            tenant,
            webhook: webhook.id,
            status,
            identity: identity.as_ref(),
            after,
            limit,
        };
        Ok(self.store.list_deliveries(query).await?)
    }

    pub async fn delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> Result<Delivery, WebhookError> {
        self.store
            .find_delivery(tenant, id)
            .await?
            .ok_or(WebhookError::DeliveryNotFound)
    }

    /// Makes the delivery due at once, whatever its status.
    pub async fn retry(&self, tenant: TenantId, id: DeliveryId) -> Result<Delivery, WebhookError> {
        let delivery = self
            .store
            .retry_delivery(tenant, id, self.clock.now())
            .await?
            .ok_or(WebhookError::DeliveryNotFound)?;
        self.deliveries.wake();
        Ok(delivery)
    }
}
