//! A tenant's custom event types and their schemas.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::FromRow;

use super::PgStore;
use crate::domain::event::EventType;
use crate::id::TenantId;
use crate::store::rows::EventTypeRow;
use crate::store::{CustomEventType, EventTypeStore, StoreResult};

#[derive(FromRow)]
struct Upserted {
    created: bool,
    #[sqlx(flatten)]
    event_type: EventTypeRow,
}

#[async_trait]
impl EventTypeStore for PgStore {
    /// Creates or replaces; `created_at` survives a replace. `xmax = 0` tells an insert from an
    /// update in the same statement.
    async fn upsert_event_type(
        &self,
        tenant: TenantId,
        name: &EventType,
        description: &str,
        schema: &Value,
    ) -> StoreResult<(CustomEventType, bool)> {
        let upserted: Upserted = sqlx::query_as(&format!(
            "INSERT INTO event_types (tenant_id, name, description, schema, created_at, updated_at)
             VALUES ($1, $2, $3, $4, now(), now())
             ON CONFLICT (tenant_id, name)
             DO UPDATE SET description = EXCLUDED.description, schema = EXCLUDED.schema, updated_at = now()
             RETURNING {}, (xmax = 0) AS created",
            EventTypeRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(name.as_str())
        .bind(description)
        .bind(sqlx::types::Json(schema))
        .fetch_one(&self.pool)
        .await?;
        Ok((upserted.event_type.try_into()?, upserted.created))
    }

    async fn find_event_type(
        &self,
        tenant: TenantId,
        name: &EventType,
    ) -> StoreResult<Option<CustomEventType>> {
        let row: Option<EventTypeRow> = sqlx::query_as(&format!(
            "SELECT {} FROM event_types WHERE tenant_id = $1 AND name = $2",
            EventTypeRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(CustomEventType::try_from).transpose()?)
    }

    async fn list_event_types(&self, tenant: TenantId) -> StoreResult<Vec<CustomEventType>> {
        let rows: Vec<EventTypeRow> = sqlx::query_as(&format!(
            "SELECT {} FROM event_types WHERE tenant_id = $1 ORDER BY name",
            EventTypeRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(CustomEventType::try_from)
            .collect::<Result<_, _>>()?)
    }
}
