//! The PostgreSQL store: the production backend. Several processes may share one database;
//! they meet through row locks and `LISTEN/NOTIFY`.

mod event_types;
mod events;
mod identities;
mod notifications;
mod outbox;
mod tenants;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio_util::sync::CancellationToken;

use chrono::{DateTime, Utc};

use super::{
    AppendLease, AppendRequest, AppendedGroup, AttemptResult, ClaimRequest, ClaimedDelivery,
    CustomEventType, NoticeSink, ReadRequest, Store, StoreResult, Success, WebhookPatch,
};
use crate::domain::cursor::Seq;
use crate::domain::delivery::{Delivery, DeliveryStatus};
use crate::domain::event::{EventType, StoredEvent};
use crate::domain::identity::{Identity, IdentityHandle, IdentityKey};
use crate::domain::key::{ApiKey, KeyHash};
use crate::domain::page::Page;
use crate::domain::secret::SigningSecret;
use crate::domain::tenant::Tenant;
use crate::domain::webhook::Webhook;
use crate::id::{ApiKeyId, DeliveryId, EventId, TenantId, WebhookId};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections of the delivery bookkeeping pool (see `PgStore::outbox`).
const OUTBOX_CONNECTIONS: u32 = 4;

pub struct PgStore {
    pool: PgPool,
    /// Claims and attempt records commit without waiting for the WAL flush: losing one in a
    /// crash only means a delivery is sent again (a lost claim's row is due again; a lost
    /// record's lease runs out), which at-least-once allows. Waiting for the flush made
    /// every claim wait for the disk, and the single claim loop with it.
    outbox: PgPool,
    /// Notices go out on a connection of their own: behind the pool's queries, a wake-up
    /// for another process waited for a free connection; and they commit without waiting
    /// for the WAL flush (a NOTIFY's transaction writes a commit record), which only delays
    /// a hint that a lost crash would have lost anyway.
    notifier: PgPool,
    /// The listener opens its own connection, outside the pool, so a busy pool can never
    /// starve wake-ups and the pool never hands out a connection in LISTEN state.
    url: String,
    /// Marks this process's notices, so its listener skips its own echoes.
    origin: notifications::Origin,
}

impl PgStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        let options: PgConnectOptions = url.parse()?;
        let outbox = PgPoolOptions::new()
            .max_connections(OUTBOX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            // Its statements take arrays of ids whose length varies from call to call, which
            // made the planner plan most of them afresh; one generic plan serves them all.
            .connect_lazy_with(options.clone().options([
                ("synchronous_commit", "off"),
                ("plan_cache_mode", "force_generic_plan"),
            ]));
        let notifier = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .connect_lazy_with(options.clone().options([("synchronous_commit", "off")]));
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // A ping before every acquire would add a round trip to every query; a dead
            // connection fails its query instead, and the pool replaces it.
            .test_before_acquire(false)
            .connect(url)
            .await?;
        Ok(Self {
            pool,
            outbox,
            notifier,
            url: url.to_owned(),
            origin: notifications::Origin::generate(),
        })
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.pool).await
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_tenant(
        &self,
        tenant: &Tenant,
        key: &ApiKey,
        hash: &KeyHash,
    ) -> StoreResult<()> {
        tenants::create_tenant(&self.pool, tenant, key, hash).await
    }

    async fn create_api_key(&self, key: &ApiKey, hash: &KeyHash) -> StoreResult<()> {
        tenants::insert_api_key(&self.pool, key, hash).await
    }

    async fn find_api_key(&self, hash: &KeyHash) -> StoreResult<Option<(ApiKey, KeyHash)>> {
        tenants::find_api_key(&self.pool, hash).await
    }

    async fn list_api_keys(
        &self,
        tenant: TenantId,
        after: Option<ApiKeyId>,
        limit: u32,
    ) -> StoreResult<Vec<ApiKey>> {
        tenants::list_api_keys(&self.pool, tenant, after, limit).await
    }

    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId) -> StoreResult<bool> {
        let revoked = tenants::revoke_api_key(&self.pool, tenant, id).await?;
        if revoked {
            // The revocation is committed whatever happens to the notice; another process
            // that misses it keeps the key for its cache's minute at most.
            if let Err(error) = notifications::publish_key_revoked(&self.notifier, id).await {
                tracing::warn!(%error, key = %id, "could not tell other processes of a revoked key");
            }
        }
        Ok(revoked)
    }

    async fn create_identity(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
    ) -> StoreResult<(Identity, bool)> {
        identities::create_identity(&self.pool, tenant, handle).await
    }

    async fn find_identity(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
    ) -> StoreResult<Option<Identity>> {
        identities::find_identity(&self.pool, tenant, handle).await
    }

    async fn list_identities(
        &self,
        tenant: TenantId,
        after: Option<&IdentityHandle>,
        limit: u32,
    ) -> StoreResult<Vec<Identity>> {
        identities::list_identities(&self.pool, tenant, after, limit).await
    }

    async fn upsert_event_type(
        &self,
        tenant: TenantId,
        name: &EventType,
        description: &str,
        schema: &Value,
    ) -> StoreResult<(CustomEventType, bool)> {
        event_types::upsert_event_type(&self.pool, tenant, name, description, schema).await
    }

    async fn find_event_type(
        &self,
        tenant: TenantId,
        name: &EventType,
    ) -> StoreResult<Option<CustomEventType>> {
        event_types::find_event_type(&self.pool, tenant, name).await
    }

    async fn list_event_types(&self, tenant: TenantId) -> StoreResult<Vec<CustomEventType>> {
        event_types::list_event_types(&self.pool, tenant).await
    }

    async fn find_events(&self, ids: &[EventId]) -> StoreResult<Vec<(IdentityKey, StoredEvent)>> {
        events::find_events(&self.pool, ids).await
    }

    fn honours_append_leases(&self) -> bool {
        true
    }

    async fn append_events(
        &self,
        requests: &[AppendRequest<'_>],
        lease: Option<&AppendLease>,
    ) -> StoreResult<AppendedGroup> {
        events::append_events(&self.pool, requests, lease).await
    }

    async fn read_events(&self, request: ReadRequest<'_>) -> StoreResult<Page> {
        events::read_events(&self.pool, request).await
    }

    async fn create_webhook(&self, webhook: &Webhook, secret: &SigningSecret) -> StoreResult<()> {
        webhooks::create_webhook(&self.pool, webhook, secret).await
    }

    async fn find_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<Option<Webhook>> {
        webhooks::find_webhook(&self.pool, tenant, id).await
    }

    async fn list_webhooks(
        &self,
        tenant: TenantId,
        after: Option<WebhookId>,
        limit: u32,
    ) -> StoreResult<Vec<Webhook>> {
        webhooks::list_webhooks(&self.pool, tenant, after, limit).await
    }

    async fn update_webhook(
        &self,
        tenant: TenantId,
        id: WebhookId,
        patch: &WebhookPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Webhook>> {
        webhooks::update_webhook(&self.pool, tenant, id, patch, now).await
    }

    async fn delete_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<bool> {
        webhooks::delete_webhook(&self.pool, tenant, id).await
    }

    async fn webhook_secrets(
        &self,
        tenant: TenantId,
        id: WebhookId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<String>> {
        webhooks::webhook_secrets(&self.pool, tenant, id, now).await
    }

    async fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        id: WebhookId,
        secret: &SigningSecret,
        now: DateTime<Utc>,
        retire_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        webhooks::rotate_webhook_secret(&self.pool, tenant, id, secret, now, retire_at).await
    }

    async fn claim_deliveries(
        &self,
        request: ClaimRequest<'_>,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        outbox::claim_deliveries(&self.outbox, request).await
    }

    async fn record_successes(&self, successes: &[Success]) -> StoreResult<()> {
        outbox::record_successes(&self.outbox, successes).await
    }

    async fn record_attempt(&self, result: AttemptResult<'_>) -> StoreResult<()> {
        outbox::record_attempt(&self.outbox, result).await
    }

    async fn release_deliveries(&self, ids: &[DeliveryId], now: DateTime<Utc>) -> StoreResult<()> {
        outbox::release_deliveries(&self.outbox, ids, now).await
    }

    async fn list_deliveries(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        status: Option<DeliveryStatus>,
        identity: Option<&IdentityHandle>,
        after: Option<DeliveryId>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        outbox::list_deliveries(&self.pool, tenant, webhook, status, identity, after, limit).await
    }

    async fn find_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> StoreResult<Option<Delivery>> {
        outbox::find_delivery(&self.pool, tenant, id).await
    }

    async fn retry_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Delivery>> {
        outbox::retry_delivery(&self.pool, tenant, id, now).await
    }

    async fn replay(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        identity: &IdentityHandle,
        since: Seq,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<u64>> {
        outbox::replay(&self.pool, tenant, webhook, identity, since, now).await
    }

    async fn publish_heads(
        &self,
        heads: &[(IdentityKey, Seq)],
        deliveries_due: bool,
    ) -> StoreResult<()> {
        notifications::publish_heads(&self.notifier, &self.origin, heads, deliveries_due).await
    }

    async fn listen(&self, sink: Arc<dyn NoticeSink>, shutdown: CancellationToken) {
        notifications::listen(&self.url, &self.origin, sink, shutdown).await
    }

    async fn pending_deliveries(&self) -> StoreResult<u64> {
        outbox::pending_deliveries(&self.pool).await
    }

    async fn close(&self) {
        self.notifier.close().await;
        self.outbox.close().await;
        self.pool.close().await;
    }
}
