//! The store's contract for the delivery log: what the API shows of deliveries.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::delivery::{Delivery, DeliveryStatus};
use crate::domain::identity::IdentityHandle;
use crate::id::{DeliveryId, TenantId, WebhookId};

/// A page of one webhook's deliveries, by id: of `status` and `identity` where given.
pub struct DeliveryQuery<'a> {
    pub tenant: TenantId,
    pub webhook: WebhookId,
    pub status: Option<DeliveryStatus>,
    pub identity: Option<&'a IdentityHandle>,
    pub after: Option<DeliveryId>,
    pub limit: u32,
}

/// Deliveries with their attempts, as the API shows them.
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    async fn list_deliveries(&self, query: DeliveryQuery<'_>) -> StoreResult<Vec<Delivery>>;
    async fn find_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> StoreResult<Option<Delivery>>;
    /// Makes a delivery pending and due now, whatever its status.
    async fn retry_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Delivery>>;
}
