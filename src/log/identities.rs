//! Identities, the logs' owners: created on demand, found by handle, listed in handle
//! order. A key bound to one identity reaches that one only.

use super::{EventLog, LogError};
use crate::domain::identity::{Identity, IdentityHandle};
use crate::id::TenantId;

impl EventLog {
    /// Creates the identity unless it exists; answers it, and whether it is new.
    pub async fn create_identity(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
    ) -> Result<(Identity, bool), LogError> {
        Ok(self.store.create_identity(tenant, handle).await?)
    }

    pub async fn identity(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
    ) -> Result<Identity, LogError> {
        self.store
            .find_identity(tenant, handle)
            .await?
            .ok_or(LogError::UnknownIdentity)
    }

    /// Up to `limit` identities after `after`, by handle, whose handle starts with
    /// `prefix`; for a key bound to `bound`, that identity alone, if it exists and passes.
    pub async fn identities(
        &self,
        tenant: TenantId,
        bound: Option<&IdentityHandle>,
        after: Option<IdentityHandle>,
        prefix: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Identity>, LogError> {
        let Some(own) = bound else {
            return Ok(self
                .store
                .list_identities(tenant, after.as_ref(), prefix, limit)
                .await?);
        };
        if after.as_ref().is_some_and(|after| after >= own)
            || prefix.is_some_and(|prefix| !own.as_str().starts_with(prefix))
        {
            return Ok(Vec::new());
        }
        Ok(self
            .store
            .find_identity(tenant, own)
            .await?
            .into_iter()
            .collect())
    }
}
