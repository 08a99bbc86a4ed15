//! The page a read answers with: events, and where to resume.

use super::cursor::Seq;
use super::event::StoredEvent;

/// One answer of a pull: the events after `since`, and where to resume.
#[derive(Debug)]
pub struct Page {
    pub events: Vec<StoredEvent>,
    /// The last seq the server examined: with a `types` filter it may pass events the
    /// client did not ask for, so the client never rescans them.
    pub cursor: Seq,
    /// The identity's head when the page was read, in the same snapshot as the events.
    pub head: Seq,
    /// The first seq the log still holds (the head + 1 when it holds none), read with the
    /// page: a `since` below `earliest - 1` asks for events no longer there.
    pub earliest: Seq,
}

impl Page {
    pub fn has_more(&self) -> bool {
        self.cursor < self.head
    }

    /// Whether a read after `since` would have missed events no longer held.
    pub fn skips_expired(&self, since: Seq) -> bool {
        since.0 < self.earliest.0 - 1
    }
}
