//! The delivery workers, coordinated: the claim loop takes due deliveries as room allows
//! (`admission`), each is sent in a task of its own (`sender`) and its attempt recorded
//! (`recorder`). Woken after appends commit; polls as a fallback for retries falling due
//! and for wake-ups that were lost.
//!
//! Appends in this process skip the claim where they can: through the log's
//! `DeliveryLeases`, each reserves room here, writes the deliveries it has room for
//! already leased, and hands them over once committed.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, OwnedSemaphorePermit, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod leasing;

use super::DeliveryConfig;
use super::admission::Admission;
use super::load::Limits;
use super::recorder::Recorder;
use super::schedule::Response;
use super::sender::{Sender, Sent, took};
use crate::activity::Activity;
use crate::clock::Clock;
use crate::domain::delivery::{Attempt, AttemptOutcome};
use crate::domain::dialect::SignatureDialect;
use crate::domain::secret::SigningSecret;
use crate::domain::target::WebhookUrl;
use crate::id::{DeliveryId, WebhookId};
use crate::metrics::Metrics;
use crate::store::{
    AttemptResult, ClaimRequest, Claimed, ClaimedDelivery, Store, Success, Unsendable,
};

/// How long shutdown lets requests in flight finish before handing their leases back.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub struct DeliveryPool {
    /// Itself, for the reservations it hands the appender, which outlive a borrow.
    me: Weak<DeliveryPool>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: DeliveryConfig,
    admission: Admission,
    sender: Sender,
    recorder: Recorder,
    /// Deliveries leased to this process and not finished: handed back at shutdown, and
    /// never started twice.
    leased: Mutex<HashSet<DeliveryId>>,
    wake: Notify,
    /// Set while `run` runs: only then may appends lease deliveries to this process.
    running: AtomicBool,
    /// The deliveries being sent or waiting to be, each in its own task.
    tasks: TaskTracker,
    metrics: Arc<Metrics>,
    activity: Arc<Activity>,
}

impl DeliveryPool {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: DeliveryConfig,
        metrics: Arc<Metrics>,
        activity: Arc<Activity>,
    ) -> Arc<Self> {
        let limits = Limits {
            per_webhook: config.per_webhook,
            lease: config.lease,
            timeout: config.timeout,
        };
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            admission: Admission::new(config.concurrency, limits),
            sender: Sender::new(&config),
            recorder: Recorder::new(Arc::clone(&store)),
            store,
            clock,
            config,
            leased: Mutex::default(),
            wake: Notify::new(),
            running: AtomicBool::new(false),
            tasks: TaskTracker::new(),
            metrics,
            activity,
        })
    }

    /// The number of attempts recorded, as it changes.
    pub fn recorded(&self) -> watch::Receiver<u64> {
        self.recorder.recorded()
    }

    /// Something may be due: an append committed, or time moved.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let recorder_stop = CancellationToken::new();
        let recorder = {
            let (pool, stop) = (Arc::clone(&self), recorder_stop.clone());
            tokio::spawn(async move {
                pool.recorder
                    .run(stop, |written| {
                        pool.finished(&written.deliveries);
                        if written.frees_ordered {
                            pool.wake();
                        }
                    })
                    .await;
            })
        };
        self.running.store(true, Ordering::Release);
        loop {
            self.claim_and_start().await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        self.running.store(false, Ordering::Release);
        self.tasks.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("deliveries still in flight at shutdown; handing their leases back");
        }
        recorder_stop.cancel();
        let _ = recorder.await;
        let unfinished: Vec<DeliveryId> = self
            .leased
            .lock()
            .expect("leases lock")
            .iter()
            .copied()
            .collect();
        if !unfinished.is_empty() {
            self.release(&unfinished).await;
        }
    }

    /// Claims while there is room and work.
    async fn claim_and_start(self: &Arc<Self>) {
        loop {
            let Some(mut room) = self.admission.for_claim() else {
                return; // room coming back wakes the loop (`room_freed`)
            };
            let limit = room.slots.num_permits() as u32;
            let now = self.clock.now();
            let lease_until = self.lease_from(now);
            let request = ClaimRequest {
                now,
                lease_until,
                limit,
                room: &room.webhooks.room,
                default_room: room.webhooks.default_room,
            };
            let claimed = match self.store.claim_deliveries(request).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "could not claim deliveries");
                    return;
                }
            };
            let Claimed {
                deliveries,
                unsendable,
            } = claimed;
            let again = self.admission.claimed(
                &room.webhooks,
                deliveries
                    .iter()
                    .map(|delivery| delivery.webhook_id)
                    .chain(unsendable.iter().map(|delivery| delivery.webhook_id)),
            );
            let full = (deliveries.len() + unsendable.len()) as u32 == limit;
            for delivery in unsendable {
                self.fail_unsendable(delivery);
            }
            for delivery in deliveries {
                // Its lease ran out while it waited here, and this claim renewed it: the
                // task that holds it sends it once.
                if self
                    .leased
                    .lock()
                    .expect("leases lock")
                    .contains(&delivery.id)
                {
                    continue;
                }
                let slot = room
                    .slots
                    .split(1)
                    .expect("a claim returns at most `limit` rows");
                self.start(delivery, lease_until, slot);
            }
            if !full && !again {
                return;
            }
        }
    }

    /// When a lease taken at `now` ends, for claims and leasing appends alike.
    fn lease_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::MAX)
    }

    /// Sends a leased delivery in a task of its own, holding `slot` until it is done.
    fn start(
        self: &Arc<Self>,
        delivery: ClaimedDelivery,
        lease_until: DateTime<Utc>,
        slot: OwnedSemaphorePermit,
    ) {
        self.admission.started(delivery.webhook_id);
        self.leased.lock().expect("leases lock").insert(delivery.id);
        let turn = self.sender.turn(&delivery);
        let pool = Arc::clone(self);
        self.tasks.spawn(async move {
            pool.deliver(delivery, turn, lease_until).await;
            drop(slot);
            pool.room_freed();
        });
    }

    async fn deliver(
        &self,
        delivery: ClaimedDelivery,
        turn: Option<tokio::time::Instant>,
        lease_until: DateTime<Utc>,
    ) {
        let sent = self
            .sender
            .send(&delivery, turn, lease_until, self.clock.as_ref())
            .await;
        let Sent::Answered { record, response } = sent else {
            return self.hand_back(delivery.id, delivery.webhook_id).await;
        };
        // The per-webhook cap counts requests to the receiver, so its room frees as soon
        // as the receiver has answered, not once the answer is recorded.
        let pace = (took(&record), delivery.rate_limit);
        if self.admission.answered(delivery.webhook_id, Some(pace)) {
            self.wake();
        }
        let now = self.clock.now();
        let outcome = self.config.schedule.outcome(
            delivery.attempt as usize,
            response,
            now,
            &mut rand::rng(),
        );
        tracing::debug!(delivery = %delivery.id, attempt = delivery.attempt, ?outcome, "delivery attempted");
        self.count(&delivery, &record, outcome, now);
        if outcome == AttemptOutcome::Delivered {
            let success = Success {
                delivery: delivery.id,
                webhook: delivery.webhook_id,
                attempt: delivery.attempt,
                record,
            };
            return self.recorder.delivered(success, delivery.ordered);
        }
        let result = AttemptResult {
            delivery: delivery.id,
            webhook: delivery.webhook_id,
            attempt: delivery.attempt,
            record: &record,
            outcome,
            now,
            disable_after: self.disable_after(),
        };
        self.recorder
            .failed(result, || self.finished(&[delivery.id]))
            .await;
        self.wake();
    }

    /// Records a claimed delivery whose webhook does not read back as a failed attempt, in
    /// a task of its own: it shows in the delivery log with the reason, and follows the
    /// retry schedule like any other failure.
    fn fail_unsendable(self: &Arc<Self>, delivery: Unsendable) {
        let pool = Arc::clone(self);
        self.tasks.spawn(async move {
            let now = pool.clock.now();
            let outcome = pool.config.schedule.outcome(
                delivery.attempt as usize,
                Response::NoResponse,
                now,
                &mut rand::rng(),
            );
            pool.metrics.delivery_attempted(&outcome);
            let record = Attempt {
                at: now,
                duration_ms: 0,
                status_code: None,
                error: Some(delivery.reason),
                response_body: None,
            };
            pool.activity
                .attempted(delivery.webhook_id, delivery.id, &record, outcome.into());
            let result = AttemptResult {
                delivery: delivery.id,
                webhook: delivery.webhook_id,
                attempt: delivery.attempt,
                record: &record,
                outcome,
                now,
                disable_after: pool.disable_after(),
            };
            pool.recorder.failed(result, || {}).await;
            pool.wake();
        });
    }

    /// A webhook whose deliveries all failed for this long is disabled.
    fn disable_after(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.disable_after).unwrap_or(chrono::Duration::MAX)
    }

    fn count(
        &self,
        delivery: &ClaimedDelivery,
        record: &Attempt,
        outcome: AttemptOutcome,
        now: DateTime<Utc>,
    ) {
        self.metrics.delivery_attempted(&outcome);
        self.activity
            .attempted(delivery.webhook_id, delivery.id, record, outcome.into());
        self.metrics
            .delivery_duration
            .record(f64::from(record.duration_ms) / 1000.0);
        if outcome == AttemptOutcome::Delivered {
            let lag = now - delivery.event.created_at;
            self.metrics
                .delivery_lag
                .record(lag.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6);
        }
    }

    /// These deliveries are done with here: recorded, or handed back.
    fn finished(&self, deliveries: &[DeliveryId]) {
        let mut leased = self.leased.lock().expect("leases lock");
        for delivery in deliveries {
            leased.remove(delivery);
        }
    }

    /// Makes a delivery that waited too long here due again, for a fresh claim and lease.
    async fn hand_back(&self, delivery: DeliveryId, webhook: WebhookId) {
        tracing::debug!(%delivery, "lease nearly over before sending; handing it back");
        self.release(&[delivery]).await;
        self.finished(&[delivery]);
        self.admission.answered(webhook, None);
        self.wake(); // it is due again
    }

    async fn release(&self, deliveries: &[DeliveryId]) {
        if let Err(error) = self
            .store
            .release_deliveries(deliveries, self.clock.now())
            .await
        {
            tracing::warn!(%error, "could not hand leases back; they expire on their own");
        }
    }

    /// Wakes the claim loop if it found no room.
    fn room_freed(&self) {
        if self.admission.freed() {
            self.wake();
        }
    }

    /// Sends a signed `webhook.ping` now, outside the outbox.
    pub async fn ping(
        &self,
        url: &WebhookUrl,
        secrets: &[SigningSecret],
        dialect: &SignatureDialect,
        webhook: WebhookId,
    ) -> Attempt {
        self.sender
            .ping(url, secrets, dialect, webhook, self.clock.now())
            .await
    }
}
