//! Identities: one row per handle per tenant, carrying the log's head.

use async_trait::async_trait;
use chrono::Utc;

use super::SqliteStore;
use super::encoding::to_micros;
use crate::domain::identity::{Identity, IdentityHandle};
use crate::id::TenantId;
use crate::store::rows::IdentityRow;
use crate::store::{IdentityStore, StoreResult};

#[async_trait]
impl IdentityStore for SqliteStore {
    /// Inserts unless the handle exists. An existing row was committed by an earlier write, so
    /// the reader finds it.
    async fn create_identity(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
    ) -> StoreResult<(Identity, bool)> {
        let inserted: Option<IdentityRow> = sqlx::query_as(&format!(
            "INSERT INTO identities (tenant_id, handle, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant_id, handle) DO NOTHING
             RETURNING {}",
            IdentityRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(handle.as_str())
        .bind(to_micros(Utc::now()))
        .fetch_optional(&self.writer)
        .await?;
        if let Some(row) = inserted {
            return Ok((row.try_into()?, true));
        }
        let existing = self.find_identity(tenant, handle).await?;
        // Identities are never deleted, so the conflicting row is still there.
        let identity = existing.ok_or(sqlx::Error::RowNotFound)?;
        Ok((identity, false))
    }

    async fn find_identity(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
    ) -> StoreResult<Option<Identity>> {
        let row: Option<IdentityRow> = sqlx::query_as(&format!(
            "SELECT {} FROM identities WHERE tenant_id = ?1 AND handle = ?2",
            IdentityRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(handle.as_str())
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(Identity::try_from).transpose()?)
    }

    async fn list_identities(
        &self,
        tenant: TenantId,
        after: Option<&IdentityHandle>,
        limit: u32,
    ) -> StoreResult<Vec<Identity>> {
        let rows: Vec<IdentityRow> = sqlx::query_as(&format!(
            "SELECT {} FROM identities
             WHERE tenant_id = ?1 AND (?2 IS NULL OR handle > ?2)
             ORDER BY handle LIMIT ?3",
            IdentityRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(after.map(IdentityHandle::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(Identity::try_from)
            .collect::<Result<_, _>>()?)
    }
}
