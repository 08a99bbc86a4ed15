//! `GET /v1/identities/{handle}/events/stream`: the log as Server-Sent Events — `id:` the
//! seq, `event:` the type, `data:` the envelope. A reconnecting client resumes with
//! `Last-Event-ID`.

use std::convert::Infallible;

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
use super::follow::{Follower, Frame};
use super::responses::{ExpiredCursor, NoSuchIdentity, ReaderKey};
use super::state::AppState;
use crate::domain::cursor::Seq;
use crate::domain::event::EventType;
use crate::domain::identity::IdentityHandle;
use crate::domain::key::Scope;

/// Where a stream (SSE or WebSocket) starts, and what it sends.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Start after this seq. Without it (and, for SSE, without `Last-Event-ID`) the
    /// stream starts at the head: new events only. Past the head it is answered 400.
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    since: Option<i64>,
    /// Comma-separated event types to include.
    #[param(
        pattern = "^ *([a-z0-9_-]{1,32}(\\.[a-z0-9_-]{1,32}){0,2}( *, *[a-z0-9_-]{1,32}(\\.[a-z0-9_-]{1,32}){0,2})*)? *$",
        example = "email.replied,email.bounced"
    )]
    types: Option<String>,
}

impl StreamQuery {
    pub(super) fn since(&self) -> Result<Option<Seq>, ApiError> {
        match self.since {
            Some(since @ 0..) => Ok(Some(Seq(since))),
            Some(_) => Err(ApiError::bad_request(
                "invalid_since",
                "`since` must be 0 or more",
            )),
            None => Ok(None),
        }
    }

    pub(super) fn types(&self) -> Result<Option<Vec<EventType>>, ApiError> {
        parse_types(self.types.as_deref())
    }
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
        None => query.since()?,
    };
    let types = query.types()?;
    let follower = Follower::open(&state, &auth, handle, resume_at, types).await?;
    Ok(Sse::new(sse_events(follower)).keep_alive(
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

/// The follower's frames as SSE events, ending when it does: the client reconnects with
/// `Last-Event-ID` and loses nothing.
fn sse_events(follower: Follower) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(follower, |mut follower| async move {
        let event = match follower.next().await.ok()? {
            Frame::Position(seq) => Event::default().id(seq.0.to_string()),
            Frame::Event {
                seq,
                event_type,
                json,
            } => Event::default()
                .id(seq.0.to_string())
                .event(event_type)
                .data(json),
        };
        Some((Ok(event), follower))
    })
}
