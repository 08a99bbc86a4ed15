//! `IdentityStore`: one row per handle per tenant, carrying the log's head.

macro_rules! identity_store {
    ($store:ty) => {
        #[::async_trait::async_trait]
        impl $crate::store::IdentityStore for $store {
            /// Inserts unless the handle exists; takes no lock on a live row, so creating an
            /// identity that exists never waits behind its appends. An existing row was
            /// committed by an earlier write, so the reader finds it. An erased handle comes
            /// back on its old row: its log continues after the old head.
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
                if let Some(existing) = self.find_identity(tenant, handle).await? {
                    return Ok((existing, false));
                }
                let revived: Option<IdentityRow> = ::sqlx::query_as(&format!(
                    "UPDATE identities SET erased_at = NULL, created_at = $3
                     WHERE tenant_id = $1 AND handle = $2 AND erased_at IS NOT NULL
                     RETURNING {}",
                    IdentityRow::COLUMNS
                ))
                .bind(tenant.as_uuid())
                .bind(handle.as_str())
                .bind($crate::store::columns::Timestamp(::chrono::Utc::now()))
                .fetch_optional(self.writer())
                .await?;
                if let Some(row) = revived {
                    return Ok((row.try_into()?, true));
                }
                // Rows are never deleted: another request revived it a moment ago.
                let existing = self.find_identity(tenant, handle).await?;
                Ok((existing.ok_or(::sqlx::Error::RowNotFound)?, false))
            }

            async fn find_identity(
                &self,
                tenant: $crate::id::TenantId,
                handle: &$crate::domain::identity::IdentityHandle,
            ) -> $crate::store::StoreResult<Option<$crate::domain::identity::Identity>> {
                use $crate::store::rows::IdentityRow;
                let row: Option<IdentityRow> = ::sqlx::query_as(&format!(
                    "SELECT {} FROM identities
                     WHERE tenant_id = $1 AND handle = $2 AND erased_at IS NULL",
                    IdentityRow::SHOWN
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
                prefix: Option<&str>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::identity::Identity>> {
                use $crate::store::rows::IdentityRow;
                // A prefix is a range of the handle index: every handle's characters sort
                // below `~` (handles compare bytewise on both databases).
                let rows: Vec<IdentityRow> = ::sqlx::query_as(&format!(
                    "SELECT {} FROM identities
                     WHERE tenant_id = $1 AND ($2 IS NULL OR handle > $2) AND erased_at IS NULL
                       AND ($4 IS NULL OR (handle >= $4 AND handle < $4 || '~'))
                     ORDER BY handle LIMIT $3",
                    IdentityRow::SHOWN
                ))
                .bind(tenant.as_uuid())
                .bind(after.map(|handle| handle.as_str()))
                .bind(i64::from(limit))
                .bind(prefix)
                .fetch_all(self.reader())
                .await?;
                Ok($crate::store::rows::decoded(rows)?)
            }
        }
    };
}

pub(crate) use identity_store;
