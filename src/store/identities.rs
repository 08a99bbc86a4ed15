//! The store's contract for identities.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::identity::{Identity, IdentityHandle};
use crate::id::TenantId;

/// Identities: a tenant's logs, by handle, each with its counter.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Creates the identity unless it exists; true when this call created it.
    async fn create_identity(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
    ) -> StoreResult<(Identity, bool)>;
    async fn find_identity(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
    ) -> StoreResult<Option<Identity>>;
    /// Identities by handle, after `after`.
    /// Up to `limit` identities after `after`, by handle; only those whose handle starts
    /// with `prefix`, if one is given.
    async fn list_identities(
        &self,
        tenant: TenantId,
        after: Option<&IdentityHandle>,
        prefix: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Identity>>;
}
