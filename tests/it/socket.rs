//! The WebSocket stream, driven by a real WebSocket client: the stream's frames and resume
//! semantics, the key at the upgrade (as a header, or as a browser's subprotocol), pings,
//! a close with the reason when the key is revoked or the server shuts down, and its bad
//! inputs.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::{TestApp, TestDatabase, assert_error, email_sent, no_reply};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn request(app: &TestApp, handle: &str, query: &str) -> tungstenite::handshake::client::Request {
    app.url(&format!("/v1/identities/{handle}/events/ws?{query}"))
        .replacen("http://", "ws://", 1)
        .into_client_request()
        .unwrap()
}

async fn connect(app: &TestApp, key: &str, query: &str) -> Socket {
    let mut request = request(app, "alice", query);
    let bearer = format!("Bearer {key}").parse().unwrap();
    request.headers_mut().insert("authorization", bearer);
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
}

/// The next message the server sends, waiting for it.
async fn next(socket: &mut Socket) -> Option<Message> {
    tokio::time::timeout(Duration::from_secs(30), socket.next())
        .await
        .expect("a message within 30 s")
        .map(|read| read.expect("the socket reads"))
}

/// The next JSON text message, skipping pings.
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        match next(socket).await.expect("the socket is open") {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// The close frame that ends the socket, skipping pings.
async fn closed_with(socket: &mut Socket) -> (CloseCode, String) {
    loop {
        match next(socket).await.expect("a close frame before the end") {
            Message::Close(Some(frame)) => return (frame.code, frame.reason.to_string()),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a close, got {other:?}"),
        }
    }
}

/// The HTTP answer to an upgrade the server refused.
async fn refused(request: tungstenite::handshake::client::Request) -> (StatusCode, Value) {
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
            let body = response.body().as_deref().unwrap_or_default();
            (status, serde_json::from_slice(body).expect("a JSON error"))
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("the upgrade was accepted"),
    }
}

#[tokio::test]
async fn a_socket_starts_at_the_head_or_after_since_and_sends_the_envelopes_the_pull_shows() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    for n in 1..=2 {
        app.append_ok(&tenant.key, "alice", &no_reply(n)).await;
    }

    let mut at_head = connect(&app, &tenant.key, "").await;
    assert_eq!(next_json(&mut at_head).await, json!({ "cursor": 2 }));
    let mut resumed = connect(&app, &tenant.key, "since=1").await;
    assert_eq!(next_json(&mut resumed).await, json!({ "cursor": 1 }));
    assert_eq!(next_json(&mut resumed).await["seq"], 2);
    let mut filtered = connect(&app, &tenant.key, "since=0&types=email.sent").await;
    assert_eq!(next_json(&mut filtered).await, json!({ "cursor": 0 }));
    assert_eq!(
        next_json(&mut filtered).await,
        json!({ "cursor": 2 }),
        "the filter skipped past 1 and 2: the resume point moves past them"
    );
    app.held(3).await;

    let appended = app.append_ok(&tenant.key, "alice", &no_reply(3)).await;
    let pulled = app.pull_ok(&tenant.key, "alice", "since=2").await;
    assert_eq!(next_json(&mut at_head).await, pulled["events"][0]);
    assert_eq!(next_json(&mut resumed).await, appended[0]);
    let sent = app.append_ok(&tenant.key, "alice", &email_sent(4)).await;
    // Whether the wake-up for seq 3 reads it alone (a `cursor` past it) or with seq 4
    // depends on timing; either way the next event is seq 4.
    let mut message = next_json(&mut filtered).await;
    if message == json!({ "cursor": 3 }) {
        message = next_json(&mut filtered).await;
    }
    assert_eq!(message, sent[0]);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_browser_offers_its_key_as_a_subprotocol_and_idle_sockets_are_pinged() {
    let db = TestDatabase::create().await;
    let mut config = seqhook::config::ServeConfig::for_database(&db.url);
    config.stream_heartbeat = Duration::from_millis(50);
    let app = TestApp::spawn_with(config).await;
    let tenant = app.tenant_with_identity("alice").await;

    let mut request = request(&app, "alice", "");
    let offered = format!("seqhook, bearer.{}", tenant.key).parse().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", offered);
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "seqhook");
    assert_eq!(next_json(&mut socket).await, json!({ "cursor": 0 }));
    assert!(matches!(next(&mut socket).await, Some(Message::Ping(_))));
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn idle_sockets_hold_no_database_connection() {
    let db = TestDatabase::create().await;
    let mut config = seqhook::config::ServeConfig::for_database(&db.url);
    config.db_pool = 2;
    let app = TestApp::spawn_with(config).await;
    let tenant = app.tenant_with_identity("alice").await;
    let mut sockets = Vec::new();
    for _ in 0..20 {
        let mut socket = connect(&app, &tenant.key, "").await;
        assert_eq!(next_json(&mut socket).await, json!({ "cursor": 0 }));
        sockets.push(socket);
    }
    app.held(20).await;
    // Twenty sockets on a pool of two: were any holding a connection, this append could
    // not get one.
    let appended = app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    for socket in &mut sockets {
        assert_eq!(next_json(socket).await, appended[0]);
    }
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn revoking_its_key_closes_a_socket_and_shutdown_closes_the_rest() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let reader = app
        .create_key(&tenant.key, &json!({ "scopes": ["events:read"] }))
        .await;
    let mut kept = connect(&app, &tenant.key, "").await;
    let mut revoked = connect(&app, reader["key"].as_str().unwrap(), "").await;
    next_json(&mut kept).await;
    next_json(&mut revoked).await;
    app.held(2).await;

    app.revoke_key(&tenant.key, &reader["id"]).await;
    let (code, reason) = closed_with(&mut revoked).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("revoked"), "{reason}");
    let appended = app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    assert_eq!(
        next_json(&mut kept).await,
        appended[0],
        "the other key's goes on"
    );

    app.begin_shutdown();
    let (code, _) = closed_with(&mut kept).await;
    assert_eq!(code, CloseCode::Away);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn bad_socket_requests_get_a_clear_4xx_before_the_upgrade() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let other = app.tenant_with_identity("bob").await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    let with_key = |handle: &str, query: &str, key: &str| {
        let mut request = request(&app, handle, query);
        let bearer = format!("Bearer {key}").parse().unwrap();
        request.headers_mut().insert("authorization", bearer);
        request
    };
    let cases = [
        (
            "no key",
            request(&app, "alice", ""),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "since past the head",
            with_key("alice", "since=2", &tenant.key),
            StatusCode::BAD_REQUEST,
            "since_beyond_head",
        ),
        (
            "a negative since",
            with_key("alice", "since=-1", &tenant.key),
            StatusCode::BAD_REQUEST,
            "invalid_since",
        ),
        (
            "an invalid filter",
            with_key("alice", "types=Not%20A%20Type", &tenant.key),
            StatusCode::BAD_REQUEST,
            "invalid_types",
        ),
        (
            "another tenant's identity",
            with_key("alice", "", &other.key),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (what, request, status, code) in cases {
        let (got, body) = refused(request).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{what}: {body}"
        );
    }
    let plain = app.get(&tenant.key, "/v1/identities/alice/events/ws").await;
    assert_error(plain, StatusCode::BAD_REQUEST, "websocket_upgrade_required").await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn open_sockets_count_against_the_connection_cap() {
    let db = TestDatabase::create().await;
    let mut config = seqhook::config::ServeConfig::for_database(&db.url);
    config.max_connections = 3;
    let app = TestApp::spawn_with(config).await;
    let tenant = app.tenant_with_identity("alice").await;
    let mut sockets = Vec::new();
    let refused = loop {
        let mut request = request(&app, "alice", "");
        let bearer = format!("Bearer {}", tenant.key).parse().unwrap();
        request.headers_mut().insert("authorization", bearer);
        match tokio_tungstenite::connect_async(request).await {
            Ok((mut socket, _)) => {
                assert_eq!(next_json(&mut socket).await, json!({ "cursor": 0 }));
                sockets.push(socket);
                assert!(sockets.len() <= 3, "more sockets than the cap");
            }
            Err(tungstenite::Error::Http(response)) => break response,
            Err(other) => panic!("{other}"),
        }
    };
    assert_eq!(refused.status().as_u16(), 503);
    let body: Value = serde_json::from_slice(refused.body().as_deref().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "too_many_connections");
    // The test client's one pooled connection may hold the last place.
    assert!(
        sockets.len() >= 2,
        "{} sockets open at the refusal",
        sockets.len()
    );
    app.stop().await;
    db.drop().await;
}
