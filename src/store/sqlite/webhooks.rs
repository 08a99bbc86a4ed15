//! Webhooks and their signing secrets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::SqliteStore;
use crate::domain::secret::SigningSecret;
use crate::domain::webhook::Webhook;
use crate::id::{TenantId, WebhookId};
use crate::store::columns::{TextList, Timestamp};
use crate::store::rows::{WebhookRow, signing_secrets};
use crate::store::{StoreResult, WebhookPatch, WebhookStore};

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, webhook: &Webhook, secret: &SigningSecret) -> StoreResult<()> {
        let created_at = Timestamp(webhook.created_at);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO webhooks (id, tenant_id, url, event_names, event_prefixes, identities, description,
                                   ordered, rate_limit, active, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        )
        .bind(webhook.id.as_uuid())
        .bind(webhook.tenant_id.as_uuid())
        .bind(webhook.url.as_str())
        .bind(webhook.events.names.clone().map(TextList))
        .bind(webhook.events.prefixes.clone().map(TextList))
        .bind(webhook.identities.as_deref().map(TextList::handles))
        .bind(&webhook.description)
        .bind(webhook.ordered)
        .bind(webhook.rate_limit.map(i64::from))
        .bind(webhook.active)
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO webhook_secrets (webhook_id, secret, created_at) VALUES (?1, ?2, ?3)",
        )
        .bind(webhook.id.as_uuid())
        .bind(secret.expose())
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<Option<Webhook>> {
        let row: Option<WebhookRow> = sqlx::query_as(&format!(
            "SELECT {} FROM webhooks WHERE tenant_id = ?1 AND id = ?2",
            WebhookRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.reader)
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
            "SELECT {} FROM webhooks WHERE tenant_id = ?1 AND (?2 IS NULL OR id > ?2)
             ORDER BY id LIMIT ?3",
            WebhookRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(after.map(|id| id.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(Webhook::try_from)
            .collect::<Result<_, _>>()?)
    }

    /// One transaction; re-activating clears the reason and the failure streak, and makes the
    /// held deliveries due at once, each as of when it was made, so the claims take them oldest
    /// first: a row that was waiting out a retry delay goes in its event's place, not last.
    async fn update_webhook(
        &self,
        tenant: TenantId,
        id: WebhookId,
        patch: &WebhookPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Webhook>> {
        let mut tx = self.begin_write().await?;
        // Only a webhook that was inactive has held deliveries to release; on an active one,
        // rows due later are leased or waiting out a retry delay, and must stay so.
        let was_active: Option<bool> =
            sqlx::query_scalar("SELECT active FROM webhooks WHERE tenant_id = ?1 AND id = ?2")
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
        let mut query = QueryBuilder::new("UPDATE webhooks SET ");
        patch.push_assignments(&mut query, Timestamp(now));
        query
            .push(" WHERE tenant_id = ")
            .push_bind(tenant.as_uuid())
            .push(" AND id = ")
            .push_bind(id.as_uuid())
            .push(" RETURNING ")
            .push(WebhookRow::COLUMNS);
        let row: Option<WebhookRow> = query.build_query_as().fetch_optional(&mut *tx).await?;
        let Some(row) = row else {
            return Ok(None);
        };
        if patch.active == Some(true) && was_active == Some(false) {
            sqlx::query(
                "UPDATE deliveries SET next_attempt_at = min(created_at, ?2)
                 WHERE webhook_id = ?1 AND status = 'pending' AND next_attempt_at > ?2",
            )
            .bind(id.as_uuid())
            .bind(Timestamp(now))
            .execute(&mut *tx)
            .await?;
        }
        let webhook = row.try_into()?;
        tx.commit().await?;
        Ok(Some(webhook))
    }

    /// Deletes the webhook; its secrets and outbox rows go with it (ON DELETE CASCADE).
    async fn delete_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM webhooks WHERE tenant_id = ?1 AND id = ?2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.writer)
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
             WHERE w.tenant_id = ?1 AND w.id = ?2 AND (s.expires_at IS NULL OR s.expires_at > ?3)
             ORDER BY s.created_at DESC",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(Timestamp(now))
        .fetch_all(&self.reader)
        .await?;
        Ok(signing_secrets(&secrets)?)
    }

    /// One transaction: the webhook is checked, its older secrets retired, the new one added.
    async fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        id: WebhookId,
        secret: &SigningSecret,
        now: DateTime<Utc>,
        retire_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let found = sqlx::query("SELECT 1 FROM webhooks WHERE tenant_id = ?1 AND id = ?2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE webhook_secrets SET expires_at = min(coalesce(expires_at, ?2), ?2)
             WHERE webhook_id = ?1",
        )
        .bind(id.as_uuid())
        .bind(Timestamp(retire_at))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO webhook_secrets (webhook_id, secret, created_at) VALUES (?1, ?2, ?3)",
        )
        .bind(id.as_uuid())
        .bind(secret.expose())
        .bind(Timestamp(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
