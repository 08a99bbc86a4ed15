//! `TenantStore`: tenants and their API keys.

macro_rules! tenant_store {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn insert_api_key(
                connection: &mut <$db as ::sqlx::Database>::Connection,
                key: &$crate::domain::key::ApiKey,
                hash: &$crate::domain::key::KeyHash,
            ) -> $crate::store::StoreResult<()> {
                ::sqlx::query(
                    "INSERT INTO api_keys (id, tenant_id, name, key_hash, scopes, identity, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                    .bind(key.id.as_uuid())
                    .bind(key.tenant_id.as_uuid())
                    .bind(&key.name)
                    .bind(&hash.0[..])
                    .bind($crate::store::rows::scopes(key))
                    .bind(key.identity.as_ref().map(|handle| handle.as_str()))
                    .bind($crate::store::columns::Timestamp(key.created_at))
                    .execute(&mut *connection)
                    .await?;
                Ok(())
            }
        }

        #[::async_trait::async_trait]
        impl $crate::store::TenantStore for $store {
            /// Inserts the tenant and its first key in one transaction: a tenant never
            /// exists keyless.
            async fn create_tenant(
                &self,
                tenant: &$crate::domain::tenant::Tenant,
                key: &$crate::domain::key::ApiKey,
                hash: &$crate::domain::key::KeyHash,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                ::sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(tenant.id.as_uuid())
                    .bind(&tenant.name)
                    .bind($crate::store::columns::Timestamp(tenant.created_at))
                    .execute(&mut *tx)
                    .await?;
                Self::insert_api_key(&mut tx, key, hash).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_api_key(
                &self,
                key: &$crate::domain::key::ApiKey,
                hash: &$crate::domain::key::KeyHash,
            ) -> $crate::store::StoreResult<()> {
                let mut connection = self.writer().acquire().await?;
                Self::insert_api_key(&mut connection, key, hash).await
            }

            /// Looks a presented key up by its hash (unique index); revoked keys are
            /// invisible.
            async fn find_api_key(
                &self,
                hash: &$crate::domain::key::KeyHash,
            ) -> $crate::store::StoreResult<
                Option<($crate::domain::key::ApiKey, $crate::domain::key::KeyHash)>,
            > {
                use $crate::store::rows::ApiKeyRow;
                let row: Option<ApiKeyRow> = ::sqlx::query_as(&format!(
                    "SELECT {} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
                    ApiKeyRow::COLUMNS
                ))
                .bind(&hash.0[..])
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(ApiKeyRow::into_key).transpose()?)
            }

            async fn list_api_keys(
                &self,
                tenant: $crate::id::TenantId,
                after: Option<$crate::id::ApiKeyId>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::key::ApiKey>> {
                use $crate::store::rows::ApiKeyRow;
                let rows: Vec<ApiKeyRow> = ::sqlx::query_as(&format!(
                    "SELECT {} FROM api_keys
                     WHERE tenant_id = $1 AND revoked_at IS NULL AND ($2 IS NULL OR id > $2)
                     ORDER BY id LIMIT $3",
                    ApiKeyRow::COLUMNS
                ))
                .bind(tenant.as_uuid())
                .bind(after.map(|id| id.as_uuid()))
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|row| row.into_key().map(|(key, _)| key))
                    .collect::<Result<_, _>>()?)
            }

            async fn revoke_api_key(
                &self,
                tenant: $crate::id::TenantId,
                id: $crate::id::ApiKeyId,
            ) -> $crate::store::StoreResult<bool> {
                let result = ::sqlx::query(
                    "UPDATE api_keys SET revoked_at = $3
                     WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                )
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .bind($crate::store::columns::Timestamp(::chrono::Utc::now()))
                .execute(self.writer())
                .await?;
                let revoked = result.rows_affected() == 1;
                if revoked {
                    self.key_revoked(id).await;
                }
                Ok(revoked)
            }
        }
    };
}

pub(crate) use tenant_store;
