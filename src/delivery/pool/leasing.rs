//! Appends that lease their deliveries to this process: the log's `DeliveryLeases`,
//! implemented. An append reserves room here before it commits, writes the deliveries it
//! has room for already leased, and hands them over once committed; no claim runs in
//! between.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::OwnedSemaphorePermit;
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::DeliveryPool;
use crate::log::hooks::{DeliveryLeases, LeaseReservation};
use crate::store::{AppendLease, ClaimedDelivery};

impl DeliveryPool {
    /// Room for the deliveries an append of `events` events may write already leased to
    /// this process, held until the append hands them over: none while the workers are
    /// not running.
    fn reserve(self: &Arc<Self>, events: usize) -> Option<Reservation> {
        // Taken first, so shutdown waits for this append to hand its deliveries over (or
        // back), and `adopt` sees `running` as shutdown has left it.
        let shutdown_waits = self.tasks.token();
        if !self.running.load(Ordering::Acquire) {
            return None;
        }
        let room = self.admission.for_append(events)?;
        let now = self.clock.now();
        Some(Reservation {
            lease: AppendLease {
                now,
                until: self.lease_from(now),
                room: room.webhooks.room,
                default_room: room.webhooks.default_room,
                budget: room.budget,
            },
            slots: Some(room.slots),
            pool: Arc::clone(self),
            _shutdown_waits: shutdown_waits,
        })
    }

    /// Starts sending what an append wrote leased under `reservation`, and gives back the
    /// room it did not use.
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
            self.release(&unsent).await;
        }
        if deliveries_due || !unsent.is_empty() {
            self.wake();
        }
    }
}
/// The appender's view of this pool: appends lease deliveries to it, and tell it when they
/// wrote some due.
impl DeliveryLeases for DeliveryPool {
    fn reserve(&self, events: usize) -> Option<Box<dyn LeaseReservation>> {
        let pool = self.me.upgrade()?;
        pool.reserve(events)
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
