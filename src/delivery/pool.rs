//! The delivery workers: claim due deliveries, send each in its own task under two limits —
//! a global cap on requests in flight and a per-webhook cap, so one slow receiver cannot
//! starve the others — then record the attempt. Woken after appends commit; polls as a
//! fallback for retries falling due and for wake-ups that were lost.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::attempt::{self, Message};
use super::rate::RateLimits;
use super::record::ClaimedDelivery;
use super::schedule::{AttemptOutcome, RetrySchedule};
use super::signature::SigningSecret;
use crate::clock::Clock;
use crate::id::{DeliveryId, WebhookId};
use crate::log::event::Envelope;
use crate::metrics::Metrics;
use crate::store::{AttemptResult, ClaimRequest, Store, Success};

/// How long shutdown lets requests in flight finish before handing their leases back.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Claims are made in slices of this many, so a deep backlog is spread between processes.
const CLAIM_BATCH: u32 = 256;
/// A webhook may have up to this many times its in-flight cap claimed; the rest wait in
/// memory. One webhook's throughput is bounded by what one claim hands it per claim round
/// trip, so for a fast receiver the buffer must outlast a claim even when the database is
/// slow to answer; for a slow one it stays small (see `prefetch`).
const MAX_PREFETCH_ROUNDS: f64 = 8.0;
const MIN_PREFETCH_ROUNDS: f64 = 2.0;

#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    pub schedule: RetrySchedule,
    pub timeout: Duration,
    pub concurrency: usize,
    pub per_webhook: u32,
    pub allow_private: bool,
    pub disable_after: Duration,
    pub poll_interval: Duration,
    /// How long a claim is held before another worker may take it: the timeout plus room
    /// for waiting on a rate limit.
    pub lease: Duration,
}

pub struct DeliveryPool {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    config: DeliveryConfig,
    wake: Notify,
    slots: Arc<Semaphore>,
    /// Claimed and not yet answered, per webhook: requests in flight plus those queued.
    in_flight: Mutex<HashMap<WebhookId, u32>>,
    /// The per-webhook cap on requests actually in flight.
    sending: Mutex<HashMap<WebhookId, Arc<Semaphore>>>,
    leased: Mutex<HashSet<DeliveryId>>,
    rate_limits: RateLimits,
    /// Attempts recorded so far: lets a caller await an outcome instead of polling for it.
    recorded: tokio::sync::watch::Sender<u64>,
    /// Each webhook's recent request duration (a moving average), which sizes its prefetch.
    pace: Mutex<HashMap<WebhookId, Duration>>,
    /// Delivered attempts waiting to be recorded together.
    successes: Mutex<Vec<Success>>,
    successes_ready: Notify,
    metrics: Arc<Metrics>,
}

impl DeliveryPool {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: DeliveryConfig,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            client: super::client::build(config.timeout, config.allow_private),
            slots: Arc::new(Semaphore::new(config.concurrency)),
            store,
            clock,
            config,
            wake: Notify::new(),
            in_flight: Mutex::default(),
            sending: Mutex::default(),
            leased: Mutex::default(),
            pace: Mutex::default(),
            rate_limits: RateLimits::default(),
            recorded: tokio::sync::watch::channel(0).0,
            successes: Mutex::default(),
            successes_ready: Notify::new(),
            metrics,
        })
    }

    /// The number of attempts recorded, as it changes.
    pub fn recorded(&self) -> tokio::sync::watch::Receiver<u64> {
        self.recorded.subscribe()
    }

    /// The time, as the workers see it.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Something may be due: an append committed, or time moved.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let tasks = TaskTracker::new();
        let recorder_stop = CancellationToken::new();
        let recorder = tokio::spawn(Arc::clone(&self).record_successes(recorder_stop.clone()));
        loop {
            self.claim_and_spawn(&tasks).await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        tasks.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, tasks.wait())
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
            if let Err(error) = self
                .store
                .release_deliveries(&unfinished, self.clock.now())
                .await
            {
                tracing::warn!(%error, "could not hand leases back; they expire on their own");
            }
        }
    }

    /// Claims while there is room and work.
    async fn claim_and_spawn(self: &Arc<Self>, tasks: &TaskTracker) {
        loop {
            let free = self.slots.available_permits() as u32;
            if free == 0 {
                return; // a finishing delivery wakes the loop
            }
            let room = self.room();
            let now = self.clock.now();
            let request = ClaimRequest {
                now,
                lease_until: now
                    + chrono::Duration::from_std(self.config.lease).expect("a sane lease"),
                limit: free.min(CLAIM_BATCH),
                room: &room,
                default_room: self.prefetch(None),
            };
            let claimed = match self.store.claim_deliveries(request).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "could not claim deliveries");
                    return;
                }
            };
            let full = claimed.len() as u32 == free.min(CLAIM_BATCH);
            for delivery in claimed {
                let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
                    break;
                };
                *self
                    .in_flight
                    .lock()
                    .expect("in-flight lock")
                    .entry(delivery.webhook_id)
                    .or_default() += 1;
                self.leased.lock().expect("leases lock").insert(delivery.id);
                let pool = Arc::clone(self);
                tasks.spawn(async move {
                    pool.deliver(delivery).await;
                    drop(slot);
                });
            }
            if !full {
                return;
            }
        }
    }

    /// What each webhook this process has seen may claim now: its prefetch less what it has
    /// claimed and not yet sent.
    fn room(&self) -> Vec<(WebhookId, u32)> {
        let in_flight = self.in_flight.lock().expect("in-flight lock");
        let pace = self.pace.lock().expect("pace lock");
        let mut room: Vec<(WebhookId, u32)> = pace
            .iter()
            .map(|(webhook, pace)| {
                let busy = in_flight.get(webhook).copied().unwrap_or(0);
                (*webhook, self.prefetch(Some(*pace)).saturating_sub(busy))
            })
            .collect();
        room.extend(
            in_flight
                .iter()
                .filter(|(webhook, _)| !pace.contains_key(webhook))
                .map(|(webhook, busy)| (*webhook, self.prefetch(None).saturating_sub(*busy))),
        );
        room
    }

    /// What a webhook may have claimed: beyond its cap, deliveries wait here, in memory, so
    /// a request that finishes is followed at once instead of after the next claim's round
    /// trip to the database. As many rounds of `cap` requests as fit, at the webhook's pace,
    /// in half a lease — so a buffered delivery is sent long before its lease runs out —
    /// between 2 and 8 rounds. A webhook not yet timed is assumed to take the full timeout.
    fn prefetch(&self, pace: Option<Duration>) -> u32 {
        let rounds = prefetch_rounds(self.config.lease, pace.unwrap_or(self.config.timeout));
        (f64::from(self.config.per_webhook) * rounds) as u32
    }

    fn record_pace(&self, webhook: WebhookId, took: Duration) {
        let mut pace = self.pace.lock().expect("pace lock");
        let average = pace.entry(webhook).or_insert(took);
        *average = average.mul_f64(0.8) + took.mul_f64(0.2);
    }

    fn sending_slots(&self, webhook: WebhookId) -> Arc<Semaphore> {
        let mut sending = self.sending.lock().expect("sending lock");
        let cap = self.config.per_webhook as usize;
        Arc::clone(
            sending
                .entry(webhook)
                .or_insert_with(|| Arc::new(Semaphore::new(cap))),
        )
    }

    async fn deliver(self: Arc<Self>, delivery: ClaimedDelivery) {
        let sending = self
            .sending_slots(delivery.webhook_id)
            .acquire_owned()
            .await
            .expect("never closed");
        if let Some(per_second) = delivery.rate_limit {
            self.rate_limits
                .acquire(delivery.webhook_id, per_second)
                .await;
        }
        let secrets: Vec<SigningSecret> = delivery
            .secrets
            .iter()
            .filter_map(|secret| SigningSecret::parse(secret).ok())
            .collect();
        let body = serde_json::to_vec(&Envelope::new(&delivery.event, &delivery.identity))
            .expect("an envelope serialises");
        let id = delivery.event.id.to_string();
        let message = Message {
            url: &delivery.url,
            id: &id,
            body,
            secrets: &secrets,
        };
        let (record, response) = attempt::send(
            &self.client,
            message,
            self.clock.now(),
            self.config.allow_private,
        )
        .await;
        drop(sending);
        self.record_pace(
            delivery.webhook_id,
            Duration::from_millis(u64::from(record.duration_ms)),
        );
        self.request_done(delivery.webhook_id);
        let now = self.clock.now();
        let outcome = self.config.schedule.outcome(
            delivery.attempt as usize,
            response,
            now,
            &mut rand::rng(),
        );
        tracing::debug!(delivery = %delivery.id, attempt = delivery.attempt, ?outcome, "delivery attempted");
        self.metrics.delivery_attempted(&outcome);
        self.metrics
            .delivery_duration
            .record(f64::from(record.duration_ms) / 1000.0);
        if outcome == AttemptOutcome::Delivered {
            let lag = now - delivery.event.created_at;
            self.metrics
                .delivery_lag
                .record(lag.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6);
        }
        let result = AttemptResult {
            delivery: delivery.id,
            webhook: delivery.webhook_id,
            attempt: delivery.attempt,
            record: &record,
            outcome,
            now,
            disable_after: chrono::Duration::from_std(self.config.disable_after)
                .expect("a sane duration"),
        };
        if outcome == AttemptOutcome::Delivered {
            self.successes
                .lock()
                .expect("successes lock")
                .push(Success {
                    delivery: delivery.id,
                    webhook: delivery.webhook_id,
                    attempt: delivery.attempt,
                    record,
                });
            self.successes_ready.notify_one();
            return;
        }
        // If this fails the lease runs out and the delivery is tried again: at least once.
        if let Err(error) = self.store.record_attempt(result).await {
            tracing::warn!(%error, delivery = %delivery.id, "could not record a delivery attempt");
        }
        self.leased
            .lock()
            .expect("leases lock")
            .remove(&delivery.id);
        self.recorded.send_modify(|recorded| *recorded += 1);
        self.wake();
    }

    /// Records delivered attempts in batches: while one batch is written, the next gathers.
    /// Runs until `stop`, then writes what is left.
    async fn record_successes(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let stopping = tokio::select! {
                _ = self.successes_ready.notified() => false,
                _ = stop.cancelled() => true,
            };
            let batch = std::mem::take(&mut *self.successes.lock().expect("successes lock"));
            if !batch.is_empty() {
                // If this fails the leases run out and the deliveries are sent again: at
                // least once.
                if let Err(error) = self.store.record_successes(&batch).await {
                    tracing::warn!(%error, deliveries = batch.len(), "could not record delivered attempts");
                }
                let mut leased = self.leased.lock().expect("leases lock");
                for success in &batch {
                    leased.remove(&success.delivery);
                }
                drop(leased);
                self.recorded
                    .send_modify(|recorded| *recorded += batch.len() as u64);
                self.wake();
            }
            if stopping {
                return;
            }
        }
    }

    /// The per-webhook cap counts requests to the receiver, so a slot frees as soon as the
    /// receiver has answered, not once the answer is recorded.
    fn request_done(&self, webhook: WebhookId) {
        let mut in_flight = self.in_flight.lock().expect("in-flight lock");
        if let Some(busy) = in_flight.get_mut(&webhook) {
            *busy -= 1;
            if *busy == 0 {
                in_flight.remove(&webhook);
            }
        }
        drop(in_flight);
        self.wake();
    }

    /// Sends a signed `webhook.ping` now, outside the outbox.
    pub async fn ping(
        &self,
        url: &str,
        secrets: &[String],
        webhook: WebhookId,
    ) -> super::record::Attempt {
        let secrets: Vec<SigningSecret> = secrets
            .iter()
            .filter_map(|secret| SigningSecret::parse(secret).ok())
            .collect();
        let id = crate::id::EventId::generate().to_string();
        let now = self.clock.now();
        let body = serde_json::json!({
            "id": id,
            "type": "webhook.ping",
            "createdAt": crate::timestamp::format(&now),
            "data": { "webhookId": webhook },
        });
        let message = Message {
            url,
            id: &id,
            body: body.to_string().into_bytes(),
            secrets: &secrets,
        };
        attempt::send(&self.client, message, now, self.config.allow_private)
            .await
            .0
    }
}

fn prefetch_rounds(lease: Duration, pace: Duration) -> f64 {
    let pace = pace.max(Duration::from_millis(1));
    (lease.as_secs_f64() / 2.0 / pace.as_secs_f64()).clamp(MIN_PREFETCH_ROUNDS, MAX_PREFETCH_ROUNDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_receiver_gets_a_deep_prefetch_and_a_slow_or_unknown_one_a_shallow_one() {
        let lease = Duration::from_secs(60);
        assert_eq!(prefetch_rounds(lease, Duration::from_millis(2)), 8.0);
        assert_eq!(prefetch_rounds(lease, Duration::ZERO), 8.0);
        assert_eq!(prefetch_rounds(lease, Duration::from_secs(5)), 6.0);
        // The default timeout: every buffered round still fits in half the lease.
        assert_eq!(prefetch_rounds(lease, Duration::from_secs(15)), 2.0);
        assert_eq!(prefetch_rounds(lease, Duration::from_secs(60)), 2.0);
    }
}
