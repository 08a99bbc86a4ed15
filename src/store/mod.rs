//! PERSISTENCE: the only module that speaks SQL. One `Store` trait, named by intent, and
//! one implementation per backend; everything above it sees domain types only.

pub mod error;
pub mod postgres;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use error::StoreError;

use crate::id::{ApiKeyId, EventId, TenantId};
use crate::log::cursor::{Page, Seq};
use crate::log::event::{EventType, NewEvent, StoredEvent};
use crate::log::identity::{Identity, IdentityHandle, IdentityKey};
use crate::tenant::{ApiKey, KeyHash, Tenant};

pub type StoreResult<T> = Result<T, StoreError>;

/// The events one request appends to one identity, in order.
pub struct AppendRequest<'a> {
    pub identity: IdentityKey,
    pub events: &'a [NewEvent],
}

/// A page read: the events after `since`, at most `limit`, of `types` if given, looking at
/// no seq past `since + scan_window` so a sparse filter cannot scan a whole log.
pub struct ReadRequest<'a> {
    pub identity: IdentityKey,
    pub since: Seq,
    pub limit: u32,
    pub types: Option<&'a [EventType]>,
    pub scan_window: i64,
}

/// A tenant's own event type.
#[derive(Clone, Debug)]
pub struct CustomEventType {
    pub name: EventType,
    pub description: String,
    pub schema: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What other processes sharing the database tell this one, through the listener.
#[derive(Debug)]
pub enum Notice {
    /// Identities whose head moved: waiters re-read.
    Appended(Vec<(IdentityKey, Seq)>),
    /// A key was revoked: forget any cached copy at once.
    KeyRevoked(ApiKeyId),
    /// The listener is (again) listening and may have missed notices: treat everything as
    /// changed.
    Listening,
    /// The listener lost its connection; it is reconnecting.
    Lost,
}

pub type NoticeSink = Arc<dyn Fn(Notice) + Send + Sync>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> StoreResult<()>;

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
    async fn list_identities(
        &self,
        tenant: TenantId,
        after: Option<&IdentityHandle>,
        limit: u32,
    ) -> StoreResult<Vec<Identity>>;

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

    /// Events already in any log under these ids, for idempotent re-sends.
    async fn find_events(&self, ids: &[EventId]) -> StoreResult<Vec<(IdentityKey, StoredEvent)>>;
    /// Appends every request in ONE transaction: each identity's counter is bumped once for
    /// all its events and held until commit, so seqs are gap-free, contiguous per request,
    /// and never visible out of order. Answers one `Vec` per request, in request order.
    async fn append_events(
        &self,
        requests: &[AppendRequest<'_>],
    ) -> StoreResult<Vec<Vec<StoredEvent>>>;
    /// A page and the identity's head, read in one snapshot.
    async fn read_events(&self, request: ReadRequest<'_>) -> StoreResult<Page>;

    /// Tells other processes that these heads moved. Called after commit, never inside.
    async fn publish_heads(&self, heads: &[(IdentityKey, Seq)]) -> StoreResult<()>;
    /// Runs the process's one listener until `shutdown`, handing each notice to `sink`.
    async fn listen(&self, sink: NoticeSink, shutdown: CancellationToken);
}
