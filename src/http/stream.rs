//! `GET /v1/identities/{handle}/events/stream`: the log as Server-Sent Events — `id:` the
//! seq, `event:` the type, `data:` the envelope. A reconnecting client resumes with
//! `Last-Event-ID`. Between events the stream waits as a long-poll does: on a wake-up,
//! holding no database connection.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;

use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::events::parse_types;
use super::extract::{Auth, Handle, QueryParams};
use super::responses::{ExpiredCursor, NoSuchIdentity, ReaderKey};
use super::state::AppState;
use crate::domain::cursor::Seq;
use crate::domain::event::{Envelope, EventType};
use crate::domain::identity::{IdentityHandle, IdentityKey};
use crate::domain::key::Scope;
use crate::domain::page::Page;
use crate::log::{EventLog, PullRequest};
use crate::metrics::Metrics;
use crate::tenancy::keyring::KeyWatch;

const PAGE: u32 = 1_000;
/// One wait between events; shutdown and new events end it early, and the keep-alive
/// comments go out while it lasts.
const WAIT: Duration = Duration::from_secs(60);

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Start after this seq. Without it (and without `Last-Event-ID`) the stream starts
    /// at the head: new events only. Past the head it is answered 400.
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    since: Option<i64>,
    /// Comma-separated event types to include.
    #[param(
        pattern = "^ *([a-z0-9_-]{1,32}(\\.[a-z0-9_-]{1,32}){0,2}( *, *[a-z0-9_-]{1,32}(\\.[a-z0-9_-]{1,32}){0,2})*)? *$",
        example = "email.replied,email.bounced"
    )]
    types: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/identities/{handle}/events/stream",
    operation_id = "streamEvents",
    tag = "events",
    summary = "Stream events (Server-Sent Events)",
    description = "The log as Server-Sent Events: `id:` is the seq, `event:` the type, \
        `data:` the envelope the pull answers with. Resume with `Last-Event-ID` (or \
        `since`); with neither, the stream starts at the head. An idle stream sends a \
        `: heartbeat` comment every 15 s. Needs `events:read`.",
    params(
        ("handle" = inline(IdentityHandle), Path, description = "The identity's handle"),
        ("Last-Event-ID" = Option<i64>, Header, minimum = 0, maximum = 9_223_372_036_854_775_807_i64, description = "The seq of the last event received; takes precedence over `since`"),
        StreamQuery,
    ),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "Invalid handle, query or `Last-Event-ID`, or a position beyond the head", body = ErrorBody),
        ReaderKey,
        NoSuchIdentity,
        ExpiredCursor,
    ),
    security(("apiKey" = [])),
)]
pub async fn stream(
    auth: Auth,
    State(state): State<AppState>,
    Handle(handle): Handle,
    headers: HeaderMap,
    QueryParams(query): QueryParams<StreamQuery>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_identity(Scope::EventsRead, &handle)?;
    // A browser reconnects to the URL it first opened, `since` included: the header it
    // adds is the newer position, so it wins.
    let resume_at = match last_event_id(&headers)? {
        Some(seq) => Some(seq),
        None => match query.since {
            Some(since @ 0..) => Some(Seq(since)),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_since",
                    "`since` must be 0 or more",
                ));
            }
            None => None,
        },
    };
    let types = parse_types(query.types.as_deref())?;
    let identity = state.log.resolve(auth.0.tenant_id, &handle).await?;
    let since = match resume_at {
        Some(since) => since,
        None => state.log.head(identity).await?,
    };
    // The first page is read before the response starts, so a `since` past the head is a
    // 400 rather than a stream that breaks at once.
    let first = state
        .log
        .pull(
            identity,
            PullRequest {
                since,
                limit: PAGE,
                types: types.clone(),
                wait: Duration::ZERO,
            },
        )
        .await?;
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
    follower
        .ready
        .push_back(Event::default().id(since.0.to_string()));
    follower.take(first);
    Ok(Sse::new(follower.into_stream()).keep_alive(
        KeepAlive::new()
            .interval(state.settings.stream_heartbeat)
            .text("heartbeat"),
    ))
}

fn last_event_id(headers: &HeaderMap) -> Result<Option<Seq>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<i64>().ok())
        .filter(|seq| *seq >= 0)
        .map(|seq| Some(Seq(seq)))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_last_event_id",
                "`Last-Event-ID` must be the seq of an event this stream sent (0 or more)",
            )
        })
}

/// One stream's position in one log, and the events read but not yet sent.
struct Follower {
    log: Arc<EventLog>,
    /// The key the stream was opened with: its revocation ends the stream.
    key: KeyWatch,
    identity: IdentityKey,
    handle: IdentityHandle,
    types: Option<Vec<EventType>>,
    since: Seq,
    ready: VecDeque<Event>,
    _open: OpenStream,
}

impl Follower {
    fn take(&mut self, page: Page) {
        let passed_unsent = page.events.is_empty() && page.cursor > self.since;
        self.since = page.cursor;
        if passed_unsent {
            // A filter skipped past events: move the client's resume point past them too.
            self.ready
                .push_back(Event::default().id(page.cursor.0.to_string()));
        }
        self.ready.extend(page.events.iter().map(|event| {
            let envelope = Envelope::new(event, &self.handle);
            Event::default()
                .id(event.seq.0.to_string())
                .event(&event.event_type)
                .data(serde_json::to_string(&envelope).expect("an envelope serialises"))
        }));
    }

    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> {
        futures_util::stream::unfold(self, |mut follower| async move {
            loop {
                if let Some(event) = follower.ready.pop_front() {
                    return Some((Ok(event), follower));
                }
                if follower.log.is_stopping() {
                    return None;
                }
                let request = PullRequest {
                    since: follower.since,
                    limit: PAGE,
                    types: follower.types.clone(),
                    wait: WAIT,
                };
                // Revoked: the stream ends, and a reconnect is refused with a 401.
                let read = tokio::select! {
                    read = follower.log.pull(follower.identity, request) => read,
                    () = follower.key.revoked() => return None,
                };
                if follower.key.revoked_meanwhile().await {
                    return None;
                }
                match read {
                    Ok(page) => follower.take(page),
                    Err(error) => {
                        // The client reconnects with `Last-Event-ID` and loses nothing.
                        tracing::warn!(%error, "ending an event stream on a read error");
                        return None;
                    }
                }
            }
        })
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
