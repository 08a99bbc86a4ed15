//! Recording attempts. A failure is written at once, with the retry it schedules.
//! Successes, the common case, gather for a few milliseconds and are written together: one
//! write per batch rather than per delivery, since only the delivery log and the leases
//! wait for them — unless an ordered webhook's delivery is among them, whose identity's
//! next delivery waits on its record.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::id::DeliveryId;
use crate::store::{AttemptResult, Store, Success};

/// How long delivered attempts gather before they are recorded together.
const GATHER: Duration = Duration::from_millis(5);

pub struct Recorder {
    store: Arc<dyn Store>,
    batch: Mutex<Batch>,
    ready: Notify,
    /// Attempts recorded so far: lets a caller await an outcome instead of polling for it.
    recorded: watch::Sender<u64>,
}

/// Delivered attempts not yet recorded.
#[derive(Default)]
struct Batch {
    successes: Vec<Success>,
    /// One of them is an ordered webhook's: the identity's next delivery waits for it.
    frees_ordered: bool,
}

/// A batch of successes, written.
pub struct Written {
    pub deliveries: Vec<DeliveryId>,
    /// An ordered webhook's delivery was among them: its identity's next one may go.
    pub frees_ordered: bool,
}

impl Recorder {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            batch: Mutex::default(),
            ready: Notify::new(),
            recorded: watch::channel(0).0,
        }
    }

    /// The number of attempts recorded, as it changes.
    pub fn recorded(&self) -> watch::Receiver<u64> {
        self.recorded.subscribe()
    }

    /// Queues a success for the next batch. `ordered`: its webhook delivers in order.
    pub fn delivered(&self, success: Success, ordered: bool) {
        let mut batch = self.batch.lock().expect("successes lock");
        batch.successes.push(success);
        batch.frees_ordered |= ordered;
        drop(batch);
        self.ready.notify_one();
    }

    /// Writes an attempt that did not deliver, with what it means for the delivery and its
    /// webhook, then tells `written`; only then is it counted, so whoever awaits the count
    /// sees everything `written` did.
    pub async fn failed(&self, result: AttemptResult<'_>, written: impl FnOnce()) {
        let delivery = result.delivery;
        // If this fails the lease runs out and the delivery is tried again: at least once.
        if let Err(error) = self.store.record_attempt(result).await {
            tracing::warn!(%error, %delivery, "could not record a delivery attempt");
        }
        written();
        self.recorded.send_modify(|recorded| *recorded += 1);
    }

    /// Writes batches of successes until `stop`, then what is left; tells `written` of each.
    pub async fn run(&self, stop: CancellationToken, written: impl Fn(Written)) {
        loop {
            let mut stopping = tokio::select! {
                _ = self.ready.notified() => false,
                _ = stop.cancelled() => true,
            };
            let waits_on_it = self.batch.lock().expect("successes lock").frees_ordered;
            if !stopping && !waits_on_it {
                stopping = tokio::select! {
                    _ = tokio::time::sleep(GATHER) => false,
                    _ = stop.cancelled() => true,
                };
            }
            let batch = std::mem::take(&mut *self.batch.lock().expect("successes lock"));
            if !batch.successes.is_empty() {
                // If this fails the leases run out and the deliveries are sent again: at
                // least once.
                if let Err(error) = self.store.record_successes(&batch.successes).await {
                    tracing::warn!(%error, deliveries = batch.successes.len(), "could not record delivered attempts");
                }
                let count = batch.successes.len() as u64;
                written(Written {
                    deliveries: batch
                        .successes
                        .iter()
                        .map(|success| success.delivery)
                        .collect(),
                    frees_ordered: batch.frees_ordered,
                });
                self.recorded.send_modify(|recorded| *recorded += count);
            }
            if stopping {
                return;
            }
        }
    }
}
