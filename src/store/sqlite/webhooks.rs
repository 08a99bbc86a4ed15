//! Webhooks and their signing secrets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::encoding::{decode_error, optional_text_list, text_list, timestamp, to_micros};
use crate::domain::identity::IdentityHandle;
use crate::domain::secret::SigningSecret;
use crate::domain::target::WebhookUrl;
use crate::domain::webhook::{EventFilter, Webhook};
use crate::id::{TenantId, WebhookId};
use crate::store::{StoreResult, WebhookPatch, WebhookStore};

const COLUMNS: &str = "id, tenant_id, url, event_names, event_prefixes, identities, description, ordered, \
                       rate_limit, active, disabled_reason, created_at";

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, webhook: &Webhook, secret: &SigningSecret) -> StoreResult<()> {
        let created_at = to_micros(webhook.created_at);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO webhooks (id, tenant_id, url, event_names, event_prefixes, identities, description,
                                   ordered, rate_limit, active, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        )
        .bind(webhook.id.as_uuid())
        .bind(webhook.tenant_id.as_uuid())
        .bind(webhook.url.as_str())
        .bind(strings(&webhook.events.names))
        .bind(strings(&webhook.events.prefixes))
        .bind(handles(&webhook.identities))
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
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM webhooks WHERE tenant_id = ?1 AND id = ?2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| webhook_from_row(&row)).transpose()
    }

    async fn list_webhooks(
        &self,
        tenant: TenantId,
        after: Option<WebhookId>,
        limit: u32,
    ) -> StoreResult<Vec<Webhook>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM webhooks WHERE tenant_id = ?1 AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3"
        ))
        .bind(tenant.as_uuid())
        .bind(after.map(|id| id.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(webhook_from_row).collect()
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
        let now = to_micros(now);
        let mut tx = self.begin_write().await?;
        // Only a webhook that was inactive has held deliveries to release; on an active one,
        // rows due later are leased or waiting out a retry delay, and must stay so.
        let was_active: Option<bool> =
            sqlx::query_scalar("SELECT active FROM webhooks WHERE tenant_id = ?1 AND id = ?2")
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
        let row = sqlx::query(&format!(
            "UPDATE webhooks SET
                url = coalesce(?3, url),
                event_names = CASE WHEN ?4 THEN ?5 ELSE event_names END,
                event_prefixes = CASE WHEN ?4 THEN ?6 ELSE event_prefixes END,
                identities = CASE WHEN ?7 THEN ?8 ELSE identities END,
                description = coalesce(?9, description),
                ordered = coalesce(?10, ordered),
                rate_limit = CASE WHEN ?11 THEN ?12 ELSE rate_limit END,
                active = coalesce(?13, active),
                disabled_reason = CASE WHEN ?13 THEN NULL WHEN ?13 = 0 THEN 'disabled through the API' ELSE disabled_reason END,
                failing_since = CASE WHEN ?13 THEN NULL ELSE failing_since END,
                updated_at = ?14
             WHERE tenant_id = ?1 AND id = ?2
             RETURNING {COLUMNS}"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(patch.url.as_ref().map(WebhookUrl::as_str))
        .bind(patch.events.is_some())
        .bind(patch.events.as_ref().and_then(|events| strings(&events.names)))
        .bind(patch.events.as_ref().and_then(|events| strings(&events.prefixes)))
        .bind(patch.identities.is_some())
        .bind(patch.identities.as_ref().and_then(handles))
        .bind(&patch.description)
        .bind(patch.ordered)
        .bind(patch.rate_limit.is_some())
        .bind(patch.rate_limit.flatten().map(i64::from))
        .bind(patch.active)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        if patch.active == Some(true) && was_active == Some(false) {
            sqlx::query(
                "UPDATE deliveries SET next_attempt_at = min(created_at, ?2)
                 WHERE webhook_id = ?1 AND status = 'pending' AND next_attempt_at > ?2",
            )
            .bind(id.as_uuid())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let webhook = webhook_from_row(&row)?;
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
    ) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT s.secret FROM webhook_secrets s JOIN webhooks w ON w.id = s.webhook_id
             WHERE w.tenant_id = ?1 AND w.id = ?2 AND (s.expires_at IS NULL OR s.expires_at > ?3)
             ORDER BY s.created_at DESC",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(to_micros(now))
        .fetch_all(&self.reader)
        .await?)
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
        .bind(to_micros(retire_at))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO webhook_secrets (webhook_id, secret, created_at) VALUES (?1, ?2, ?3)",
        )
        .bind(id.as_uuid())
        .bind(secret.expose())
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

fn strings(list: &Option<Vec<String>>) -> Option<String> {
    list.as_ref()
        .map(|items| text_list(items.iter().map(String::as_str)))
}

fn handles(identities: &Option<Vec<IdentityHandle>>) -> Option<String> {
    identities
        .as_ref()
        .map(|handles| text_list(handles.iter().map(IdentityHandle::as_str)))
}

fn webhook_from_row(row: &SqliteRow) -> StoreResult<Webhook> {
    let url: String = row.try_get("url")?;
    let url =
        reqwest::Url::parse(&url).map_err(|_| decode_error("stored webhook url is invalid"))?;
    let identities = optional_text_list(row, "identities")?
        .map(|handles| {
            handles
                .iter()
                .map(|handle| IdentityHandle::parse(handle))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|_| decode_error("stored webhook identity is invalid"))?;
    Ok(Webhook {
        id: WebhookId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        url: WebhookUrl::trusted(url),
        events: EventFilter {
            names: optional_text_list(row, "event_names")?,
            prefixes: optional_text_list(row, "event_prefixes")?,
        },
        identities,
        description: row.try_get("description")?,
        ordered: row.try_get("ordered")?,
        rate_limit: row
            .try_get::<Option<i64>, _>("rate_limit")?
            .map(|limit| limit as u32),
        active: row.try_get("active")?,
        disabled_reason: row.try_get("disabled_reason")?,
        created_at: timestamp(row, "created_at")?,
    })
}
