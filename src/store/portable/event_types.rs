//! `EventTypeStore`: a tenant's custom event types and their schemas.

macro_rules! event_type_store {
    ($store:ty) => {
        #[::async_trait::async_trait]
        impl $crate::store::EventTypeStore for $store {
            /// Creates or replaces; `created_at` survives a replace. A row whose
            /// `created_at` is this upsert's own time was inserted by it: one statement
            /// tells an insert from an update, on both databases.
            async fn upsert_event_type(
                &self,
                tenant: $crate::id::TenantId,
                name: &$crate::domain::event::EventType,
                description: &str,
                schema: &::serde_json::Value,
            ) -> $crate::store::StoreResult<($crate::store::CustomEventType, bool)> {
                use ::chrono::SubsecRound;
                use $crate::store::rows::EventTypeRow;
                // Stored to the microsecond, so compared to the microsecond.
                let now = ::chrono::Utc::now().trunc_subsecs(6);
                let row: EventTypeRow = ::sqlx::query_as(&format!(
                    "INSERT INTO event_types (tenant_id, name, description, schema, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $5)
                     ON CONFLICT (tenant_id, name)
                     DO UPDATE SET description = excluded.description, schema = excluded.schema,
                                   updated_at = excluded.updated_at
                     RETURNING {}",
                    EventTypeRow::COLUMNS
                ))
                .bind(tenant.as_uuid())
                .bind(name.as_str())
                .bind(description)
                .bind(::sqlx::types::Json(schema))
                .bind($crate::store::columns::Timestamp(now))
                .fetch_one(self.writer())
                .await?;
                let saved: $crate::store::CustomEventType = row.try_into()?;
                let created = saved.created_at == now;
                Ok((saved, created))
            }

            async fn find_event_type(
                &self,
                tenant: $crate::id::TenantId,
                name: &$crate::domain::event::EventType,
            ) -> $crate::store::StoreResult<Option<$crate::store::CustomEventType>> {
                use $crate::store::rows::EventTypeRow;
                let row: Option<EventTypeRow> = ::sqlx::query_as(&format!(
                    "SELECT {} FROM event_types WHERE tenant_id = $1 AND name = $2",
                    EventTypeRow::COLUMNS
                ))
                .bind(tenant.as_uuid())
                .bind(name.as_str())
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(TryInto::try_into).transpose()?)
            }

            async fn list_event_types(
                &self,
                tenant: $crate::id::TenantId,
            ) -> $crate::store::StoreResult<Vec<$crate::store::CustomEventType>> {
                use $crate::store::rows::EventTypeRow;
                let rows: Vec<EventTypeRow> = ::sqlx::query_as(&format!(
                    "SELECT {} FROM event_types WHERE tenant_id = $1 ORDER BY name",
                    EventTypeRow::COLUMNS
                ))
                .bind(tenant.as_uuid())
                .fetch_all(self.reader())
                .await?;
                Ok($crate::store::rows::decoded(rows)?)
            }
        }
    };
}

pub(crate) use event_type_store;
