//! The store's contract for the log itself: appending, with the append's outbox rows,
//! and reading.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::outbox::ClaimedDelivery;
use super::rows::PageRow;
use super::{StoreError, StoreResult};
use crate::domain::cursor::Seq;
use crate::domain::event::{EventType, NewEvent, StoredEvent};
use crate::domain::identity::IdentityKey;
use crate::domain::page::Page;
use crate::id::{EventId, WebhookId};

/// The events one request appends to one identity, in order.
pub struct AppendRequest<'a> {
    pub identity: IdentityKey,
    pub events: &'a [NewEvent],
}

/// Lets an append write deliveries already leased to this process's workers, so they go
/// out as soon as the append commits instead of after a claim: those of active, unordered
/// webhooks, at most `room` of one webhook (`default_room` for those not listed) and
/// `budget` in all. The rest are written due, for a claim to pick up.
pub struct AppendLease {
    /// The workers' time, which moves on its own in tests.
    pub now: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub room: Vec<(WebhookId, u32)>,
    pub default_room: u32,
    pub budget: u32,
}

/// What a group append wrote: each request's events in order, the deliveries leased to
/// the caller, and whether any delivery was written due, for a claim.
pub struct AppendedGroup {
    pub events: Vec<Vec<StoredEvent>>,
    pub leased: Vec<ClaimedDelivery>,
    pub deliveries_due: bool,
}

/// A page read: the events after `since`, at most `limit`, of `types` if given, looking at
/// no seq past `since + scan_window` so a sparse filter cannot scan a whole log.
pub struct ReadRequest<'a> {
    pub identity: IdentityKey,
    pub since: Seq,
    pub limit: u32,
    pub types: Option<&'a [EventType]>,
    pub scan_window: i64,
}

impl ReadRequest<'_> {
    /// The last seq the read may look at.
    pub(super) fn scan_end(&self) -> i64 {
        self.since.0.saturating_add(self.scan_window)
    }

    /// The page its rows make. Every row carries the head; an empty page is one row with no
    /// event. No row at all means the identity was erased.
    pub(super) fn page(&self, rows: Vec<PageRow>) -> StoreResult<Page> {
        let (head, earliest) = match rows.first() {
            Some(row) => (Seq(row.head_seq), Seq(row.earliest_seq)),
            None => return Err(StoreError::IdentityGone),
        };
        let events: Vec<StoredEvent> = rows
            .into_iter()
            .filter_map(|row| row.event)
            .take(self.limit as usize)
            .map(StoredEvent::from)
            .collect();
        // A full page stops at its last event; a short one examined everything up to the head
        // or the end of the scan window, whichever came first.
        let cursor = match events.last() {
            Some(last) if events.len() == self.limit as usize => last.seq,
            _ => Seq(head.0.min(self.scan_end()).max(self.since.0)),
        };
        Ok(Page {
            events,
            cursor,
            head,
            earliest,
        })
    }
}

/// The events of every log.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Events already in any log under these ids, for idempotent re-sends.
    async fn find_events(&self, ids: &[EventId]) -> StoreResult<Vec<(IdentityKey, StoredEvent)>>;
    /// Appends every request in ONE transaction: each identity's counter is bumped once for
    /// all its events and held until commit, so seqs are gap-free, contiguous per request,
    /// and never visible out of order. Answers one `Vec` per request, in request order.
    async fn append_events(
        &self,
        requests: &[AppendRequest<'_>],
        lease: Option<&AppendLease>,
    ) -> StoreResult<AppendedGroup>;
    /// A page and the identity's head, read in one snapshot.
    async fn read_events(&self, request: ReadRequest<'_>) -> StoreResult<Page>;
}
