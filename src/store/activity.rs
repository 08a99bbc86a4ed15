//! The store's contract for activity by the minute: the counts each process adds, and what
//! `GET /v1/stats` reads back with how far behind each webhook is.

use std::ops::RangeInclusive;

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::activity::{AttemptKind, FailedAttempt, Minute};
use crate::id::{DeliveryId, TenantId, WebhookId};

/// Counts gathered in memory since the last were added.
#[derive(Debug, Default)]
pub struct ActivityBatch {
    pub appends: Vec<AppendCount>,
    pub attempts: Vec<AttemptCount>,
    /// Each webhook's latest failed attempt in this batch.
    pub failures: Vec<(WebhookId, FailedAttempt)>,
}

impl ActivityBatch {
    pub fn is_empty(&self) -> bool {
        self.appends.is_empty() && self.attempts.is_empty() && self.failures.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendCount {
    pub tenant: TenantId,
    pub minute: Minute,
    pub events: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptCount {
    pub webhook: WebhookId,
    pub minute: Minute,
    pub kind: AttemptKind,
    /// How long the receiver took, as a `activity::latency` bucket.
    pub bucket: i16,
    pub attempts: u64,
}

/// How far behind a webhook is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backlog {
    pub webhook: WebhookId,
    /// Pending deliveries, counted up to one more than the cap asked for.
    pub pending: u64,
    /// The oldest pending delivery.
    pub oldest: Option<DeliveryId>,
}

#[async_trait]
pub trait ActivityStore: Send + Sync {
    /// Adds counts to those already stored (other processes add theirs too), and keeps
    /// each webhook's latest failure.
    async fn add_activity(&self, batch: &ActivityBatch) -> StoreResult<()>;
    /// A tenant's appends per minute, in `minutes`.
    async fn append_minutes(
        &self,
        tenant: TenantId,
        minutes: RangeInclusive<Minute>,
    ) -> StoreResult<Vec<(Minute, u64)>>;
    /// A tenant's attempts per minute and kind, all its webhooks together, in `minutes`.
    async fn attempt_minutes(
        &self,
        tenant: TenantId,
        minutes: RangeInclusive<Minute>,
    ) -> StoreResult<Vec<(Minute, AttemptKind, u64)>>;
    /// These webhooks' attempts by kind and latency bucket, in `minutes`.
    async fn webhook_attempts(
        &self,
        webhooks: &[WebhookId],
        minutes: RangeInclusive<Minute>,
    ) -> StoreResult<Vec<(WebhookId, AttemptKind, i16, u64)>>;
    /// These webhooks' backlogs, each counted up to `cap` + 1 pending deliveries.
    async fn backlogs(&self, webhooks: &[WebhookId], cap: u32) -> StoreResult<Vec<Backlog>>;
    /// These webhooks' latest failed attempts.
    async fn last_failures(
        &self,
        webhooks: &[WebhookId],
    ) -> StoreResult<Vec<(WebhookId, FailedAttempt)>>;
    /// Removes counts from before `before`; answers how many rows went.
    async fn forget_activity(&self, before: Minute) -> StoreResult<u64>;
}
