//! ACTIVITY: appends per tenant and delivery attempts per webhook, by the minute, for
//! `GET /v1/stats`. Counted in memory where they happen and added to the database every
//! few seconds (`run`), so counting costs an append or an attempt no write of its own. A
//! process that crashes loses those seconds' counts; an addition whose commit went
//! unacknowledged is not tried again, so it may be lost but is never counted twice.
//! `report` reads them back.

pub mod latency;
pub mod report;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::domain::activity::{AttemptKind, FailedAttempt, Minute};
use crate::domain::delivery::Attempt;
use crate::id::{DeliveryId, TenantId, WebhookId};
use crate::store::activity::{ActivityBatch, AppendCount, AttemptCount};
use crate::store::{Store, StoreError, StoreResult};

/// How often a process adds its counts to the database.
const ADD_EVERY: Duration = Duration::from_secs(5);
/// How long counts are kept: the longest window a report reads, and an hour more.
pub const KEPT_MINUTES: i64 = 25 * 60;
/// How often counts older than that are removed.
const FORGET_EVERY: Duration = Duration::from_secs(600);
/// Counts held in memory at most while the database cannot take them: past this, a count
/// under a new key is not kept. Counts too old for any report are dropped when handed back.
const MAX_HELD: usize = 200_000;

pub struct Activity {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    counts: Mutex<Counts>,
    /// One addition at a time, so that counts taken out are back or stored before the
    /// next taking.
    adding: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Counts {
    appends: HashMap<(TenantId, Minute), u64>,
    attempts: HashMap<(WebhookId, Minute, AttemptKind, i16), u64>,
    failures: HashMap<WebhookId, FailedAttempt>,
}

impl Counts {
    fn len(&self) -> usize {
        self.appends.len() + self.attempts.len() + self.failures.len()
    }

    fn into_batch(self) -> ActivityBatch {
        ActivityBatch {
            appends: self
                .appends
                .into_iter()
                .map(|((tenant, minute), events)| AppendCount {
                    tenant,
                    minute,
                    events,
                })
                .collect(),
            attempts: self
                .attempts
                .into_iter()
                .map(|((webhook, minute, kind, bucket), attempts)| AttemptCount {
                    webhook,
                    minute,
                    kind,
                    bucket,
                    attempts,
                })
                .collect(),
            failures: self.failures.into_iter().collect(),
        }
    }

    /// Takes back a batch that could not be stored, under what was counted since.
    fn restore(&mut self, batch: ActivityBatch, oldest_read: Minute) {
        for count in batch.appends {
            if count.minute >= oldest_read {
                *self
                    .appends
                    .entry((count.tenant, count.minute))
                    .or_default() += count.events;
            }
        }
        for count in batch.attempts {
            if count.minute >= oldest_read {
                let key = (count.webhook, count.minute, count.kind, count.bucket);
                *self.attempts.entry(key).or_default() += count.attempts;
            }
        }
        for (webhook, failure) in batch.failures {
            if let Entry::Vacant(entry) = self.failures.entry(webhook) {
                entry.insert(failure);
            }
        }
    }
}

impl Activity {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            store,
            clock,
            counts: Mutex::default(),
            adding: tokio::sync::Mutex::new(()),
        })
    }

    /// A tenant's append of `events` new events committed.
    pub fn appended(&self, tenant: TenantId, events: usize) {
        if events == 0 {
            return;
        }
        let minute = Minute::of(self.clock.now());
        let mut counts = self.counts.lock().expect("activity lock");
        let full = counts.len() >= MAX_HELD;
        if let Some(count) = counted(full, &mut counts.appends, (tenant, minute)) {
            *count += events as u64;
        }
    }

    /// A delivery attempt was answered (or could not be made), and came to `kind`.
    pub fn attempted(
        &self,
        webhook: WebhookId,
        delivery: DeliveryId,
        record: &Attempt,
        kind: AttemptKind,
    ) {
        let bucket = match record.status_code {
            Some(_) => latency::bucket(record.duration_ms),
            None => latency::NO_ANSWER,
        };
        let key = (webhook, Minute::of(record.at), kind, bucket);
        let mut counts = self.counts.lock().expect("activity lock");
        let full = counts.len() >= MAX_HELD;
        if let Some(count) = counted(full, &mut counts.attempts, key) {
            *count += 1;
        }
        if kind != AttemptKind::Delivered {
            let failure = FailedAttempt {
                delivery_id: delivery,
                at: record.at,
                status_code: record.status_code,
                error: record.error.clone(),
                response_body: record.response_body.clone(),
            };
            match counts.failures.entry(webhook) {
                Entry::Occupied(mut latest) if latest.get().at <= failure.at => {
                    latest.insert(failure);
                }
                Entry::Occupied(_) => {}
                Entry::Vacant(entry) => {
                    entry.insert(failure);
                }
            }
        }
    }

    /// Adds this process's counts to the database now: a report reads them at once.
    pub async fn add(self: &Arc<Self>) -> StoreResult<()> {
        // In a task of its own: a caller that goes away (a client hanging up on a report)
        // must not take the counts it had taken out with it.
        let activity = Arc::clone(self);
        tokio::spawn(async move { activity.add_taken().await })
            .await
            .expect("adding activity counts does not panic")
    }

    async fn add_taken(&self) -> StoreResult<()> {
        let _adding = self.adding.lock().await;
        let batch = std::mem::take(&mut *self.counts.lock().expect("activity lock")).into_batch();
        if batch.is_empty() {
            return Ok(());
        }
        let result = self.store.add_activity(&batch).await;
        let kept = matches!(&result, Err(error) if !matches!(error, StoreError::OutcomeUnknown(_)));
        if kept {
            let oldest_read = Minute(Minute::of(self.clock.now()).0 - KEPT_MINUTES);
            self.counts
                .lock()
                .expect("activity lock")
                .restore(batch, oldest_read);
        }
        result
    }

    /// Adds counts every few seconds and removes old ones, until `stop`. What is counted
    /// after the last addition is the owner's to add once nothing counts any more.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut adding = tokio::time::interval(ADD_EVERY);
        adding.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut forgetting = tokio::time::interval(FORGET_EVERY);
        forgetting.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = adding.tick() => {
                    if let Err(error) = self.add().await {
                        tracing::warn!(%error, "could not store activity counts; keeping them for the next try");
                    }
                }
                _ = forgetting.tick() => {
                    let before = Minute(Minute::of(self.clock.now()).0 - KEPT_MINUTES);
                    if let Err(error) = self.store.forget_activity(before).await {
                        tracing::warn!(%error, "could not remove old activity counts");
                    }
                }
                _ = stop.cancelled() => return,
            }
        }
    }
}

/// The count under `key`, made if there is room for it: counting must not grow memory
/// without bound while the database is away.
fn counted<K: std::hash::Hash + Eq>(
    full: bool,
    map: &mut HashMap<K, u64>,
    key: K,
) -> Option<&mut u64> {
    match map.entry(key) {
        Entry::Occupied(entry) => Some(entry.into_mut()),
        Entry::Vacant(_) if full => None,
        Entry::Vacant(entry) => Some(entry.insert(0)),
    }
}
