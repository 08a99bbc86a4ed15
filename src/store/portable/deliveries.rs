//! `DeliveryLog`: deliveries with their attempts, as the API shows them, and a retry on
//! demand. Deliveries of events no longer held (expired or erased) are not there, even
//! before the sweep removes them.

macro_rules! delivery_log {
    ($store:ty) => {
        impl $store {
            /// Fetches the attempts of a page of deliveries in one query.
            async fn with_attempts(
                &self,
                rows: Vec<$crate::store::rows::DeliveryRow>,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::delivery::Delivery>> {
                use $crate::store::rows::AttemptRow;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let mut query = ::sqlx::QueryBuilder::new(format!(
                    "SELECT {} FROM delivery_attempts WHERE delivery_id IN (",
                    AttemptRow::COLUMNS
                ));
                let mut ids = query.separated(", ");
                for row in &rows {
                    ids.push_bind(row.id().as_uuid());
                }
                query.push(") ORDER BY delivery_id, attempt");
                let attempts: Vec<AttemptRow> =
                    query.build_query_as().fetch_all(self.reader()).await?;
                Ok($crate::store::rows::deliveries(rows, attempts)?)
            }
        }

        #[::async_trait::async_trait]
        impl $crate::store::DeliveryLog for $store {
            async fn list_deliveries(
                &self,
                query: $crate::store::DeliveryQuery<'_>,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::delivery::Delivery>> {
                use $crate::store::rows::DeliveryRow;
                let rows: Vec<DeliveryRow> = ::sqlx::query_as(&format!(
                    "SELECT {}
                     FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
                     JOIN identities i ON i.id = d.identity_id
                     WHERE w.tenant_id = $1 AND d.webhook_id = $2 AND d.seq >= i.earliest_seq
                       AND ($3 IS NULL OR d.status = $3) AND ($4 IS NULL OR i.handle = $4)
                       AND ($5 IS NULL OR d.id > $5)
                     ORDER BY d.id LIMIT $6",
                    DeliveryRow::COLUMNS
                ))
                .bind(query.tenant.as_uuid())
                .bind(query.webhook.as_uuid())
                .bind(query.status.map(|status| status.as_str()))
                .bind(query.identity.map(|handle| handle.as_str()))
                .bind(query.after.map(|id| id.as_uuid()))
                .bind(i64::from(query.limit))
                .fetch_all(self.reader())
                .await?;
                self.with_attempts(rows).await
            }

            async fn find_delivery(
                &self,
                tenant: $crate::id::TenantId,
                id: $crate::id::DeliveryId,
            ) -> $crate::store::StoreResult<Option<$crate::domain::delivery::Delivery>> {
                use $crate::store::rows::DeliveryRow;
                let rows: Vec<DeliveryRow> = ::sqlx::query_as(&format!(
                    "SELECT {}
                     FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
                     JOIN identities i ON i.id = d.identity_id
                     WHERE w.tenant_id = $1 AND d.id = $2 AND d.seq >= i.earliest_seq",
                    DeliveryRow::COLUMNS
                ))
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .fetch_all(self.reader())
                .await?;
                Ok(self.with_attempts(rows).await?.pop())
            }

            /// The update commits before the delivery is read back, so the answer shows it.
            async fn retry_delivery(
                &self,
                tenant: $crate::id::TenantId,
                id: $crate::id::DeliveryId,
                now: ::chrono::DateTime<::chrono::Utc>,
            ) -> $crate::store::StoreResult<Option<$crate::domain::delivery::Delivery>> {
                let updated = ::sqlx::query(
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = $3
                     WHERE id = $2 AND webhook_id IN (SELECT id FROM webhooks WHERE tenant_id = $1)
                       AND seq >= (SELECT earliest_seq FROM identities WHERE id = deliveries.identity_id)",
                )
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .bind($crate::store::columns::Timestamp(now))
                .execute(self.writer())
                .await?;
                if updated.rows_affected() == 0 {
                    return Ok(None);
                }
                self.find_delivery(tenant, id).await
            }
        }
    };
}

pub(crate) use delivery_log;
