//! The event types a tenant may append: the built-ins plus its own. Compiled schemas of
//! custom types are cached briefly; a change made through this process takes effect at
//! once, one made through another process within `CUSTOM_TTL`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::domain::event::EventType;
use crate::id::TenantId;
use crate::log::schema::{BUILTIN, EventSchema};
use crate::store::{CustomEventType, Store, StoreResult};

const CUSTOM_TTL: Duration = Duration::from_secs(5);

pub enum Schema {
    Builtin(&'static EventSchema),
    Custom(Arc<EventSchema>),
}

impl std::ops::Deref for Schema {
    type Target = EventSchema;

    fn deref(&self) -> &EventSchema {
        match self {
            Schema::Builtin(schema) => schema,
            Schema::Custom(schema) => schema,
        }
    }
}

/// Compiled custom schemas, with when each was fetched.
type CustomCache = HashMap<(TenantId, EventType), (Arc<EventSchema>, Instant)>;

pub struct Catalog {
    store: Arc<dyn Store>,
    custom: Mutex<CustomCache>,
}

impl Catalog {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            custom: Mutex::default(),
        }
    }

    /// The schema `name` must satisfy for `tenant`, or `None` when the type is unknown.
    pub async fn schema(&self, tenant: TenantId, name: &EventType) -> StoreResult<Option<Schema>> {
        if let Some(schema) = BUILTIN.get(name.as_str()) {
            return Ok(Some(Schema::Builtin(schema)));
        }
        let key = (tenant, name.clone());
        if let Some((schema, fetched)) = self.custom.lock().expect("catalog lock").get(&key) {
            if fetched.elapsed() < CUSTOM_TTL {
                return Ok(Some(Schema::Custom(Arc::clone(schema))));
            }
        }
        let Some(stored) = self.store.find_event_type(tenant, name).await? else {
            return Ok(None);
        };
        // A stored schema compiled when it was saved; failing now would mean the validator
        // changed underneath it, and refusing the type is the safe answer.
        let Ok(schema) = EventSchema::compile(stored.description, stored.schema) else {
            tracing::error!(event_type = %name, "a stored custom schema no longer compiles");
            return Ok(None);
        };
        let schema = Arc::new(schema);
        self.custom
            .lock()
            .expect("catalog lock")
            .insert(key, (Arc::clone(&schema), Instant::now()));
        Ok(Some(Schema::Custom(schema)))
    }

    /// Saves a custom type whose schema already compiled.
    pub async fn define(
        &self,
        tenant: TenantId,
        name: EventType,
        schema: EventSchema,
    ) -> StoreResult<(CustomEventType, bool)> {
        let saved = self
            .store
            .upsert_event_type(tenant, &name, &schema.description, &schema.schema)
            .await?;
        self.custom
            .lock()
            .expect("catalog lock")
            .insert((tenant, name), (Arc::new(schema), Instant::now()));
        Ok(saved)
    }

    pub async fn custom_types(&self, tenant: TenantId) -> StoreResult<Vec<CustomEventType>> {
        self.store.list_event_types(tenant).await
    }

    pub fn builtin_types() -> impl Iterator<Item = (&'static str, &'static str, &'static Value)> {
        BUILTIN
            .iter()
            .map(|(name, schema)| (*name, schema.description.as_str(), &schema.schema))
    }
}
