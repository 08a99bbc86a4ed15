//! The store's contract for removing data: expired events swept in bounded batches, an
//! identity erased, one event redacted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::cursor::Seq;
use crate::domain::event::StoredEvent;
use crate::domain::identity::{IdentityHandle, IdentityKey};
use crate::domain::retention::Retention;
use crate::id::{ApiKeyId, EventId, TenantId};

/// What one bounded step of removal did.
#[derive(Debug, Default)]
pub struct Swept {
    /// Events removed, with their deliveries and attempts.
    pub events: u64,
    /// Whether the logs have more to remove: the step stopped at its bound.
    pub more: bool,
    /// How long the step's transactions held their connection, from the first statement to
    /// the commit: on SQLite, how long appends could not write. Waiting for the writer is
    /// not counted, so a busy database does not stretch the rest that follows.
    pub held: std::time::Duration,
}

/// How the sweep paces removal: steps of at most `batch` events, each followed by a rest
/// `rest_factor` times as long as the step held its connection (so the sweep backs off by
/// itself when the database is slow). Large steps and short rests where a step blocks nothing else
/// (PostgreSQL); small steps and long rests where it holds the one writer every append
/// needs (SQLite).
#[derive(Clone, Copy, Debug)]
pub struct RemovalPace {
    pub batch: u32,
    pub rest_factor: u32,
}

/// An identity just erased: its log is no longer readable, its rows go next.
#[derive(Debug)]
pub struct Erased {
    pub identity: IdentityKey,
    pub head: Seq,
    /// The keys bound to it, deleted with the erasure.
    pub keys: Vec<ApiKeyId>,
}

/// Removal. Every step is one short transaction, so a crash at any point leaves a
/// consistent database and the next sweep resumes where the last one stopped.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Every tenant with its own retention, if it set one (`None`: the server's default).
    async fn tenant_retentions(&self) -> StoreResult<Vec<(TenantId, Option<Retention>)>>;
    /// Sets (or, with `None`, clears) a tenant's own retention; false when no such tenant.
    async fn set_tenant_retention(
        &self,
        tenant: TenantId,
        retention: Option<Retention>,
    ) -> StoreResult<bool>;
    /// Up to `limit` of the tenant's identities holding events created before `cutoff`,
    /// found through an index, without reading any event.
    async fn expired_identities(
        &self,
        tenant: TenantId,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<IdentityKey>>;
    /// Up to `limit` identities with rows left below their earliest seq: an erasure, or a
    /// removal a crash cut short.
    async fn unpurged_identities(&self, limit: u32) -> StoreResult<Vec<IdentityKey>>;
    /// One step for several identities at once: moves their earliest seqs past at most
    /// `batch` events in all created before `cutoff` (none without one), and removes at
    /// most `batch` events in all below them, with their deliveries and attempts.
    async fn sweep_identities(
        &self,
        identities: &[IdentityKey],
        cutoff: Option<DateTime<Utc>>,
        batch: u32,
    ) -> StoreResult<Swept>;
    /// Erases a live identity: unreadable at once (its earliest seq passes its head), its
    /// bound keys deleted (and announced as revoked). Its rows are removed by
    /// `sweep_identities` steps. `None` when there is no such live identity.
    async fn erase_identity(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Erased>>;
    /// Replaces a held event's data with the tombstone, keeping its id, seq and type; the
    /// first redaction's time stays. `None` when the log holds no such event.
    async fn redact_event(
        &self,
        identity: IdentityKey,
        id: EventId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<StoredEvent>>;
    /// How the sweep should pace its removal on this database.
    fn removal_pace(&self) -> RemovalPace;
    /// Removes up to `batch` finished deliveries (delivered or given up), with their
    /// attempts, made before `before`: the delivery log's own, shorter window. Found by
    /// their time-ordered ids, oldest first; pending ones stay.
    async fn trim_delivery_log(&self, before: DateTime<Utc>, batch: u32) -> StoreResult<u64>;
    /// Makes the space of removed rows reusable, where the database does not do it on its
    /// own (PostgreSQL with autovacuum off). Never blocks reads or writes.
    async fn reclaim(&self) -> StoreResult<()>;
    /// When the oldest event any log holds was created.
    async fn oldest_event_at(&self) -> StoreResult<Option<DateTime<Utc>>>;
}
