//! The delivery log: deliveries with their attempts, as the API shows them, and a retry on
//! demand.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::PgStore;
use crate::domain::delivery::{Delivery, DeliveryStatus};
use crate::domain::identity::IdentityHandle;
use crate::id::{DeliveryId, TenantId, WebhookId};
use crate::store::rows::{AttemptRow, DeliveryRow, deliveries};
use crate::store::{DeliveryLog, StoreResult};

#[async_trait]
impl DeliveryLog for PgStore {
    async fn list_deliveries(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        status: Option<DeliveryStatus>,
        identity: Option<&IdentityHandle>,
        after: Option<DeliveryId>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
            "SELECT {}
             FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN identities i ON i.id = d.identity_id
             WHERE w.tenant_id = $1 AND d.webhook_id = $2
               AND ($3::text IS NULL OR d.status = $3) AND ($4::text IS NULL OR i.handle = $4)
               AND ($5::uuid IS NULL OR d.id > $5)
             ORDER BY d.id LIMIT $6",
            DeliveryRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(webhook.as_uuid())
        .bind(status.map(DeliveryStatus::as_str))
        .bind(identity.map(IdentityHandle::as_str))
        .bind(after.map(|id| id.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        self.with_attempts(rows).await
    }

    async fn find_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> StoreResult<Option<Delivery>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
            "SELECT {}
             FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN identities i ON i.id = d.identity_id
             WHERE w.tenant_id = $1 AND d.id = $2",
            DeliveryRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_all(&self.pool)
        .await?;
        Ok(self.with_attempts(rows).await?.pop())
    }

    async fn retry_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Delivery>> {
        let updated = sqlx::query(
            "UPDATE deliveries d SET status = 'pending', next_attempt_at = $3
             FROM webhooks w WHERE w.id = d.webhook_id AND w.tenant_id = $1 AND d.id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(now)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        self.find_delivery(tenant, id).await
    }
}

impl PgStore {
    /// Fetches the attempts of a page of deliveries in one query.
    async fn with_attempts(&self, rows: Vec<DeliveryRow>) -> StoreResult<Vec<Delivery>> {
        let ids: Vec<Uuid> = rows.iter().map(|row| row.id().as_uuid()).collect();
        let attempts: Vec<AttemptRow> = sqlx::query_as(&format!(
            "SELECT {} FROM delivery_attempts WHERE delivery_id = ANY($1)
             ORDER BY delivery_id, attempt",
            AttemptRow::COLUMNS
        ))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(deliveries(rows, attempts)?)
    }
}
