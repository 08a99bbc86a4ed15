//! Provisioning: creating a tenant with its first key, in one write.

use chrono::Utc;

use crate::domain::key::{ApiKey, KeySecret, Scope};
use crate::domain::tenant::Tenant;
use crate::id::{ApiKeyId, TenantId};
use crate::store::{Store, StoreResult};

pub struct CreatedTenant {
    pub tenant: Tenant,
    pub key: ApiKey,
    pub secret: KeySecret,
}

/// Creates a tenant with its first key, which holds every scope.
pub async fn create_tenant(store: &dyn Store, name: String) -> StoreResult<CreatedTenant> {
    let now = Utc::now();
    let tenant = Tenant {
        id: TenantId::generate(),
        name,
        created_at: now,
    };
    let secret = KeySecret::generate();
    let key = ApiKey {
        id: ApiKeyId::generate(),
        tenant_id: tenant.id,
        name: Some("default".into()),
        scopes: Scope::ALL.to_vec(),
        identity: None,
        created_at: now,
    };
    store.create_tenant(&tenant, &key, &secret.hash()).await?;
    Ok(CreatedTenant {
        tenant,
        key,
        secret,
    })
}
