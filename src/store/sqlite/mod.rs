//! The SQLite store: the embedded default, for one process. Every write goes through one
//! connection, which serialises writers the way PostgreSQL's row locks do: seqs are
//! gap-free and claims never overlap. Reads use their own connections; in WAL mode they
//! never block the writer, nor it them. Notices stay in the process.

mod deliveries;
mod encoding;
mod event_types;
mod events;
mod identities;
mod outbox;
mod tenants;
mod webhooks;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio_util::sync::CancellationToken;

use super::{
    AppendLease, AppendRequest, AppendedGroup, AttemptResult, ClaimRequest, ClaimedDelivery,
    CustomEventType, Notice, NoticeSink, ReadRequest, Store, StoreResult, Success, WebhookPatch,
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

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Connections of the read pool: enough for concurrent pulls on a small machine.
const READER_CONNECTIONS: u32 = 4;
/// How long a statement waits for a lock another process holds (`seqhook migrate`, the
/// tenants CLI), and how long a caller waits for a connection, before giving up.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    /// One connection: the single writer. Kept open for the store's life, so the WAL files
    /// and its statement cache stay.
    writer: SqlitePool,
    /// Read-only connections.
    reader: SqlitePool,
    /// Who hears about revoked keys: the app's listener, while it runs.
    sink: Mutex<Option<Arc<dyn NoticeSink>>>,
}

impl SqliteStore {
    /// Opens `sqlite://path`, creating the file if need be.
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .foreign_keys(true)
            .busy_timeout(LOCK_TIMEOUT);
        // Connected before the readers: it creates the file and switches it to WAL, which a
        // read-only connection cannot do. WAL is then a property of the file.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>)
            .acquire_timeout(LOCK_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // An acknowledged append must outlive a power cut, as on PostgreSQL:
                    // NORMAL would lose the last commits then. Appends are committed in
                    // groups, so the wait for the disk is shared.
                    .synchronous(SqliteSynchronous::Full),
            )
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READER_CONNECTIONS)
            .acquire_timeout(LOCK_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            writer,
            reader,
            sink: Mutex::new(None),
        })
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.writer).await
    }

    fn notify(&self, notice: Notice) {
        let sink = self.sink.lock().expect("sink lock").clone();
        if let Some(sink) = sink {
            sink.notice(notice);
        }
    }
}

/// Starts a write transaction holding the write lock from the start. The writer pool
/// already serialises this process; IMMEDIATE makes another process (the CLI) wait for the
/// busy timeout, where a deferred transaction upgrading to write would fail at once.
async fn begin_write(writer: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    writer.begin_with("BEGIN IMMEDIATE").await
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn create_tenant(
        &self,
        tenant: &Tenant,
        key: &ApiKey,
        hash: &KeyHash,
    ) -> StoreResult<()> {
        tenants::create_tenant(&self.writer, tenant, key, hash).await
    }

    async fn create_api_key(&self, key: &ApiKey, hash: &KeyHash) -> StoreResult<()> {
        tenants::insert_api_key(&self.writer, key, hash).await
    }

    async fn find_api_key(&self, hash: &KeyHash) -> StoreResult<Option<(ApiKey, KeyHash)>> {
        tenants::find_api_key(&self.reader, hash).await
    }

    async fn list_api_keys(
        &self,
        tenant: TenantId,
        after: Option<ApiKeyId>,
        limit: u32,
    ) -> StoreResult<Vec<ApiKey>> {
        tenants::list_api_keys(&self.reader, tenant, after, limit).await
    }

    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId) -> StoreResult<bool> {
        let revoked = tenants::revoke_api_key(&self.writer, tenant, id).await?;
        if revoked {
            self.notify(Notice::KeyRevoked(id));
        }
        Ok(revoked)
    }

    async fn create_identity(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
    ) -> StoreResult<(Identity, bool)> {
        identities::create_identity(&self.writer, &self.reader, tenant, handle).await
    }

    async fn find_identity(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
    ) -> StoreResult<Option<Identity>> {
        identities::find_identity(&self.reader, tenant, handle).await
    }

    async fn list_identities(
        &self,
        tenant: TenantId,
        after: Option<&IdentityHandle>,
        limit: u32,
    ) -> StoreResult<Vec<Identity>> {
        identities::list_identities(&self.reader, tenant, after, limit).await
    }

    async fn upsert_event_type(
        &self,
        tenant: TenantId,
        name: &EventType,
        description: &str,
        schema: &Value,
    ) -> StoreResult<(CustomEventType, bool)> {
        event_types::upsert_event_type(&self.writer, tenant, name, description, schema).await
    }

    async fn find_event_type(
        &self,
        tenant: TenantId,
        name: &EventType,
    ) -> StoreResult<Option<CustomEventType>> {
        event_types::find_event_type(&self.reader, tenant, name).await
    }

    async fn list_event_types(&self, tenant: TenantId) -> StoreResult<Vec<CustomEventType>> {
        event_types::list_event_types(&self.reader, tenant).await
    }

    async fn find_events(&self, ids: &[EventId]) -> StoreResult<Vec<(IdentityKey, StoredEvent)>> {
        events::find_events(&self.reader, ids).await
    }

    async fn append_events(
        &self,
        requests: &[AppendRequest<'_>],
        _lease: Option<&AppendLease>,
    ) -> StoreResult<AppendedGroup> {
        events::append_events(&self.writer, requests).await
    }

    async fn read_events(&self, request: ReadRequest<'_>) -> StoreResult<Page> {
        events::read_events(&self.reader, request).await
    }

    async fn create_webhook(&self, webhook: &Webhook, secret: &SigningSecret) -> StoreResult<()> {
        webhooks::create_webhook(&self.writer, webhook, secret).await
    }

    async fn find_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<Option<Webhook>> {
        webhooks::find_webhook(&self.reader, tenant, id).await
    }

    async fn list_webhooks(
        &self,
        tenant: TenantId,
        after: Option<WebhookId>,
        limit: u32,
    ) -> StoreResult<Vec<Webhook>> {
        webhooks::list_webhooks(&self.reader, tenant, after, limit).await
    }

    async fn update_webhook(
        &self,
        tenant: TenantId,
        id: WebhookId,
        patch: &WebhookPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Webhook>> {
        webhooks::update_webhook(&self.writer, tenant, id, patch, now).await
    }

    async fn delete_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<bool> {
        webhooks::delete_webhook(&self.writer, tenant, id).await
    }

    async fn webhook_secrets(
        &self,
        tenant: TenantId,
        id: WebhookId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<String>> {
        webhooks::webhook_secrets(&self.reader, tenant, id, now).await
    }

    async fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        id: WebhookId,
        secret: &SigningSecret,
        now: DateTime<Utc>,
        retire_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        webhooks::rotate_webhook_secret(&self.writer, tenant, id, secret, now, retire_at).await
    }

    async fn claim_deliveries(
        &self,
        request: ClaimRequest<'_>,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        outbox::claim_deliveries(&self.writer, request).await
    }

    async fn record_successes(&self, successes: &[Success]) -> StoreResult<()> {
        outbox::record_successes(&self.writer, successes).await
    }

    async fn record_attempt(&self, result: AttemptResult<'_>) -> StoreResult<()> {
        outbox::record_attempt(&self.writer, result).await
    }

    async fn release_deliveries(&self, ids: &[DeliveryId], now: DateTime<Utc>) -> StoreResult<()> {
        outbox::release_deliveries(&self.writer, ids, now).await
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
        deliveries::list_deliveries(
            &self.reader,
            tenant,
            webhook,
            status,
            identity,
            after,
            limit,
        )
        .await
    }

    async fn find_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> StoreResult<Option<Delivery>> {
        deliveries::find_delivery(&self.reader, tenant, id).await
    }

    async fn retry_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Delivery>> {
        deliveries::retry_delivery(&self.writer, &self.reader, tenant, id, now).await
    }

    async fn replay(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        identity: &IdentityHandle,
        since: Seq,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<u64>> {
        outbox::replay(&self.writer, tenant, webhook, identity, since, now).await
    }

    /// Nothing to do: the app wakes this process's waiters after every commit, and no
    /// other process shares the database.
    async fn publish_heads(
        &self,
        _heads: &[(IdentityKey, Seq)],
        _deliveries_due: bool,
    ) -> StoreResult<()> {
        Ok(())
    }

    /// There is nothing to listen to; the sink is kept for the notices this process makes
    /// itself, until `shutdown`.
    async fn listen(&self, sink: Arc<dyn NoticeSink>, shutdown: CancellationToken) {
        *self.sink.lock().expect("sink lock") = Some(sink.clone());
        sink.notice(Notice::Listening);
        shutdown.cancelled().await;
        *self.sink.lock().expect("sink lock") = None;
    }

    async fn pending_deliveries(&self) -> StoreResult<u64> {
        outbox::pending_deliveries(&self.reader).await
    }

    /// Readers first, so the writer's connection is the last to close and checkpoints the
    /// WAL into the database file.
    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}
