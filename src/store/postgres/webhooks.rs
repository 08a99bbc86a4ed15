//! Webhooks and their signing secrets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};

use super::PgStore;
use crate::domain::secret::SigningSecret;
use crate::domain::webhook::Webhook;
use crate::id::{TenantId, WebhookId};
use crate::store::columns::{TextList, Timestamp};
use crate::store::rows::{WebhookRow, signing_secrets};
use crate::store::{StoreResult, WebhookPatch, WebhookStore};

#[async_trait]
impl WebhookStore for PgStore {
    async fn create_webhook(&self, webhook: &Webhook, secret: &SigningSecret) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhooks (id, tenant_id, url, event_names, event_prefixes, identities, description,
                                   ordered, rate_limit, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(webhook.id.as_uuid())
        .bind(webhook.tenant_id.as_uuid())
        .bind(webhook.url.as_str())
        .bind(webhook.events.names.clone().map(TextList))
        .bind(webhook.events.prefixes.clone().map(TextList))
        .bind(webhook.identities.as_deref().map(TextList::handles))
        .bind(&webhook.description)
        .bind(webhook.ordered)
        .bind(webhook.rate_limit.map(|limit| limit as i32))
        .bind(webhook.active)
        .bind(webhook.created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO webhook_secrets (webhook_id, secret, created_at) VALUES ($1, $2, $3)",
        )
        .bind(webhook.id.as_uuid())
        .bind(secret.expose())
        .bind(webhook.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<Option<Webhook>> {
        let row: Option<WebhookRow> = sqlx::query_as(&format!(
            "SELECT {} FROM webhooks WHERE tenant_id = $1 AND id = $2",
            WebhookRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Webhook::try_from).transpose()?)
    }

    async fn list_webhooks(
        &self,
        tenant: TenantId,
        after: Option<WebhookId>,
        limit: u32,
    ) -> StoreResult<Vec<Webhook>> {
        let rows: Vec<WebhookRow> = sqlx::query_as(&format!(
            "SELECT {} FROM webhooks WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2)
             ORDER BY id LIMIT $3",
            WebhookRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(after.map(|id| id.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(Webhook::try_from)
            .collect::<Result<_, _>>()?)
    }

    /// One statement; re-activating clears the reason and the failure streak, and makes the
    /// held deliveries due at once, each as of when it was made, so the claims take them oldest
    /// first: a row that was waiting out a retry delay goes in its event's place, not last.
    /// Only a webhook that was inactive has held rows: on an active one, rows due later are
    /// leased or waiting out a retry delay, and stay so.
    async fn update_webhook(
        &self,
        tenant: TenantId,
        id: WebhookId,
        patch: &WebhookPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Webhook>> {
        let mut query = QueryBuilder::new(
            "WITH previous AS (SELECT id, active FROM webhooks WHERE tenant_id = ",
        );
        query
            .push_bind(tenant.as_uuid())
            .push(" AND id = ")
            .push_bind(id.as_uuid())
            .push("), updated AS (UPDATE webhooks SET ");
        patch.push_assignments(&mut query, Timestamp(now));
        query.push(format!(
            " FROM previous WHERE webhooks.id = previous.id
              RETURNING webhooks.*, previous.active AS was_active
            ), released AS (
                UPDATE deliveries SET next_attempt_at = least(deliveries.created_at, updated.updated_at)
                FROM updated
                WHERE updated.active AND NOT updated.was_active
                  AND deliveries.webhook_id = updated.id AND deliveries.status = 'pending'
                  AND deliveries.next_attempt_at > updated.updated_at
            )
            SELECT {} FROM updated",
            WebhookRow::COLUMNS
        ));
        let row: Option<WebhookRow> = query.build_query_as().fetch_optional(&self.pool).await?;
        Ok(row.map(Webhook::try_from).transpose()?)
    }

    async fn delete_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn webhook_secrets(
        &self,
        tenant: TenantId,
        id: WebhookId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SigningSecret>> {
        let secrets: Vec<String> = sqlx::query_scalar(
            "SELECT s.secret FROM webhook_secrets s JOIN webhooks w ON w.id = s.webhook_id
             WHERE w.tenant_id = $1 AND w.id = $2 AND (s.expires_at IS NULL OR s.expires_at > $3)
             ORDER BY s.created_at DESC",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(signing_secrets(&secrets)?)
    }

    async fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        id: WebhookId,
        secret: &SigningSecret,
        now: DateTime<Utc>,
        retire_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "WITH hook AS (SELECT id FROM webhooks WHERE tenant_id = $1 AND id = $2 FOR UPDATE),
             retired AS (
                UPDATE webhook_secrets SET expires_at = least(coalesce(expires_at, $5), $5)
                FROM hook WHERE webhook_secrets.webhook_id = hook.id
             ), added AS (
                INSERT INTO webhook_secrets (webhook_id, secret, created_at)
                SELECT hook.id, $3, $4 FROM hook
                RETURNING 1
             )
             SELECT count(*) AS added FROM added",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(secret.expose())
        .bind(now)
        .bind(retire_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("added")? == 1)
    }
}
