//! `SourceStore`: inbound sources, their receipts and their refused posts.

macro_rules! source_store {
    ($store:ty) => {
        #[::async_trait::async_trait]
        impl $crate::store::SourceStore for $store {
            async fn create_source(
                &self,
                source: &$crate::domain::source::Source,
            ) -> $crate::store::StoreResult<()> {
                ::sqlx::query(
                    "INSERT INTO sources (id, tenant_id, provider, credential, identity_from,
                                          description, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(source.id.as_uuid())
                .bind(source.tenant_id.as_uuid())
                .bind(source.provider.as_str())
                .bind(source.credential.stored())
                .bind(source.identity.as_str())
                .bind(&source.description)
                .bind($crate::store::columns::Timestamp(source.created_at))
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn find_source(
                &self,
                tenant: Option<$crate::id::TenantId>,
                id: $crate::id::SourceId,
            ) -> $crate::store::StoreResult<Option<$crate::domain::source::Source>> {
                use $crate::store::rows::SourceRow;
                let row: Option<SourceRow> = ::sqlx::query_as(&format!(
                    "SELECT {} FROM sources WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2)",
                    SourceRow::COLUMNS
                ))
                .bind(id.as_uuid())
                .bind(tenant.map(|tenant| tenant.as_uuid()))
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(TryInto::try_into).transpose()?)
            }

            async fn list_sources(
                &self,
                tenant: $crate::id::TenantId,
                after: Option<$crate::id::SourceId>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::source::Source>> {
                use $crate::store::rows::SourceRow;
                let rows: Vec<SourceRow> = ::sqlx::query_as(&format!(
                    "SELECT {} FROM sources WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2)
                     ORDER BY id LIMIT $3",
                    SourceRow::COLUMNS
                ))
                .bind(tenant.as_uuid())
                .bind(after.map(|id| id.as_uuid()))
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await?;
                Ok($crate::store::rows::decoded(rows)?)
            }

            async fn delete_source(
                &self,
                tenant: $crate::id::TenantId,
                id: $crate::id::SourceId,
            ) -> $crate::store::StoreResult<bool> {
                let result = ::sqlx::query("DELETE FROM sources WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.as_uuid())
                    .bind(id.as_uuid())
                    .execute(self.writer())
                    .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn claim_receipt(
                &self,
                source: $crate::id::SourceId,
                fingerprint: &str,
                now: ::chrono::DateTime<::chrono::Utc>,
                forget_before: ::chrono::DateTime<::chrono::Utc>,
            ) -> $crate::store::StoreResult<bool> {
                use $crate::store::columns::Timestamp;
                let mut tx = self.begin_write().await?;
                ::sqlx::query(
                    "DELETE FROM source_receipts WHERE source_id = $1 AND received_at < $2",
                )
                .bind(source.as_uuid())
                .bind(Timestamp(forget_before))
                .execute(&mut *tx)
                .await?;
                let claimed = ::sqlx::query(
                    "INSERT INTO source_receipts (source_id, fingerprint, received_at)
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(source.as_uuid())
                .bind(fingerprint)
                .bind(Timestamp(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(claimed.rows_affected() == 1)
            }

            async fn release_receipt(
                &self,
                source: $crate::id::SourceId,
                fingerprint: &str,
            ) -> $crate::store::StoreResult<()> {
                ::sqlx::query(
                    "DELETE FROM source_receipts WHERE source_id = $1 AND fingerprint = $2",
                )
                .bind(source.as_uuid())
                .bind(fingerprint)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn record_refusal(
                &self,
                source: $crate::id::SourceId,
                refusal: &$crate::domain::source::Refusal,
                keep: u32,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::columns::Timestamp;
                let mut tx = self.begin_write().await?;
                ::sqlx::query(
                    "INSERT INTO source_refusals (id, source_id, at, status, code, message)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind($crate::id::RefusalId::generate().as_uuid())
                .bind(source.as_uuid())
                .bind(Timestamp(refusal.at))
                .bind(i32::from(refusal.status))
                .bind(&refusal.code)
                .bind(&refusal.message)
                .execute(&mut *tx)
                .await?;
                ::sqlx::query(
                    "DELETE FROM source_refusals WHERE source_id = $1 AND id NOT IN (
                         SELECT id FROM source_refusals WHERE source_id = $1
                         ORDER BY at DESC, id DESC LIMIT $2)",
                )
                .bind(source.as_uuid())
                .bind(i64::from(keep))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn refusals(
                &self,
                source: $crate::id::SourceId,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::source::Refusal>> {
                use $crate::store::rows::RefusalRow;
                let rows: Vec<RefusalRow> = ::sqlx::query_as(&format!(
                    "SELECT {} FROM source_refusals WHERE source_id = $1
                     ORDER BY at DESC, id DESC LIMIT $2",
                    RefusalRow::COLUMNS
                ))
                .bind(source.as_uuid())
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await?;
                Ok($crate::store::rows::decoded(rows)?)
            }
        }
    };
}

pub(crate) use source_store;
