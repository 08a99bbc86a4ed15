//! A tenant's API keys as its admins manage them: minted from a grant, listed, revoked.

use chrono::Utc;

use super::keyring::Keyring;
use crate::domain::key::{ApiKey, InvalidGrant, KeyGrant, KeySecret};
use crate::id::{ApiKeyId, TenantId};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Invalid(#[from] InvalidGrant),
    #[error("no such key")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key as the client asked for it.
pub struct KeyRequest<'a> {
    pub scopes: &'a [String],
    pub identity: Option<&'a str>,
    pub name: Option<String>,
}

impl Keyring {
    /// Mints a key; its secret is in this answer only, and stored as a hash.
    pub async fn issue(
        &self,
        tenant: TenantId,
        request: KeyRequest<'_>,
    ) -> Result<(ApiKey, KeySecret), KeyError> {
        let grant = KeyGrant::parse(request.scopes, request.identity, request.name)?;
        let secret = KeySecret::generate();
        let key = ApiKey {
            id: ApiKeyId::generate(),
            tenant_id: tenant,
            name: grant.name,
            scopes: grant.scopes,
            identity: grant.identity,
            created_at: Utc::now(),
        };
        self.store().create_api_key(&key, &secret.hash()).await?;
        Ok((key, secret))
    }

    /// Up to `limit` live keys after `after`, by id, without their secrets.
    pub async fn list(
        &self,
        tenant: TenantId,
        after: Option<ApiKeyId>,
        limit: u32,
    ) -> Result<Vec<ApiKey>, KeyError> {
        Ok(self.store().list_api_keys(tenant, after, limit).await?)
    }

    /// Revokes a key: it stops working at once here, and in other processes as soon as
    /// they hear of it. Forgotten here even if telling them failed: the revocation is
    /// committed.
    pub async fn revoke(&self, tenant: TenantId, id: ApiKeyId) -> Result<(), KeyError> {
        if !self.store().revoke_api_key(tenant, id).await? {
            return Err(KeyError::NotFound);
        }
        self.forget(id);
        Ok(())
    }
}
