//! Tenants and API keys.

use async_trait::async_trait;
use sqlx::PgExecutor;

use super::PgStore;
use crate::domain::identity::IdentityHandle;
use crate::domain::key::{ApiKey, KeyHash};
use crate::domain::tenant::Tenant;
use crate::id::{ApiKeyId, TenantId};
use crate::store::rows::{ApiKeyRow, scopes};
use crate::store::{StoreResult, TenantStore};

#[async_trait]
impl TenantStore for PgStore {
    async fn create_api_key(&self, key: &ApiKey, hash: &KeyHash) -> StoreResult<()> {
        insert_api_key(&self.pool, key, hash).await
    }

    /// Inserts the tenant and its first key in one transaction: a tenant never exists keyless.
    async fn create_tenant(
        &self,
        tenant: &Tenant,
        key: &ApiKey,
        hash: &KeyHash,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(tenant.id.as_uuid())
            .bind(&tenant.name)
            .bind(tenant.created_at)
            .execute(&mut *tx)
            .await?;
        insert_api_key(&mut *tx, key, hash).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Looks a presented key up by its hash (unique index); revoked keys are invisible.
    async fn find_api_key(&self, hash: &KeyHash) -> StoreResult<Option<(ApiKey, KeyHash)>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            ApiKeyRow::COLUMNS
        ))
        .bind(&hash.0[..])
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(ApiKeyRow::into_key).transpose()?)
    }

    async fn list_api_keys(
        &self,
        tenant: TenantId,
        after: Option<ApiKeyId>,
        limit: u32,
    ) -> StoreResult<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {} FROM api_keys
             WHERE tenant_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id > $2)
             ORDER BY id LIMIT $3",
            ApiKeyRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(after.map(|id| id.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| row.into_key().map(|(key, _)| key))
            .collect::<Result<_, _>>()?)
    }

    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE api_keys SET revoked_at = now()
             WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .execute(&self.pool)
        .await?;
        let revoked = result.rows_affected() == 1;
        if revoked {
            // The revocation is committed whatever happens to the notice; another process
            // that misses it keeps the key for its cache's minute at most.
            if let Err(error) = super::notices::publish_key_revoked(&self.notifier, id).await {
                tracing::warn!(%error, key = %id, "could not tell other processes of a revoked key");
            }
        }
        Ok(revoked)
    }
}

pub async fn insert_api_key(
    db: impl PgExecutor<'_>,
    key: &ApiKey,
    hash: &KeyHash,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, name, key_hash, scopes, identity, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(key.id.as_uuid())
    .bind(key.tenant_id.as_uuid())
    .bind(&key.name)
    .bind(&hash.0[..])
    .bind(scopes(key))
    .bind(key.identity.as_ref().map(IdentityHandle::as_str))
    .bind(key.created_at)
    .execute(db)
    .await?;
    Ok(())
}
