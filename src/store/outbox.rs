//! The store's contract for the outbox: leasing due deliveries, recording attempts,
//! handing leases back, replays.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::cursor::Seq;
use crate::domain::delivery::{Attempt, AttemptOutcome, DeliveryStatus};
use crate::domain::event::StoredEvent;
use crate::domain::identity::IdentityHandle;
use crate::domain::secret::SigningSecret;
use crate::domain::target::WebhookUrl;
use crate::id::{DeliveryId, TenantId, WebhookId};

/// A delivery leased to this process (by a claim, or by the append that wrote it) with
/// everything needed to send it, until the lease's end.
#[derive(Debug)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub url: WebhookUrl,
    /// This attempt's number, from 1.
    pub attempt: u32,
    pub rate_limit: Option<u32>,
    /// Its success lets the identity's next delivery to this webhook go.
    pub ordered: bool,
    pub identity: IdentityHandle,
    pub event: StoredEvent,
    /// Active signing secrets, newest first.
    pub secrets: Vec<SigningSecret>,
    pub dialect: std::sync::Arc<crate::domain::dialect::SignatureDialect>,
}

/// A delivery leased to this process whose webhook, as stored, cannot be sent to: a URL
/// or a secret that does not parse. Recorded as a failed attempt, so it shows in the
/// delivery log and follows the retry schedule, rather than failing every claim.
#[derive(Debug)]
pub struct Unsendable {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub attempt: u32,
    pub reason: String,
}

/// What a claim leased.
#[derive(Debug, Default)]
pub struct Claimed {
    pub deliveries: Vec<ClaimedDelivery>,
    pub unsendable: Vec<Unsendable>,
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

impl AttemptResult<'_> {
    /// The delivery's status after this attempt, and when it is due next.
    pub(super) fn delivery_state(&self) -> (DeliveryStatus, Option<DateTime<Utc>>) {
        match self.outcome {
            AttemptOutcome::Delivered => (DeliveryStatus::Succeeded, None),
            AttemptOutcome::RetryAt(at) => (DeliveryStatus::Pending, Some(at)),
            // Held: due as soon as the webhook is active again.
            AttemptOutcome::Gone => (DeliveryStatus::Pending, Some(self.now)),
            AttemptOutcome::GaveUp => (DeliveryStatus::Failed, None),
        }
    }

    pub(super) fn delivered(&self) -> bool {
        self.outcome == AttemptOutcome::Delivered
    }

    /// The endpoint asked never to be called again.
    pub(super) fn gone(&self) -> bool {
        self.outcome == AttemptOutcome::Gone
    }
}

/// A replay: for one webhook, the identity's events after `since`, enqueued as new
/// deliveries made at `now`.
pub struct ReplayRequest<'a> {
    pub tenant: TenantId,
    pub webhook: WebhookId,
    pub identity: &'a IdentityHandle,
    pub since: Seq,
    pub now: DateTime<Utc>,
}

/// The deliveries still to make, and what their attempts came to. No statement is held
/// open across an HTTP call.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Leases due deliveries (`FOR UPDATE SKIP LOCKED`): several processes share the work.
    async fn claim_deliveries(&self, request: ClaimRequest<'_>) -> StoreResult<Claimed>;
    /// Records successful attempts in one statement: the common case, batched so a busy
    /// endpoint costs one write per batch rather than per delivery.
    async fn record_successes(&self, successes: &[Success]) -> StoreResult<()>;
    /// Records an attempt and its outcome, and what it means for the webhook.
    async fn record_attempt(&self, result: AttemptResult<'_>) -> StoreResult<()>;
    /// Hands leased deliveries back, due at `now`, on shutdown.
    async fn release_deliveries(&self, ids: &[DeliveryId], now: DateTime<Utc>) -> StoreResult<()>;
    /// Enqueues, for one webhook, an identity's events after `since` that pass its filter.
    /// `None` when the identity does not exist.
    async fn replay(&self, request: ReplayRequest<'_>) -> StoreResult<Option<u64>>;

    /// Deliveries not yet finished, for the outbox-depth gauge.
    async fn pending_deliveries(&self) -> StoreResult<u64>;
}
