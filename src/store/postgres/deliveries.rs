//! The delivery log: deliveries with their attempts, as the API shows them, and a retry on
//! demand.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::PgStore;
use crate::domain::cursor::Seq;
use crate::domain::delivery::{Attempt, Delivery, DeliveryStatus};
use crate::domain::identity::IdentityHandle;
use crate::id::{DeliveryId, EventId, TenantId, WebhookId};
use crate::store::{DeliveryLog, StoreResult};

const DELIVERY_COLUMNS: &str =
    "d.id, d.webhook_id, d.event_id, i.handle, d.seq, d.status, d.next_attempt_at, d.created_at";

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
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS}
             FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN identities i ON i.id = d.identity_id
             WHERE w.tenant_id = $1 AND d.webhook_id = $2
               AND ($3::text IS NULL OR d.status = $3) AND ($4::text IS NULL OR i.handle = $4)
               AND ($5::uuid IS NULL OR d.id > $5)
             ORDER BY d.id LIMIT $6"
        ))
        .bind(tenant.as_uuid())
        .bind(webhook.as_uuid())
        .bind(status.map(DeliveryStatus::as_str))
        .bind(identity.map(IdentityHandle::as_str))
        .bind(after.map(|id| id.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        with_attempts(&self.pool, &rows).await
    }

    async fn find_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> StoreResult<Option<Delivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS}
             FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN identities i ON i.id = d.identity_id
             WHERE w.tenant_id = $1 AND d.id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_all(&self.pool)
        .await?;
        Ok(with_attempts(&self.pool, &rows).await?.pop())
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

/// Fetches the attempts of a page of deliveries in one query.
async fn with_attempts(
    pool: &PgPool,
    rows: &[sqlx::postgres::PgRow],
) -> StoreResult<Vec<Delivery>> {
    let ids: Vec<Uuid> = rows
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
    let attempt_rows = sqlx::query(
        "SELECT delivery_id, at, duration_ms, status_code, error, response_body
         FROM delivery_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut attempts: HashMap<Uuid, Vec<Attempt>> = HashMap::new();
    for row in &attempt_rows {
        attempts
            .entry(row.try_get("delivery_id")?)
            .or_default()
            .push(Attempt {
                at: row.try_get("at")?,
                duration_ms: row.try_get::<i32, _>("duration_ms")? as u32,
                status_code: row
                    .try_get::<Option<i32>, _>("status_code")?
                    .map(|code| code as u16),
                error: row.try_get("error")?,
                response_body: row.try_get("response_body")?,
            });
    }
    rows.iter()
        .map(|row| {
            let id: Uuid = row.try_get("id")?;
            let handle: String = row.try_get("handle")?;
            let status: String = row.try_get("status")?;
            Ok(Delivery {
                id: DeliveryId::from_uuid(id),
                webhook_id: WebhookId::from_uuid(row.try_get("webhook_id")?),
                event_id: EventId::from_uuid(row.try_get("event_id")?),
                identity: IdentityHandle::parse(&handle)
                    .map_err(|_| sqlx::Error::Decode("stored identity handle is invalid".into()))?,
                seq: Seq(row.try_get("seq")?),
                status: DeliveryStatus::parse(&status).ok_or_else(|| {
                    sqlx::Error::Decode("stored delivery status is invalid".into())
                })?,
                attempts: attempts.remove(&id).unwrap_or_default(),
                next_attempt_at: row.try_get("next_attempt_at")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}
