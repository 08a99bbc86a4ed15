//! A tenant's custom event types and their schemas.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::encoding::{decode_error, timestamp, to_micros};
use crate::domain::event::EventType;
use crate::id::TenantId;
use crate::store::{CustomEventType, EventTypeStore, StoreResult};

#[async_trait]
impl EventTypeStore for SqliteStore {
    /// Creates or replaces; `created_at` survives a replace. SQLite's upsert cannot say which it
    /// did, so the transaction looks first; the write lock it holds keeps the answer true.
    async fn upsert_event_type(
        &self,
        tenant: TenantId,
        name: &EventType,
        description: &str,
        schema: &Value,
    ) -> StoreResult<(CustomEventType, bool)> {
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query("SELECT 1 FROM event_types WHERE tenant_id = ?1 AND name = ?2")
            .bind(tenant.as_uuid())
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let row = sqlx::query(
            "INSERT INTO event_types (tenant_id, name, description, schema, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (tenant_id, name)
             DO UPDATE SET description = excluded.description, schema = excluded.schema,
                           updated_at = excluded.updated_at
             RETURNING name, description, schema, created_at, updated_at",
        )
        .bind(tenant.as_uuid())
        .bind(name.as_str())
        .bind(description)
        .bind(sqlx::types::Json(schema))
        .bind(to_micros(Utc::now()))
        .fetch_one(&mut *tx)
        .await?;
        let event_type = event_type_from_row(&row)?;
        tx.commit().await?;
        Ok((event_type, existing.is_none()))
    }

    async fn find_event_type(
        &self,
        tenant: TenantId,
        name: &EventType,
    ) -> StoreResult<Option<CustomEventType>> {
        let row = sqlx::query(
            "SELECT name, description, schema, created_at, updated_at FROM event_types
             WHERE tenant_id = ?1 AND name = ?2",
        )
        .bind(tenant.as_uuid())
        .bind(name.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| event_type_from_row(&row)).transpose()
    }

    async fn list_event_types(&self, tenant: TenantId) -> StoreResult<Vec<CustomEventType>> {
        let rows = sqlx::query(
            "SELECT name, description, schema, created_at, updated_at FROM event_types
             WHERE tenant_id = ?1 ORDER BY name",
        )
        .bind(tenant.as_uuid())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(event_type_from_row).collect()
    }
}

fn event_type_from_row(row: &SqliteRow) -> StoreResult<CustomEventType> {
    let name: String = row.try_get("name")?;
    let name =
        EventType::parse(&name).map_err(|_| decode_error("stored event type name is invalid"))?;
    Ok(CustomEventType {
        name,
        description: row.try_get("description")?,
        schema: row.try_get::<sqlx::types::Json<Value>, _>("schema")?.0,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}
