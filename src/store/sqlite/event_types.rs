//! A tenant's custom event types and their schemas.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;

use super::SqliteStore;
use super::encoding::to_micros;
use crate::domain::event::EventType;
use crate::id::TenantId;
use crate::store::rows::EventTypeRow;
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
        let row: EventTypeRow = sqlx::query_as(&format!(
            "INSERT INTO event_types (tenant_id, name, description, schema, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (tenant_id, name)
             DO UPDATE SET description = excluded.description, schema = excluded.schema,
                           updated_at = excluded.updated_at
             RETURNING {}",
            EventTypeRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(name.as_str())
        .bind(description)
        .bind(sqlx::types::Json(schema))
        .bind(to_micros(Utc::now()))
        .fetch_one(&mut *tx)
        .await?;
        let event_type = row.try_into()?;
        tx.commit().await?;
        Ok((event_type, existing.is_none()))
    }

    async fn find_event_type(
        &self,
        tenant: TenantId,
        name: &EventType,
    ) -> StoreResult<Option<CustomEventType>> {
        let row: Option<EventTypeRow> = sqlx::query_as(&format!(
            "SELECT {} FROM event_types WHERE tenant_id = ?1 AND name = ?2",
            EventTypeRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .bind(name.as_str())
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(CustomEventType::try_from).transpose()?)
    }

    async fn list_event_types(&self, tenant: TenantId) -> StoreResult<Vec<CustomEventType>> {
        let rows: Vec<EventTypeRow> = sqlx::query_as(&format!(
            "SELECT {} FROM event_types WHERE tenant_id = ?1 ORDER BY name",
            EventTypeRow::COLUMNS
        ))
        .bind(tenant.as_uuid())
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(CustomEventType::try_from)
            .collect::<Result<_, _>>()?)
    }
}
