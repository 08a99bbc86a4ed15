//! Positions in a log: `Seq`, and the page a pull answers with.

use serde::Serialize;

use super::event::StoredEvent;

/// A per-identity sequence number. 0 means "before the first event", so `since=0` reads
/// from the start; real events start at 1.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(example = 43)]
pub struct Seq(pub i64);

impl Seq {
    pub const ZERO: Seq = Seq(0);

    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

/// One answer of a pull: the events after `since`, and where to resume.
#[derive(Debug)]
pub struct Page {
    pub events: Vec<StoredEvent>,
    /// The last seq the server examined: with a `types` filter it may pass events the
    /// client did not ask for, so the client never rescans them.
    pub cursor: Seq,
    /// The identity's head when the page was read, in the same snapshot as the events.
    pub head: Seq,
}

impl Page {
    pub fn has_more(&self) -> bool {
        self.cursor < self.head
    }
}
