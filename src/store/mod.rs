//! PERSISTENCE: the only module that speaks SQL. One `Store` trait, named by intent, and
//! one implementation per backend; everything above it sees domain types only.

pub mod error;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use error::StoreError;

use crate::domain::cursor::Seq;
use crate::domain::delivery::AttemptOutcome;
use crate::domain::delivery::{Attempt, Delivery, DeliveryStatus};
use crate::domain::event::{EventType, NewEvent, StoredEvent};
use crate::domain::identity::{Identity, IdentityHandle, IdentityKey};
use crate::domain::key::{ApiKey, KeyHash};
use crate::domain::page::Page;
use crate::domain::secret::SigningSecret;
use crate::domain::target::WebhookUrl;
use crate::domain::tenant::Tenant;
use crate::domain::webhook::{EventFilter, Webhook};
use crate::id::{ApiKeyId, DeliveryId, EventId, TenantId, WebhookId};

pub type StoreResult<T> = Result<T, StoreError>;

/// The database a `DATABASE_URL` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    Postgres(String),
    Sqlite(String),
}

/// The events one request appends to one identity, in order.
pub struct AppendRequest<'a> {
    pub identity: IdentityKey,
    pub events: &'a [NewEvent],
}

/// Lets an append write deliveries already leased to this process's workers, so they go
/// out as soon as the append commits instead of after a claim: those of active, unordered
/// webhooks, at most `room` of one webhook (`default_room` for those not listed) and
/// `budget` in all. The rest are written due, for a claim to pick up.
pub struct AppendLease {
    /// The workers' time, which moves on its own in tests.
    pub now: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub room: Vec<(WebhookId, u32)>,
    pub default_room: u32,
    pub budget: u32,
}

/// What a group append wrote: each request's events in order, the deliveries leased to
/// the caller, and whether any delivery was written due, for a claim.
pub struct AppendedGroup {
    pub events: Vec<Vec<StoredEvent>>,
    pub leased: Vec<ClaimedDelivery>,
    pub deliveries_due: bool,
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

/// The fields a `PATCH` changes; `None` leaves one as it is.
#[derive(Default)]
pub struct WebhookPatch {
    pub url: Option<WebhookUrl>,
    pub events: Option<EventFilter>,
    pub identities: Option<Option<Vec<IdentityHandle>>>,
    pub description: Option<String>,
    pub ordered: Option<bool>,
    pub rate_limit: Option<Option<u32>>,
    pub active: Option<bool>,
}

/// A delivery leased to this process (by a claim, or by the append that wrote it) with
/// everything needed to send it, until the lease's end.
#[derive(Debug)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub url: String,
    /// This attempt's number, from 1.
    pub attempt: u32,
    pub rate_limit: Option<u32>,
    /// Its success lets the identity's next delivery to this webhook go.
    pub ordered: bool,
    pub identity: IdentityHandle,
    pub event: StoredEvent,
    /// Active signing secrets, newest first.
    pub secrets: Vec<String>,
}

/// A claim: due deliveries, at most `limit`, at most `room` of any one webhook (what is
/// left of its prefetch in this process; `default_room` for webhooks not listed).
pub struct ClaimRequest<'a> {
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub limit: u32,
    pub room: &'a [(WebhookId, u32)],
    pub default_room: u32,
}

/// A delivered attempt, for `record_successes`.
pub struct Success {
    pub delivery: DeliveryId,
    pub webhook: WebhookId,
    pub attempt: u32,
    pub record: Attempt,
}

/// An attempt to record, with its consequences.
pub struct AttemptResult<'a> {
    pub delivery: DeliveryId,
    pub webhook: WebhookId,
    pub attempt: u32,
    pub record: &'a Attempt,
    pub outcome: AttemptOutcome,
    pub now: DateTime<Utc>,
    /// A webhook failing for this long is disabled.
    pub disable_after: chrono::Duration,
}

/// What other processes sharing the database tell this one, through the listener.
#[derive(Debug)]
pub enum Notice {
    /// Identities whose head moved: waiters re-read; and whether deliveries were written
    /// due, for the delivery workers to claim.
    Appended {
        heads: Vec<(IdentityKey, Seq)>,
        deliveries_due: bool,
    },
    /// A key was revoked: forget any cached copy at once.
    KeyRevoked(ApiKeyId),
    /// The listener is (again) listening and may have missed notices: treat everything as
    /// changed.
    Listening,
    /// The listener lost its connection; it is reconnecting.
    Lost,
}

/// Hears what the listener hears.
pub trait NoticeSink: Send + Sync + 'static {
    fn notice(&self, notice: Notice);
}

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
    /// Whether `append_events` writes deliveries leased when asked to. The embedded store
    /// does not: its claims take no network round trip.
    fn honours_append_leases(&self) -> bool {
        false
    }
    /// A store that does not honour `lease` writes every delivery due.
    async fn append_events(
        &self,
        requests: &[AppendRequest<'_>],
        lease: Option<&AppendLease>,
    ) -> StoreResult<AppendedGroup>;
    /// A page and the identity's head, read in one snapshot.
    async fn read_events(&self, request: ReadRequest<'_>) -> StoreResult<Page>;

    async fn create_webhook(&self, webhook: &Webhook, secret: &SigningSecret) -> StoreResult<()>;
    async fn find_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<Option<Webhook>>;
    async fn list_webhooks(
        &self,
        tenant: TenantId,
        after: Option<WebhookId>,
        limit: u32,
    ) -> StoreResult<Vec<Webhook>>;
    async fn update_webhook(
        &self,
        tenant: TenantId,
        id: WebhookId,
        patch: &WebhookPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Webhook>>;
    /// Deletes the webhook and its outbox rows.
    async fn delete_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<bool>;
    /// Signing secrets still active at `now`, newest first.
    async fn webhook_secrets(
        &self,
        tenant: TenantId,
        id: WebhookId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<String>>;
    /// Adds `secret` as the current one; older secrets stop signing at `retire_at` (or
    /// earlier, if they were already due to).
    async fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        id: WebhookId,
        secret: &SigningSecret,
        now: DateTime<Utc>,
        retire_at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Leases due deliveries (`FOR UPDATE SKIP LOCKED`): several processes share the work.
    async fn claim_deliveries(
        &self,
        request: ClaimRequest<'_>,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Records successful attempts in one statement: the common case, batched so a busy
    /// endpoint costs one write per batch rather than per delivery.
    async fn record_successes(&self, successes: &[Success]) -> StoreResult<()>;
    /// Records an attempt and its outcome, and what it means for the webhook.
    async fn record_attempt(&self, result: AttemptResult<'_>) -> StoreResult<()>;
    /// Hands leased deliveries back, due at `now`, on shutdown.
    async fn release_deliveries(&self, ids: &[DeliveryId], now: DateTime<Utc>) -> StoreResult<()>;
    async fn list_deliveries(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        status: Option<DeliveryStatus>,
        identity: Option<&IdentityHandle>,
        after: Option<DeliveryId>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;
    async fn find_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> StoreResult<Option<Delivery>>;
    /// Makes a delivery pending and due now, whatever its status.
    async fn retry_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Delivery>>;
    /// Enqueues, for one webhook, an identity's events after `since` that pass its filter.
    /// `None` when the identity does not exist.
    async fn replay(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        identity: &IdentityHandle,
        since: Seq,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<u64>>;

    /// Tells other processes that these heads moved, and whether deliveries are due.
    /// Called after commit, never inside.
    async fn publish_heads(
        &self,
        heads: &[(IdentityKey, Seq)],
        deliveries_due: bool,
    ) -> StoreResult<()>;
    /// Runs the process's one listener until `shutdown`, handing each notice to `sink`.
    async fn listen(&self, sink: Arc<dyn NoticeSink>, shutdown: CancellationToken);

    /// Deliveries not yet finished, for the outbox-depth gauge.
    async fn pending_deliveries(&self) -> StoreResult<u64>;
    /// Closes the connections, once nothing uses the store any more.
    async fn close(&self);
}

/// Opens the database `database` names, creating an embedded one if need be, and brings
/// its schema up to date.
pub async fn open(database: &Database, pool_size: u32) -> anyhow::Result<Arc<dyn Store>> {
    match database {
        Database::Postgres(url) => {
            let store = postgres::PgStore::connect(url, pool_size)
                .await
                .context("connecting to PostgreSQL")?;
            store.migrate().await.context("migrating the database")?;
            Ok(Arc::new(store))
        }
        Database::Sqlite(url) => {
            let store = sqlite::SqliteStore::open(url)
                .await
                .with_context(|| format!("opening the SQLite database {url}"))?;
            store.migrate().await.context("migrating the database")?;
            Ok(Arc::new(store))
        }
    }
}
