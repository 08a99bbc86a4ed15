//! Webhooks and their signing secrets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::PgStore;
use crate::domain::identity::IdentityHandle;
use crate::domain::secret::SigningSecret;
use crate::domain::target::WebhookUrl;
use crate::domain::webhook::{EventFilter, Webhook};
use crate::id::{TenantId, WebhookId};
use crate::store::{StoreResult, WebhookPatch, WebhookStore};

const COLUMNS: &str = "id, tenant_id, url, event_names, event_prefixes, identities, description, ordered, \
                       rate_limit, active, disabled_reason, created_at";

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
        .bind(&webhook.events.names)
        .bind(&webhook.events.prefixes)
        .bind(handles(&webhook.identities))
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
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM webhooks WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
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
            "SELECT {COLUMNS} FROM webhooks WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
        ))
        .bind(tenant.as_uuid())
        .bind(after.map(|id| id.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook_from_row).collect()
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
        let row = sqlx::query(&format!(
            "WITH previous AS (
                SELECT active FROM webhooks WHERE tenant_id = $1 AND id = $2
            ), updated AS (
                UPDATE webhooks SET
                    url = coalesce($3, url),
                    event_names = CASE WHEN $4 THEN $5 ELSE event_names END,
                    event_prefixes = CASE WHEN $4 THEN $6 ELSE event_prefixes END,
                    identities = CASE WHEN $7 THEN $8 ELSE identities END,
                    description = coalesce($9, description),
                    ordered = coalesce($10, ordered),
                    rate_limit = CASE WHEN $11 THEN $12 ELSE rate_limit END,
                    active = coalesce($13, active),
                    disabled_reason = CASE WHEN $13 THEN NULL WHEN $13 = false THEN 'disabled through the API' ELSE disabled_reason END,
                    failing_since = CASE WHEN $13 THEN NULL ELSE failing_since END,
                    updated_at = $14
                WHERE tenant_id = $1 AND id = $2
                RETURNING {COLUMNS}
            ), released AS (
                UPDATE deliveries SET next_attempt_at = least(deliveries.created_at, $14)
                FROM updated
                WHERE $13 AND NOT (SELECT active FROM previous)
                  AND deliveries.webhook_id = updated.id AND deliveries.status = 'pending'
                  AND deliveries.next_attempt_at > $14
            )
            SELECT * FROM updated"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(patch.url.as_ref().map(WebhookUrl::as_str))
        .bind(patch.events.is_some())
        .bind(patch.events.as_ref().and_then(|events| events.names.clone()))
        .bind(patch.events.as_ref().and_then(|events| events.prefixes.clone()))
        .bind(patch.identities.is_some())
        .bind(patch.identities.as_ref().and_then(handles))
        .bind(&patch.description)
        .bind(patch.ordered)
        .bind(patch.rate_limit.is_some())
        .bind(patch.rate_limit.flatten().map(|limit| limit as i32))
        .bind(patch.active)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| webhook_from_row(&row)).transpose()
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
    ) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT s.secret FROM webhook_secrets s JOIN webhooks w ON w.id = s.webhook_id
             WHERE w.tenant_id = $1 AND w.id = $2 AND (s.expires_at IS NULL OR s.expires_at > $3)
             ORDER BY s.created_at DESC",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
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

fn handles(identities: &Option<Vec<IdentityHandle>>) -> Option<Vec<String>> {
    identities.as_ref().map(|handles| {
        handles
            .iter()
            .map(|handle| handle.as_str().to_owned())
            .collect()
    })
}

fn webhook_from_row(row: &sqlx::postgres::PgRow) -> StoreResult<Webhook> {
    let decode = |what: &'static str| {
        sqlx::Error::Decode(format!("stored webhook {what} is invalid").into())
    };
    let url: String = row.try_get("url")?;
    let url = reqwest::Url::parse(&url).map_err(|_| decode("url"))?;
    let identities: Option<Vec<String>> = row.try_get("identities")?;
    let identities = identities
        .map(|handles| {
            handles
                .iter()
                .map(|handle| IdentityHandle::parse(handle))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|_| decode("identity"))?;
    Ok(Webhook {
        id: WebhookId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        url: WebhookUrl::trusted(url),
        events: EventFilter {
            names: row.try_get("event_names")?,
            prefixes: row.try_get("event_prefixes")?,
        },
        identities,
        description: row.try_get("description")?,
        ordered: row.try_get("ordered")?,
        rate_limit: row
            .try_get::<Option<i32>, _>("rate_limit")?
            .map(|limit| limit as u32),
        active: row.try_get("active")?,
        disabled_reason: row.try_get("disabled_reason")?,
        created_at: row.try_get("created_at")?,
    })
}
