//! A tenant's custom event types and their schemas.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::Row;

use super::PgStore;
use crate::domain::event::EventType;
use crate::id::TenantId;
use crate::store::{CustomEventType, EventTypeStore, StoreResult};

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
        let row = sqlx::query(
            "INSERT INTO event_types (tenant_id, name, description, schema, created_at, updated_at)
             VALUES ($1, $2, $3, $4, now(), now())
             ON CONFLICT (tenant_id, name)
             DO UPDATE SET description = EXCLUDED.description, schema = EXCLUDED.schema, updated_at = now()
             RETURNING name, description, schema, created_at, updated_at, (xmax = 0) AS created",
        )
        .bind(tenant.as_uuid())
        .bind(name.as_str())
        .bind(description)
        .bind(sqlx::types::Json(schema))
        .fetch_one(&self.pool)
        .await?;
        let created: bool = row.try_get("created")?;
        Ok((event_type_from_row(&row)?, created))
    }

    async fn find_event_type(
        &self,
        tenant: TenantId,
        name: &EventType,
    ) -> StoreResult<Option<CustomEventType>> {
        let row = sqlx::query(
            "SELECT name, description, schema, created_at, updated_at FROM event_types
             WHERE tenant_id = $1 AND name = $2",
        )
        .bind(tenant.as_uuid())
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| event_type_from_row(&row)).transpose()
    }

    async fn list_event_types(&self, tenant: TenantId) -> StoreResult<Vec<CustomEventType>> {
        let rows = sqlx::query(
            "SELECT name, description, schema, created_at, updated_at FROM event_types
             WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(tenant.as_uuid())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_type_from_row).collect()
    }
}

fn event_type_from_row(row: &sqlx::postgres::PgRow) -> StoreResult<CustomEventType> {
    let name: String = row.try_get("name")?;
    let name = EventType::parse(&name)
        .map_err(|_| sqlx::Error::Decode("stored event type name is invalid".into()))?;
    Ok(CustomEventType {
        name,
        description: row.try_get("description")?,
        schema: row.try_get::<sqlx::types::Json<Value>, _>("schema")?.0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
