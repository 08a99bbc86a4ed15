//! `GET /v1/identities/{handle}/events/ws`: the log over a WebSocket, with the stream's
//! frames and resume semantics. Each text message is JSON: an event's envelope, or
//! `{"cursor": N}` when the resume point moves without one (first, and when a type filter
//! skips events). Resume with `since` = the last `seq` or `cursor` received; without it the
//! socket starts at the head. The server pings while idle, and closes with a code saying why:
//! 1001 at shutdown, 1008 when the key is revoked, 1011 when a read fails.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::time::Instant;

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, Handle, QueryParams};
use super::follow::{End, Follower, Frame};
use super::responses::{ExpiredCursor, NoSuchIdentity, ReaderKey};
use super::serve::ConnectionHold;
use super::state::AppState;
use super::stream::StreamQuery;
use crate::domain::identity::IdentityHandle;
use crate::domain::key::Scope;

/// The most a client's frames are read into at once.
const CLIENT_BUFFER: usize = 4 * 1024;

/// How long a closing socket waits for the client's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// How long one message may take to go out before the client is given up on.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The subprotocol the server speaks; a browser offers it beside `bearer.<key>`.
const PROTOCOL: &str = "seqhook";

#[utoipa::path(
    get,
    path = "/v1/identities/{handle}/events/ws",
    operation_id = "socketEvents",
    tag = "events",
    summary = "Follow events over a WebSocket",
    description = "The stream's frames over a WebSocket: each text message is an event's \
        envelope, or `{\"cursor\": N}` when the resume point moves without an event. Resume \
        with `since`; without it the socket starts at the head. The key goes in \
        `Authorization`, or, from a browser, as the subprotocol `bearer.<key>` offered with \
        `seqhook`. Needs `events:read`.",
    params(
        ("handle" = inline(IdentityHandle), Path, description = "The identity's handle"),
        StreamQuery,
    ),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol"),
        (status = 400, description = "Invalid handle or query, a position beyond the head, or not a WebSocket upgrade", body = ErrorBody),
        ReaderKey,
        NoSuchIdentity,
        ExpiredCursor,
    ),
    security(("apiKey" = [])),
)]
pub async fn socket(
    auth: Auth,
    State(state): State<AppState>,
    Handle(handle): Handle,
    QueryParams(query): QueryParams<StreamQuery>,
    hold: Option<Extension<ConnectionHold>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    auth.require_identity(Scope::EventsRead, &handle)?;
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::bad_request(
            "websocket_upgrade_required",
            format!("this is a WebSocket endpoint: {}", rejection.body_text()),
        )
    })?;
    let (resume_at, types) = (query.since()?, query.types()?);
    let follower = Follower::open(&state, &auth, handle, resume_at, types).await?;
    let heartbeat = state.settings.stream_heartbeat;
    Ok(upgrade
        .protocols([PROTOCOL])
        // A client sends nothing but pongs and a close: the default 128 KiB read buffer per
        // socket would be most of a held socket's memory.
        .read_buffer_size(CLIENT_BUFFER)
        .max_message_size(CLIENT_BUFFER)
        .max_frame_size(CLIENT_BUFFER)
        .on_upgrade(move |socket| async move {
            follow(socket, follower, heartbeat).await;
            // The connection is counted, and the drain waits, until the socket is done.
            drop(hold);
        }))
}

async fn follow(mut socket: WebSocket, follower: Follower, heartbeat: Duration) {
    let mut pings = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    // Kept across loop turns, so a ping or a client's message does not restart the wait.
    let mut next = Box::pin(follower.advance());
    loop {
        tokio::select! {
            (follower, frame) = &mut next => {
                let message = match frame {
                    Ok(Frame::Position(seq)) => format!(r#"{{"cursor":{}}}"#, seq.0),
                    Ok(Frame::Event { json, .. }) => json,
                    Err(end) => return close(socket, end).await,
                };
                if !send(&mut socket, Message::Text(message.into())).await {
                    return;
                }
                // Pings are for idle sockets.
                pings.reset();
                next = Box::pin(follower.advance());
            }
            received = socket.recv() => match received {
                None | Some(Err(_)) => return,
                // The library queues the answering close; reading on sends it.
                Some(Ok(Message::Close(_))) => return drain(socket).await,
                // Pongs and anything a client says are not instructions.
                Some(Ok(_)) => {}
            },
            _ = pings.tick() => {
                if !send(&mut socket, Message::Ping(Default::default())).await {
                    return;
                }
            }
        }
    }
}

async fn close(mut socket: WebSocket, end: End) {
    let (code, reason) = match end {
        End::ShuttingDown => (1001, "the server is shutting down; reconnect with since"),
        End::KeyRevoked => (1008, "the key was revoked"),
        End::ReadFailed => (1011, "a read failed; reconnect with since"),
    };
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if send(&mut socket, Message::Close(Some(frame))).await {
        drain(socket).await;
    }
}

/// Reads until the client's side is closed too, but not for long: a clean close.
async fn drain(mut socket: WebSocket) {
    let closed = async { while let Some(Ok(_)) = socket.recv().await {} };
    let _ = tokio::time::timeout(CLOSE_WAIT, closed).await;
}

/// Sends one message, or gives up on a client that stopped reading: a socket must end by
/// itself for the shutdown's drain to end.
async fn send(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}
