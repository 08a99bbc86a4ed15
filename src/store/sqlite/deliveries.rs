//! The delivery log: what the API shows of the outbox, and a manual retry.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqliteStore;
use super::encoding::id_list;
use crate::domain::delivery::{Delivery, DeliveryStatus};
use crate::domain::identity::IdentityHandle;
use crate::id::{DeliveryId, TenantId, WebhookId};
use crate::store::columns::Timestamp;
use crate::store::rows::{AttemptRow, DeliveryRow, deliveries};
use crate::store::{DeliveryLog, StoreResult};

#[async_trait]
impl DeliveryLog for SqliteStore {
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
             WHERE w.tenant_id = ?1 AND d.webhook_id = ?2
               AND (?3 IS NULL OR d.status = ?3) AND (?4 IS NULL OR i.handle = ?4)
               AND (?5 IS NULL OR d.id > ?5)
             ORDER BY d.id LIMIT ?6",
            DeliveryRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(webhook.as_uuid())
        .bind(status.map(DeliveryStatus::as_str))
        .bind(identity.map(IdentityHandle::as_str))
        .bind(after.map(|id| id.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
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
             WHERE w.tenant_id = ?1 AND d.id = ?2",
            DeliveryRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_all(&self.reader)
        .await?;
        Ok(self.with_attempts(rows).await?.pop())
    }

    /// The update commits on the writer before the reader looks, so the answer shows it.
    async fn retry_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Delivery>> {
        let updated = sqlx::query(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?3
             WHERE id = ?2 AND webhook_id IN (SELECT id FROM webhooks WHERE tenant_id = ?1)",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(Timestamp(now))
        .execute(&self.writer)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        self.find_delivery(tenant, id).await
    }
}

impl SqliteStore {
    /// Fetches the attempts of a page of deliveries in one query.
    async fn with_attempts(&self, rows: Vec<DeliveryRow>) -> StoreResult<Vec<Delivery>> {
        let ids = id_list(rows.iter().map(|row| row.id().as_uuid()))?;
        let attempts: Vec<AttemptRow> = sqlx::query_as(&format!(
            "SELECT {} FROM delivery_attempts
             WHERE delivery_id IN (SELECT unhex(value) FROM json_each(?1))
             ORDER BY delivery_id, attempt",
            AttemptRow::COLUMNS
        ))
        .bind(ids)
        .fetch_all(&self.reader)
        .await?;
        Ok(deliveries(rows, attempts)?)
    }
}
