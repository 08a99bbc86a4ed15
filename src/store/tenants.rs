//! The store's contract for tenants and their keys.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::key::{ApiKey, KeyHash};
use crate::domain::tenant::Tenant;
use crate::id::{ApiKeyId, TenantId};

/// Tenants and their API keys, stored only as hashes.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant with its first key, in one transaction.
    async fn create_tenant(&self, tenant: &Tenant, key: &ApiKey, hash: &KeyHash)
    -> StoreResult<()>;
    async fn create_api_key(&self, key: &ApiKey, hash: &KeyHash) -> StoreResult<()>;
    /// The live (unrevoked) key with this hash.
    async fn find_api_key(&self, hash: &KeyHash) -> StoreResult<Option<(ApiKey, KeyHash)>>;
    /// Live keys of a tenant, oldest first, after `after`.
    async fn list_api_keys(
        &self,
        tenant: TenantId,
        after: Option<ApiKeyId>,
        limit: u32,
    ) -> StoreResult<Vec<ApiKey>>;
    /// Revokes a live key; false when the tenant has no such live key.
    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId) -> StoreResult<bool>;
}
