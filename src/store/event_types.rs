//! The store's contract for tenants' own event types.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::StoreResult;
use crate::domain::event::EventType;
use crate::id::TenantId;

/// A tenant's own event type.
#[derive(Clone, Debug)]
pub struct CustomEventType {
    pub name: EventType,
    pub description: String,
    pub schema: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A tenant's own event types and their JSON Schemas.
#[async_trait]
pub trait EventTypeStore: Send + Sync {
    /// Creates or replaces a custom type; true when created.
    async fn upsert_event_type(
        &self,
        tenant: TenantId,
        name: &EventType,
        description: &str,
        schema: &Value,
    ) -> StoreResult<(CustomEventType, bool)>;
    async fn find_event_type(
        &self,
        tenant: TenantId,
        name: &EventType,
    ) -> StoreResult<Option<CustomEventType>>;
    async fn list_event_types(&self, tenant: TenantId) -> StoreResult<Vec<CustomEventType>>;
}
