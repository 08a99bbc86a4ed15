//! RETENTION: the sweep that removes expired events, with their deliveries and attempts,
//! in the background. Each step is a bounded batch shared evenly over up to a hundred
//! logs, in two short transactions of a fixed number of statements whatever the number of
//! logs; the logs are found through an index on the time of each one's oldest event, so
//! the sweep's cost follows what it removes, not the size of the tables. A crash between
//! steps loses nothing, and the next pass resumes. Steps follow the store's pace, however
//! much has expired: on PostgreSQL, where a removal blocks no append, up to 5,000 events a
//! step and a rest four times as long as the step held its connection (a fifth of one
//! connection); on SQLite, where every step holds the one writer, up to 250 and nineteen
//! times as long (a twentieth of the writer). The appends, pulls and deliveries beside it
//! keep their pace.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::domain::retention::Retention;
use crate::metrics::Metrics;
use crate::store::{Store, StoreResult};

/// Identities taken per tenant per pass; a pass that finds this many comes back at once.
const IDENTITIES_PER_PASS: u32 = 100;
/// Removed rows' space is reclaimed at most this often.
const RECLAIM_EVERY: Duration = Duration::from_secs(30);

/// What the sweep needs to know.
#[derive(Clone, Copy, Debug)]
pub struct SweepSettings {
    /// The retention of tenants that set none of their own.
    pub default: Retention,
    /// The pause between passes that found nothing left to remove.
    pub interval: Duration,
    /// How long finished deliveries and their attempts are kept, when shorter than their
    /// events' retention.
    pub delivery_log: Option<Duration>,
}

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub events_removed: u64,
    /// Whether it stopped at a bound with more to remove.
    pub more: bool,
}

pub struct Sweeper {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    settings: SweepSettings,
    nudge: Notify,
    /// Rows removed since space was last reclaimed, and when that was.
    reclaim: std::sync::Mutex<(u64, Instant)>,
}

impl Sweeper {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        settings: SweepSettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            clock,
            metrics,
            settings,
            nudge: Notify::new(),
            reclaim: std::sync::Mutex::new((0, Instant::now())),
        })
    }

    /// Starts a pass now rather than at the end of the interval (after moving a test's
    /// clock, or a change of a tenant's retention).
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// Sweeps until `shutdown`: a pass every interval, and at once again while a pass
    /// leaves work behind.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let pause = match self.pass().await {
                Ok(pass) if pass.more => Duration::ZERO,
                Ok(_) => self.settings.interval,
                Err(error) => {
                    tracing::warn!(%error, "the retention sweep failed; it tries again");
                    self.settings.interval
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = self.nudge.notified() => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// One pass: each tenant's expired logs, then what erasures (or a crash) left behind,
    /// at most `IDENTITIES_PER_PASS` of each, one bounded step for each list.
    pub async fn pass(&self) -> StoreResult<Pass> {
        let now = self.clock.now();
        let mut pass = Pass::default();
        for (tenant, own) in self.store.tenant_retentions().await? {
            let Some(cutoff) = own.unwrap_or(self.settings.default).cutoff(now) else {
                continue;
            };
            let expired = self
                .store
                .expired_identities(tenant, cutoff, IDENTITIES_PER_PASS)
                .await?;
            pass.more |= expired.len() == IDENTITIES_PER_PASS as usize;
            if !expired.is_empty() {
                self.step(&mut pass, |batch| {
                    self.store.sweep_identities(&expired, Some(cutoff), batch)
                })
                .await?;
            }
        }
        if let Some(window) = self.settings.delivery_log {
            self.trim_delivery_log(&mut pass, now, window).await?;
        }
        let unpurged = self.store.unpurged_identities(IDENTITIES_PER_PASS).await?;
        pass.more |= unpurged.len() == IDENTITIES_PER_PASS as usize;
        if !unpurged.is_empty() {
            self.step(&mut pass, |batch| {
                self.store.sweep_identities(&unpurged, None, batch)
            })
            .await?;
        }
        self.reclaim_if_due(pass.events_removed).await?;
        let oldest = self.store.oldest_event_at().await?;
        let age = oldest.map_or(0.0, |oldest| {
            (now - oldest).num_milliseconds().max(0) as f64 / 1000.0
        });
        self.metrics.oldest_event_age.set(age);
        self.metrics
            .sweep_last_run
            .set(now.timestamp_millis() as f64 / 1000.0);
        Ok(pass)
    }

    /// Removes finished deliveries older than the delivery log's window, a batch at a time,
    /// resting as after any step.
    async fn trim_delivery_log(
        &self,
        pass: &mut Pass,
        now: chrono::DateTime<chrono::Utc>,
        window: Duration,
    ) -> StoreResult<()> {
        let Some(before) = chrono::Duration::from_std(window)
            .ok()
            .and_then(|window| now.checked_sub_signed(window))
        else {
            return Ok(());
        };
        let batch = self.store.removal_pace().batch;
        let started = Instant::now();
        let removed = self.store.trim_delivery_log(before, batch).await?;
        self.metrics.deliveries_trimmed.increment(removed);
        pass.more |= removed == u64::from(batch);
        if removed > 0 {
            self.reclaim.lock().expect("reclaim lock").0 += removed;
            let rest = started.elapsed() * self.store.removal_pace().rest_factor;
            tokio::time::sleep(rest).await;
        }
        Ok(())
    }

    /// Reclaims removed rows' space every `RECLAIM_EVERY` at most, and only after removals.
    async fn reclaim_if_due(&self, removed: u64) -> StoreResult<()> {
        let due = {
            let mut reclaim = self.reclaim.lock().expect("reclaim lock");
            reclaim.0 += removed;
            let due = reclaim.0 > 0 && reclaim.1.elapsed() >= RECLAIM_EVERY;
            if due {
                *reclaim = (0, Instant::now());
            }
            due
        };
        if due {
            self.store.reclaim().await?;
        }
        Ok(())
    }

    /// One bounded step, then a rest in proportion to the time it held its connection.
    async fn step<F, Fut>(&self, pass: &mut Pass, step: F) -> StoreResult<()>
    where
        F: FnOnce(u32) -> Fut,
        Fut: Future<Output = StoreResult<crate::store::Swept>>,
    {
        let pace = self.store.removal_pace();
        let swept = step(pace.batch).await?;
        tracing::debug!(
            events = swept.events,
            more = swept.more,
            held = ?swept.held,
            "sweep step"
        );
        self.metrics.events_removed.increment(swept.events);
        pass.events_removed += swept.events;
        pass.more |= swept.more;
        if swept.events > 0 {
            tokio::time::sleep(swept.held * pace.rest_factor).await;
        }
        Ok(())
    }
}
