//! Identities: one row per handle per tenant, carrying the log's head.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::PgStore;
use crate::domain::cursor::Seq;
use crate::domain::identity::{Identity, IdentityHandle, IdentityKey};
use crate::id::TenantId;
use crate::store::{IdentityStore, StoreResult};

#[async_trait]
impl IdentityStore for PgStore {
    /// Inserts unless the handle exists; takes no lock on an existing row, so creating an
    /// identity that exists never waits behind its appends.
    async fn create_identity(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
    ) -> StoreResult<(Identity, bool)> {
        let inserted = sqlx::query(
            "INSERT INTO identities (tenant_id, handle, created_at) VALUES ($1, $2, now())
             ON CONFLICT (tenant_id, handle) DO NOTHING
             RETURNING id, head_seq, created_at",
        )
        .bind(tenant.as_uuid())
        .bind(handle.as_str())
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = inserted {
            return Ok((identity_from_row(&row, handle.clone())?, true));
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
        let row = sqlx::query(
            "SELECT id, head_seq, created_at FROM identities WHERE tenant_id = $1 AND handle = $2",
        )
        .bind(tenant.as_uuid())
        .bind(handle.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| identity_from_row(&row, handle.clone()))
            .transpose()
    }

    async fn list_identities(
        &self,
        tenant: TenantId,
        after: Option<&IdentityHandle>,
        limit: u32,
    ) -> StoreResult<Vec<Identity>> {
        let rows = sqlx::query(
            "SELECT id, handle, head_seq, created_at FROM identities
             WHERE tenant_id = $1 AND ($2::text IS NULL OR handle > $2)
             ORDER BY handle LIMIT $3",
        )
        .bind(tenant.as_uuid())
        .bind(after.map(IdentityHandle::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let handle: String = row.try_get("handle")?;
                let handle = IdentityHandle::parse(&handle)
                    .map_err(|_| sqlx::Error::Decode("stored identity handle is invalid".into()))?;
                identity_from_row(row, handle)
            })
            .collect()
    }
}

fn identity_from_row(row: &sqlx::postgres::PgRow, handle: IdentityHandle) -> StoreResult<Identity> {
    Ok(Identity {
        key: IdentityKey(row.try_get("id")?),
        handle,
        head_seq: Seq(row.try_get("head_seq")?),
        created_at: row.try_get::<DateTime<Utc>, _>("created_at")?,
    })
}
