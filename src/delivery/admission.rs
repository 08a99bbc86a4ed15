//! Admission: how many deliveries this process takes on (claimed, or leased by its appends;
//! sending or waiting to) and how much of that each webhook may hold (`Load`). Claims and
//! leasing appends draw on the same room, and room given back wakes a claim that found
//! none.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::load::{Limits, Load, Room};
use crate::id::WebhookId;

/// Claims are made in slices of this many, so a deep backlog is spread between processes.
const CLAIM_BATCH: u32 = 256;
/// Deliveries taken on per request the process may have in flight: waiting ones cost
/// memory only, and a request slot is taken only to send, so one webhook's backlog does not
/// hold the slots other webhooks need.
const TAKEN_PER_REQUEST: usize = 4;
/// Deliveries an append may write leased, per event it appends; beyond that (an event
/// matching many webhooks), the claims take the rest.
const LEASES_PER_EVENT: usize = 4;

pub struct Admission {
    /// Deliveries taken on and not yet finished.
    slots: Arc<Semaphore>,
    /// The claim loop is looking for room, or found none: whoever frees room wakes it.
    wants_room: AtomicBool,
    load: Mutex<Load>,
    limits: Limits,
}

/// The room one claim may fill: a slot for every row it may return, and each webhook's
/// share.
pub struct ClaimRoom {
    pub slots: OwnedSemaphorePermit,
    pub webhooks: Room,
}

/// The room one append may lease into.
pub struct AppendRoom {
    pub slots: OwnedSemaphorePermit,
    /// Deliveries it may lease in all.
    pub budget: u32,
    pub webhooks: Room,
}

impl Admission {
    /// Room for `TAKEN_PER_REQUEST` deliveries per request of `concurrency`.
    pub fn new(concurrency: usize, limits: Limits) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(
                concurrency.saturating_mul(TAKEN_PER_REQUEST),
            )),
            wants_room: AtomicBool::new(false),
            load: Mutex::default(),
            limits,
        }
    }

    /// All the room a claim may use, or none. The room for every row the claim may return
    /// is taken first: a claimed row with no room to start would sit leased, unsent, until
    /// its lease ran out. Says it wants room before it looks, so room freed after the look
    /// is seen by `freed`.
    pub fn for_claim(&self) -> Option<ClaimRoom> {
        self.wants_room.store(true, Ordering::SeqCst);
        loop {
            let limit = (self.slots.available_permits() as u32).min(CLAIM_BATCH);
            if limit == 0 {
                return None;
            }
            // Fails only if an append took room between the look and the take.
            if let Ok(slots) = Arc::clone(&self.slots).try_acquire_many_owned(limit) {
                self.wants_room.store(false, Ordering::SeqCst);
                let webhooks = self.load.lock().expect("load lock").room(&self.limits);
                return Some(ClaimRoom { slots, webhooks });
            }
        }
    }

    /// Notes what a claim given `room` took. True if it should claim again at once (see
    /// `Load::claimed`).
    pub fn claimed(&self, room: &Room, webhooks: impl IntoIterator<Item = WebhookId>) -> bool {
        self.load.lock().expect("load lock").claimed(room, webhooks)
    }

    /// Room for the deliveries an append of `events` events may write leased: at most half
    /// the free room, so claims (ordered webhooks, retries) always find some, and a few
    /// deliveries per event; and for each webhook, what is left of its prefetch.
    pub fn for_append(&self, events: usize) -> Option<AppendRoom> {
        let budget = (self.slots.available_permits() / 2)
            .min(events.saturating_mul(LEASES_PER_EVENT))
            .min(CLAIM_BATCH as usize) as u32;
        if budget == 0 {
            return None;
        }
        let slots = Arc::clone(&self.slots)
            .try_acquire_many_owned(budget)
            .ok()?;
        let webhooks = self
            .load
            .lock()
            .expect("load lock")
            .lease_room(&self.limits);
        Some(AppendRoom {
            slots,
            budget,
            webhooks,
        })
    }

    /// A delivery of `webhook` was taken on.
    pub fn started(&self, webhook: WebhookId) {
        self.load.lock().expect("load lock").started(webhook);
    }

    /// `webhook`'s receiver answered a request in `took` (or it was handed back unsent:
    /// `None`). True if a claim left rows of that webhook behind for lack of the room this
    /// frees, and should look again.
    pub fn answered(&self, webhook: WebhookId, took: Option<(Duration, Option<u32>)>) -> bool {
        let mut load = self.load.lock().expect("load lock");
        if let Some((took, rate_limit)) = took {
            load.record_pace(webhook, took, rate_limit);
        }
        load.answered(webhook)
    }

    /// Room came back. True if the claim loop found none when it last looked, and so waits
    /// to be woken.
    pub fn freed(&self) -> bool {
        self.wants_room.swap(false, Ordering::SeqCst)
    }
}
