//! `IdentityStore`: one row per handle per tenant, carrying the log's head.

macro_rules! identity_store {
    ($store:ty) => {
        #[::async_trait::async_trait]
        impl $crate::store::IdentityStore for $store {
            /// Inserts unless the handle exists; takes no lock on an existing row, so
            /// creating an identity that exists never waits behind its appends. An existing
            /// row was committed by an earlier write, so the reader finds it.
            async fn create_identity(
                &self,
                tenant: $crate::id::TenantId,
                handle: &$crate::domain::identity::IdentityHandle,
            ) -> $crate::store::StoreResult<($crate::domain::identity::Identity, bool)> {
                use $crate::store::rows::IdentityRow;
                let inserted: Option<IdentityRow> = ::sqlx::query_as(&format!(
                    "INSERT INTO identities (tenant_id, handle, created_at) VALUES ($1, $2, $3)
                     ON CONFLICT (tenant_id, handle) DO NOTHING
                     RETURNING {}",
                    IdentityRow::COLUMNS
                ))
                .bind(tenant.as_uuid())
                .bind(handle.as_str())
                .bind($crate::store::columns::Timestamp(::chrono::Utc::now()))
                .fetch_optional(self.writer())
                .await?;
                if let Some(row) = inserted {
                    return Ok((row.try_into()?, true));
                }
                let existing = self.find_identity(tenant, handle).await?;
                // Identities are never deleted, so the conflicting row is still there.
                let identity = existing.ok_or(::sqlx::Error::RowNotFound)?;
                Ok((identity, false))
            }

            async fn find_identity(
                &self,
                tenant: $crate::id::TenantId,
                handle: &$crate::domain::identity::IdentityHandle,
            ) -> $crate::store::StoreResult<Option<$crate::domain::identity::Identity>> {
                use $crate::store::rows::IdentityRow;
                let row: Option<IdentityRow> = ::sqlx::query_as(&format!(
                    "SELECT {} FROM identities WHERE tenant_id = $1 AND handle = $2",
                    IdentityRow::COLUMNS
                ))
                .bind(tenant.as_uuid())
                .bind(handle.as_str())
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(TryInto::try_into).transpose()?)
            }

            async fn list_identities(
                &self,
                tenant: $crate::id::TenantId,
                after: Option<&$crate::domain::identity::IdentityHandle>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::identity::Identity>> {
                use $crate::store::rows::IdentityRow;
                let rows: Vec<IdentityRow> = ::sqlx::query_as(&format!(
                    "SELECT {} FROM identities
                     WHERE tenant_id = $1 AND ($2 IS NULL OR handle > $2)
                     ORDER BY handle LIMIT $3",
                    IdentityRow::COLUMNS
                ))
                .bind(tenant.as_uuid())
                .bind(after.map(|handle| handle.as_str()))
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await?;
                Ok($crate::store::rows::decoded(rows)?)
            }
        }
    };
}

pub(crate) use identity_store;
