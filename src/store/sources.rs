//! The store's contract for inbound sources, the fingerprints of the posts they took, and
//! the posts they refused.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::source::{Refusal, Source};
use crate::id::{SourceId, TenantId};

#[async_trait]
pub trait SourceStore: Send + Sync {
    async fn create_source(&self, source: &Source) -> StoreResult<()>;
    /// The tenant's source; with no tenant, whoever's it is (an ingest post names only it).
    async fn find_source(
        &self,
        tenant: Option<TenantId>,
        id: SourceId,
    ) -> StoreResult<Option<Source>>;
    /// Up to `limit` sources after `after`, by id.
    async fn list_sources(
        &self,
        tenant: TenantId,
        after: Option<SourceId>,
        limit: u32,
    ) -> StoreResult<Vec<Source>>;
    /// Deletes the source with its receipts and refusals.
    async fn delete_source(&self, tenant: TenantId, id: SourceId) -> StoreResult<bool>;
    /// Claims a post's fingerprint, unless it was already claimed; forgets the source's
    /// claimed before `forget_before`.
    async fn claim_receipt(
        &self,
        source: SourceId,
        fingerprint: &str,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Gives a claimed fingerprint back, for a post the server failed to take.
    async fn release_receipt(&self, source: SourceId, fingerprint: &str) -> StoreResult<()>;
    /// Logs a refused post, keeping the source's newest `keep`.
    async fn record_refusal(
        &self,
        source: SourceId,
        refusal: &Refusal,
        keep: u32,
    ) -> StoreResult<()>;
    /// The source's refused posts, newest first.
    async fn refusals(&self, source: SourceId, limit: u32) -> StoreResult<Vec<Refusal>>;
}
