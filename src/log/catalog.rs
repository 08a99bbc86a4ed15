//! The event types a tenant may append: the built-ins plus its own. Compiled schemas of
//! custom types are cached briefly; a change made through this process takes effect at
//! once, one made through another process within `CUSTOM_TTL`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::domain::description::parse_description;
use crate::domain::event::EventType;
use crate::id::TenantId;
use crate::log::schema::{BUILTIN, EventSchema};
use crate::store::{CustomEventType, Store, StoreError, StoreResult};

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

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0}")]
    InvalidName(String),
    #[error("`{0}` is a built-in type and cannot be redefined")]
    Reserved(EventType),
    #[error("{0}")]
    InvalidDescription(String),
    #[error("{0}")]
    InvalidSchema(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An event type as the catalog lists it.
pub enum TypeEntry {
    Builtin {
        name: &'static str,
        schema: &'static EventSchema,
    },
    Custom(CustomEventType),
}

/// Compiled custom schemas, with when each was fetched; `None` where a tenant has no type
/// of a built-in name it could have defined before (`EventType::yields_to_tenants`).
type CustomCache = HashMap<(TenantId, EventType), (Option<Arc<EventSchema>>, Instant)>;

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
            if name.yields_to_tenants() {
                if let Some(own) = self.custom_schema(tenant, name).await? {
                    return Ok(Some(Schema::Custom(own)));
                }
            }
            return Ok(Some(Schema::Builtin(schema)));
        }
        Ok(self.custom_schema(tenant, name).await?.map(Schema::Custom))
    }

    async fn custom_schema(
        &self,
        tenant: TenantId,
        name: &EventType,
    ) -> StoreResult<Option<Arc<EventSchema>>> {
        let key = (tenant, name.clone());
        if let Some((schema, fetched)) = self.custom.lock().expect("catalog lock").get(&key) {
            if fetched.elapsed() < CUSTOM_TTL {
                return Ok(schema.clone());
            }
        }
        let found = match self.store.find_event_type(tenant, name).await? {
            // A stored schema compiled when it was saved; failing now would mean the
            // validator changed underneath it, and refusing the type is the safe answer.
            Some(stored) => match EventSchema::compile(stored.description, stored.schema) {
                Ok(schema) => Some(Arc::new(schema)),
                Err(_) => {
                    tracing::error!(event_type = %name, "a stored custom schema no longer compiles");
                    return Ok(None);
                }
            },
            None => None,
        };
        // Absence is remembered only for the names a built-in stands behind: an unknown
        // type is an error its client corrects, not a path to keep fast.
        if found.is_some() || name.yields_to_tenants() {
            self.custom
                .lock()
                .expect("catalog lock")
                .insert(key, (found.clone(), Instant::now()));
        }
        Ok(found)
    }

    /// Creates or replaces one of the tenant's own types; answers it, and whether it is
    /// new. Built-in and `webhook.*` names are reserved; the schema must compile.
    pub async fn define(
        &self,
        tenant: TenantId,
        name: &str,
        description: String,
        schema: Value,
    ) -> Result<(CustomEventType, bool), CatalogError> {
        let name =
            EventType::parse(name).map_err(|error| CatalogError::InvalidName(error.to_string()))?;
        let keeps_own =
            name.yields_to_tenants() && self.store.find_event_type(tenant, &name).await?.is_some();
        if name.is_reserved() && !keeps_own {
            return Err(CatalogError::Reserved(name));
        }
        let description = parse_description(description)
            .map_err(|error| CatalogError::InvalidDescription(error.to_string()))?;
        let schema = EventSchema::compile(description, schema)
            .map_err(|error| CatalogError::InvalidSchema(error.to_string()))?;
        let saved = self
            .store
            .upsert_event_type(tenant, &name, &schema.description, &schema.schema)
            .await?;
        self.custom
            .lock()
            .expect("catalog lock")
            .insert((tenant, name), (Some(Arc::new(schema)), Instant::now()));
        Ok(saved)
    }

    /// The built-in type or the tenant's own of that name.
    pub async fn find(
        &self,
        tenant: TenantId,
        name: &EventType,
    ) -> Result<Option<TypeEntry>, CatalogError> {
        let builtin = BUILTIN.get_key_value(name.as_str());
        if let Some((name, schema)) = builtin.filter(|_| !name.yields_to_tenants()) {
            return Ok(Some(TypeEntry::Builtin { name, schema }));
        }
        let own = self.store.find_event_type(tenant, name).await?;
        Ok(own
            .map(TypeEntry::Custom)
            .or_else(|| builtin.map(|(name, schema)| TypeEntry::Builtin { name, schema })))
    }

    /// Every type the tenant may append: the built-ins, then its own.
    pub async fn list(&self, tenant: TenantId) -> Result<Vec<TypeEntry>, CatalogError> {
        let custom = self.store.list_event_types(tenant).await?;
        let own: Vec<String> = custom
            .iter()
            .map(|mine| mine.name.as_str().to_owned())
            .collect();
        Ok(BUILTIN
            .iter()
            .filter(|(name, _)| !own.iter().any(|mine| mine == *name))
            .map(|(name, schema)| TypeEntry::Builtin { name, schema })
            .chain(custom.into_iter().map(TypeEntry::Custom))
            .collect())
    }
}
