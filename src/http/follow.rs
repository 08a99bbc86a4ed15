//! Following one identity's log for a stream that stays open (SSE or WebSocket): the
//! position to start from, the first page read before the response starts, then each page
//! as it lands. Between pages it waits as a long-poll does: on a wake-up, holding no database
//! connection. The transports turn its frames into their own.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::error::ApiError;
use super::extract::Auth;
use super::state::AppState;
use crate::domain::cursor::Seq;
use crate::domain::event::{Envelope, EventType};
use crate::domain::identity::{IdentityHandle, IdentityKey};
use crate::domain::page::Page;
use crate::log::{EventLog, PullRequest};
use crate::metrics::Metrics;
use crate::tenancy::keyring::KeyWatch;

const PAGE: u32 = 1_000;
/// One wait between events; shutdown and new events end it early, and the transports'
/// keep-alives go out while it lasts.
const WAIT: Duration = Duration::from_secs(60);

/// What a stream sends, in order.
pub enum Frame {
    /// The client's resume point moved without an event: sent first, and when a type
    /// filter skipped past events.
    Position(Seq),
    Event {
        seq: Seq,
        event_type: String,
        /// The envelope, as the pull answers with it.
        json: String,
    },
}

/// Why a stream ended; the client reconnects from its last position in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    ShuttingDown,
    /// The key the stream was opened with was revoked; a reconnect is refused with a 401.
    KeyRevoked,
    ReadFailed,
}

/// One stream's position in one log, and the frames read but not yet sent.
pub struct Follower {
    log: Arc<EventLog>,
    key: KeyWatch,
    identity: IdentityKey,
    handle: IdentityHandle,
    types: Option<Vec<EventType>>,
    since: Seq,
    ready: VecDeque<Frame>,
    _open: OpenStream,
}

impl Follower {
    /// Starts after `resume_at`, or at the head. The first page is read here, before the
    /// response starts, so a position past the head is a 400 rather than a stream that
    /// breaks at once.
    pub async fn open(
        state: &AppState,
        auth: &Auth,
        handle: IdentityHandle,
        resume_at: Option<Seq>,
        types: Option<Vec<EventType>>,
    ) -> Result<Self, ApiError> {
        let identity = state.log.resolve(auth.0.tenant_id, &handle).await?;
        let since = match resume_at {
            Some(since) => since,
            None => state.log.head(identity).await?,
        };
        let request = PullRequest {
            since,
            limit: PAGE,
            types: types.clone(),
            wait: Duration::ZERO,
        };
        let first = state.log.pull(identity, request).await?;
        let mut follower = Follower {
            log: Arc::clone(&state.log),
            key: auth.watch(&state.keyring),
            identity,
            handle,
            types,
            since,
            ready: VecDeque::new(),
            _open: OpenStream::new(Arc::clone(&state.metrics)),
        };
        // The position first, before any event: a client that reconnects before the first
        // event resumes from here rather than from a head that has moved on.
        follower.ready.push_back(Frame::Position(since));
        follower.take(first);
        Ok(follower)
    }

    fn take(&mut self, page: Page) {
        let passed_unsent = page.events.is_empty() && page.cursor > self.since;
        self.since = page.cursor;
        if passed_unsent {
            self.ready.push_back(Frame::Position(page.cursor));
        }
        self.ready.extend(page.events.iter().map(|event| {
            Frame::Event {
                seq: event.seq,
                event_type: event.event_type.clone(),
                json: serde_json::to_string(&Envelope::new(event, &self.handle))
                    .expect("an envelope serialises"),
            }
        }));
    }

    /// `next`, owning the follower, so a transport can keep the wait going across its own
    /// work (a ping, a message from the client) rather than start it again.
    pub async fn advance(mut self) -> (Self, Result<Frame, End>) {
        let next = self.next().await;
        (self, next)
    }

    /// The next frame, waiting for one; or why the stream ends.
    pub async fn next(&mut self) -> Result<Frame, End> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Ok(frame);
            }
            if self.log.is_stopping() {
                return Err(End::ShuttingDown);
            }
            let request = PullRequest {
                since: self.since,
                limit: PAGE,
                types: self.types.clone(),
                wait: WAIT,
            };
            let read = tokio::select! {
                read = self.log.pull(self.identity, request) => read,
                () = self.key.revoked() => return Err(End::KeyRevoked),
            };
            if self.key.revoked_meanwhile().await {
                return Err(End::KeyRevoked);
            }
            match read {
                Ok(page) => self.take(page),
                Err(error) => {
                    tracing::warn!(%error, "ending an event stream on a read error");
                    return Err(End::ReadFailed);
                }
            }
        }
    }
}

/// Counts a stream as open for as long as it lives, however it ends.
struct OpenStream(Arc<Metrics>);

impl OpenStream {
    fn new(metrics: Arc<Metrics>) -> Self {
        metrics.open_streams.increment(1.0);
        Self(metrics)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open_streams.decrement(1.0);
    }
}
