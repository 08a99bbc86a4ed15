//! The delivery workers: claim due deliveries, send each in its own task under two limits —
//! a global cap on requests in flight and a per-webhook cap, so one slow receiver cannot
//! starve the others — then record the attempt. Woken after appends commit; polls as a
//! fallback for retries falling due and for wake-ups that were lost.
//!
//! Appends in this process skip the claim where they can: each reserves room here
//! (`reserve`), writes the deliveries it has room for already leased, and hands them over
//! once committed (`adopt`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::attempt::{self, Message};
use super::load::{Limits, Load};
use super::rate::RateLimits;
use super::schedule::RetrySchedule;
use crate::clock::Clock;
use crate::domain::delivery::AttemptOutcome;
use crate::domain::event::Envelope;
use crate::domain::secret::SigningSecret;
use crate::id::{DeliveryId, WebhookId};
use crate::log::hooks::{DeliveryLeases, LeaseReservation};
use crate::metrics::Metrics;
use crate::store::{AppendLease, AttemptResult, ClaimRequest, ClaimedDelivery, Store, Success};

/// How long shutdown lets requests in flight finish before handing their leases back.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Claims are made in slices of this many, so a deep backlog is spread between processes.
const CLAIM_BATCH: u32 = 256;
/// Deliveries claimed by this process, sending or buffered, per request it may have in
/// flight: buffered rows cost memory only, and taking a request slot only to send keeps a
/// webhook's buffer from holding the slots other webhooks need.
const BUFFERED_PER_REQUEST: usize = 4;
/// Deliveries an append may write leased, per event it appends; beyond that (an event
/// matching many webhooks), the claims take the rest.
const LEASES_PER_EVENT: usize = 4;
/// How long delivered attempts gather before they are recorded together: one write per
/// batch rather than per delivery. Only the delivery log and the leases wait for it.
const RECORD_GATHER: Duration = Duration::from_millis(5);

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
    /// Itself, for the reservations it hands the appender, which outlive a borrow.
    me: std::sync::Weak<DeliveryPool>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    config: DeliveryConfig,
    wake: Notify,
    /// Set while `run` runs: only then may appends lease deliveries to this process.
    running: AtomicBool,
    /// The claim loop is looking for room, or found none: whoever frees room wakes it.
    wants_room: AtomicBool,
    /// The deliveries being sent or waiting to be, each in its own task.
    tasks: TaskTracker,
    /// Deliveries claimed and not yet finished.
    slots: Arc<Semaphore>,
    /// Requests in flight, across all webhooks.
    requests: Semaphore,
    /// What each webhook holds here, and so what more it may take.
    load: Mutex<Load>,
    /// The per-webhook cap on requests actually in flight.
    sending: Mutex<HashMap<WebhookId, Arc<Semaphore>>>,
    leased: Mutex<HashSet<DeliveryId>>,
    rate_limits: RateLimits,
    /// Attempts recorded so far: lets a caller await an outcome instead of polling for it.
    recorded: tokio::sync::watch::Sender<u64>,
    /// Delivered attempts waiting to be recorded together.
    successes: Mutex<SuccessBatch>,
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
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            client: super::client::build(config.timeout, config.allow_private),
            slots: Arc::new(Semaphore::new(
                config.concurrency.saturating_mul(BUFFERED_PER_REQUEST),
            )),
            requests: Semaphore::new(config.concurrency),
            store,
            clock,
            config,
            wake: Notify::new(),
            running: AtomicBool::new(false),
            wants_room: AtomicBool::new(false),
            tasks: TaskTracker::new(),
            load: Mutex::default(),
            sending: Mutex::default(),
            leased: Mutex::default(),
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
        let recorder_stop = CancellationToken::new();
        let recorder = tokio::spawn(Arc::clone(&self).record_successes(recorder_stop.clone()));
        self.running.store(true, Ordering::Release);
        loop {
            self.claim_and_spawn().await;
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
    async fn claim_and_spawn(self: &Arc<Self>) {
        loop {
            // The room for every row the claim may return is taken first: a claimed row
            // with no room to start would sit leased, unsent, until its lease ran out.
            let Some(mut slots) = self.take_slots() else {
                return; // room coming back wakes the loop (`room_freed`)
            };
            let limit = slots.num_permits() as u32;
            let room = self.load.lock().expect("load lock").room(&self.limits());
            let now = self.clock.now();
            let lease_until = self.lease_from(now);
            let request = ClaimRequest {
                now,
                lease_until,
                limit,
                room: &room.room,
                default_room: room.default_room,
            };
            let claimed = match self.store.claim_deliveries(request).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "could not claim deliveries");
                    return;
                }
            };
            let again = self
                .load
                .lock()
                .expect("load lock")
                .claimed(&room, claimed.iter().map(|delivery| delivery.webhook_id));
            let full = claimed.len() as u32 == limit;
            for delivery in claimed {
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
                let slot = slots
                    .split(1)
                    .expect("a claim returns at most `limit` rows");
                self.start(delivery, lease_until, slot);
            }
            if !full && !again {
                return;
            }
        }
    }

    /// All the room a claim may use, or none. Says it wants room before it looks, so room
    /// freed after the look wakes the loop (`room_freed`).
    fn take_slots(&self) -> Option<OwnedSemaphorePermit> {
        self.wants_room.store(true, Ordering::SeqCst);
        loop {
            let limit = (self.slots.available_permits() as u32).min(CLAIM_BATCH);
            if limit == 0 {
                return None;
            }
            // Fails only if an append took room between the look and the take.
            if let Ok(slots) = Arc::clone(&self.slots).try_acquire_many_owned(limit) {
                self.wants_room.store(false, Ordering::SeqCst);
                return Some(slots);
            }
        }
    }

    /// When a lease taken at `now` ends, for claims and leasing appends alike.
    fn lease_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.config.lease).expect("a sane lease")
    }

    fn limits(&self) -> Limits {
        Limits {
            per_webhook: self.config.per_webhook,
            lease: self.config.lease,
            timeout: self.config.timeout,
        }
    }

    /// Sends a leased delivery in a task of its own, holding `slot` until it is done.
    fn start(
        self: &Arc<Self>,
        delivery: ClaimedDelivery,
        lease_until: DateTime<Utc>,
        slot: OwnedSemaphorePermit,
    ) {
        self.load
            .lock()
            .expect("load lock")
            .started(delivery.webhook_id);
        self.leased.lock().expect("leases lock").insert(delivery.id);
        // Reserved here, in the order deliveries are handed over, not in the tasks, which
        // run in no particular order.
        let turn = delivery
            .rate_limit
            .map(|per_second| self.rate_limits.reserve(delivery.webhook_id, per_second));
        let pool = Arc::clone(self);
        self.tasks.spawn(async move {
            Arc::clone(&pool).deliver(delivery, lease_until, turn).await;
            drop(slot);
            pool.room_freed();
        });
    }

    /// Room for the deliveries an append of `events` events may write already leased to
    /// this process, held until `adopt` takes it: none while the workers are not running
    /// or if the store cannot lease on append. At most half the free room, so claims
    /// (ordered webhooks, retries) always find some, and a few deliveries per event; and
    /// for each webhook, what is left of its prefetch (`Load::lease_room`).
    fn reserve_room(self: &Arc<Self>, events: usize) -> Option<Reservation> {
        // Taken first, so shutdown waits for this append to hand its deliveries over (or
        // back), and `adopt` sees `running` as shutdown has left it.
        let shutdown_waits = self.tasks.token();
        if !self.running.load(Ordering::Acquire) || !self.store.honours_append_leases() {
            return None;
        }
        let budget = (self.slots.available_permits() / 2)
            .min(events.saturating_mul(LEASES_PER_EVENT))
            .min(CLAIM_BATCH as usize) as u32;
        if budget == 0 {
            return None;
        }
        let slots = Arc::clone(&self.slots)
            .try_acquire_many_owned(budget)
            .ok()?;
        let room = self
            .load
            .lock()
            .expect("load lock")
            .lease_room(&self.limits());
        let now = self.clock.now();
        Some(Reservation {
            lease: AppendLease {
                now,
                until: self.lease_from(now),
                room: room.room,
                default_room: room.default_room,
                budget,
            },
            slots: Some(slots),
            pool: Arc::clone(self),
            _shutdown_waits: shutdown_waits,
        })
    }

    /// Starts sending what an append wrote leased under `reservation`, and gives back the
    /// room it did not use. `deliveries_due`: the append also wrote deliveries for a claim.
    async fn adopt(
        self: &Arc<Self>,
        mut reservation: Reservation,
        leased: Vec<ClaimedDelivery>,
        deliveries_due: bool,
    ) {
        let running = self.running.load(Ordering::Acquire);
        let mut unsent = Vec::new();
        for delivery in leased {
            // Not running any more (shutdown began while the append ran), or more than the
            // room held: hand those back now rather than leave them until their lease ends.
            let slot = reservation
                .slots
                .as_mut()
                .filter(|_| running)
                .and_then(|slots| slots.split(1));
            match slot {
                Some(slot) => self.start(delivery, reservation.lease.until, slot),
                None => unsent.push(delivery.id),
            }
        }
        drop(reservation);
        if !unsent.is_empty() {
            if let Err(error) = self
                .store
                .release_deliveries(&unsent, self.clock.now())
                .await
            {
                tracing::warn!(%error, "could not hand leases back; they expire on their own");
            }
        }
        if deliveries_due || !unsent.is_empty() {
            self.wake();
        }
    }

    /// Wakes the claim loop if it found no room. It says so before it looks, so room freed
    /// after it looked is always seen here.
    fn room_freed(&self) {
        if self.wants_room.swap(false, Ordering::SeqCst) {
            self.wake();
        }
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

    async fn deliver(
        self: Arc<Self>,
        delivery: ClaimedDelivery,
        lease_until: DateTime<Utc>,
        turn: Option<tokio::time::Instant>,
    ) {
        if let Some(turn) = turn {
            tokio::time::sleep_until(turn).await;
        }
        let sending = self
            .sending_slots(delivery.webhook_id)
            .acquire_owned()
            .await
            .expect("never closed");
        if let Some(per_second) = delivery.rate_limit {
            self.rate_limits.pace(delivery.webhook_id, per_second).await;
        }
        let request = self.requests.acquire().await.expect("never closed");
        // A request must end before its lease does, or another claim could send it too.
        let latest_start =
            lease_until - chrono::Duration::from_std(self.config.timeout).expect("a sane timeout");
        if self.clock.now() >= latest_start {
            drop((request, sending));
            self.hand_back(delivery.id, delivery.webhook_id).await;
            return;
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
        drop((request, sending));
        self.load.lock().expect("load lock").record_pace(
            delivery.webhook_id,
            Duration::from_millis(u64::from(record.duration_ms)),
            delivery.rate_limit,
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
            let mut batch = self.successes.lock().expect("successes lock");
            batch.successes.push(Success {
                delivery: delivery.id,
                webhook: delivery.webhook_id,
                attempt: delivery.attempt,
                record,
            });
            batch.frees_ordered |= delivery.ordered;
            drop(batch);
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

    /// Records delivered attempts in batches: while one batch is written, the next gathers,
    /// for up to `RECORD_GATHER` — unless it holds an ordered webhook's delivery, whose
    /// identity's next delivery waits for this record. Runs until `stop`, then writes what
    /// is left.
    async fn record_successes(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let mut stopping = tokio::select! {
                _ = self.successes_ready.notified() => false,
                _ = stop.cancelled() => true,
            };
            let waits_on_it = self.successes.lock().expect("successes lock").frees_ordered;
            if !stopping && !waits_on_it {
                stopping = tokio::select! {
                    _ = tokio::time::sleep(RECORD_GATHER) => false,
                    _ = stop.cancelled() => true,
                };
            }
            let batch = std::mem::take(&mut *self.successes.lock().expect("successes lock"));
            if !batch.successes.is_empty() {
                // If this fails the leases run out and the deliveries are sent again: at
                // least once.
                if let Err(error) = self.store.record_successes(&batch.successes).await {
                    tracing::warn!(%error, deliveries = batch.successes.len(), "could not record delivered attempts");
                }
                let mut leased = self.leased.lock().expect("leases lock");
                for success in &batch.successes {
                    leased.remove(&success.delivery);
                }
                drop(leased);
                self.recorded
                    .send_modify(|recorded| *recorded += batch.successes.len() as u64);
                if batch.frees_ordered {
                    self.wake();
                }
            }
            if stopping {
                return;
            }
        }
    }

    /// Makes a delivery that waited too long here due again, for a fresh claim and lease.
    async fn hand_back(&self, delivery: DeliveryId, webhook: WebhookId) {
        tracing::debug!(%delivery, "lease nearly over before sending; handing it back");
        if let Err(error) = self
            .store
            .release_deliveries(&[delivery], self.clock.now())
            .await
        {
            tracing::warn!(%error, %delivery, "could not hand a lease back; it expires on its own");
        }
        self.leased.lock().expect("leases lock").remove(&delivery);
        self.request_done(webhook);
        self.wake(); // it is due again
    }

    /// The per-webhook cap counts requests to the receiver, so a slot frees as soon as the
    /// receiver has answered, not once the answer is recorded. Wakes the claim loop if a
    /// claim left rows of this webhook behind for lack of the room this frees.
    fn request_done(&self, webhook: WebhookId) {
        if self.load.lock().expect("load lock").answered(webhook) {
            self.wake();
        }
    }

    /// Sends a signed `webhook.ping` now, outside the outbox.
    pub async fn ping(
        &self,
        url: &str,
        secrets: &[String],
        webhook: WebhookId,
    ) -> crate::domain::delivery::Attempt {
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

/// Delivered attempts not yet recorded.
#[derive(Default)]
struct SuccessBatch {
    successes: Vec<Success>,
    /// One of them is an ordered webhook's: the identity's next delivery waits for it.
    frees_ordered: bool,
}

/// The appender's view of this pool: appends lease deliveries to it, and tell it when they
/// wrote some due.
impl DeliveryLeases for DeliveryPool {
    fn reserve(&self, events: usize) -> Option<Box<dyn LeaseReservation>> {
        let pool = self.me.upgrade()?;
        pool.reserve_room(events)
            .map(|reservation| Box::new(reservation) as Box<dyn LeaseReservation>)
    }

    fn deliveries_due(&self) {
        self.wake();
    }
}

/// Room held in this process for deliveries an append writes already leased to it. Given
/// back when dropped, whether the append used it, failed, or never ran.
struct Reservation {
    lease: AppendLease,
    slots: Option<OwnedSemaphorePermit>,
    pool: Arc<DeliveryPool>,
    _shutdown_waits: TaskTrackerToken,
}

#[async_trait::async_trait]
impl LeaseReservation for Reservation {
    fn lease(&self) -> &AppendLease {
        &self.lease
    }

    async fn adopt(self: Box<Self>, leased: Vec<ClaimedDelivery>, deliveries_due: bool) {
        let pool = Arc::clone(&self.pool);
        pool.adopt(*self, leased, deliveries_due).await;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        drop(self.slots.take());
        self.pool.room_freed();
    }
}
