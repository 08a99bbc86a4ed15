//! The SSE stream: ids are seqs, resumption by `Last-Event-ID` or `since`, heartbeats, no
//! database connection held while idle, a clean end at shutdown, and its bad inputs.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::support::{TestApp, TestDatabase, assert_error, no_reply};

/// One Server-Sent Event, or a comment line.
#[derive(Debug, PartialEq)]
enum Frame {
    Event {
        id: String,
        event: String,
        data: Value,
    },
    Comment(String),
    /// An id with no event: where the client would resume from.
    Position(String),
}

/// Reads frames off a streaming response as they arrive.
struct SseReader {
    response: Response,
    buffer: String,
}

impl SseReader {
    async fn open(app: &TestApp, key: &str, query: &str, last_event_id: Option<&str>) -> Self {
        let response = open(app, key, query, last_event_id).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        SseReader {
            response,
            buffer: String::new(),
        }
    }

    /// The next frame; `None` once the server has ended the stream.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.response.chunk())
                .await
                .expect("a frame within 30 s")
                .expect("the stream reads");
            self.buffer
                .push_str(std::str::from_utf8(&chunk?).expect("utf-8"));
        }
    }

    /// The next event, skipping heartbeats.
    async fn next_event(&mut self) -> (String, String, Value) {
        loop {
            match self.next().await.expect("the stream is open") {
                Frame::Event { id, event, data } => return (id, event, data),
                Frame::Comment(_) | Frame::Position(_) => continue,
            }
        }
    }
}

async fn open(app: &TestApp, key: &str, query: &str, last_event_id: Option<&str>) -> Response {
    let mut request = app
        .client
        .get(app.url(&format!("/v1/identities/alice/events/stream?{query}")))
        .bearer_auth(key);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.send().await.expect("request")
}

fn parse(block: &str) -> Frame {
    let (mut id, mut event, mut data) = (None, None, None);
    for line in block.lines().filter(|line| !line.is_empty()) {
        if let Some(comment) = line.strip_prefix(':') {
            return Frame::Comment(comment.trim().to_owned());
        }
        match line.split_once(':') {
            Some(("id", value)) => id = Some(value.trim().to_owned()),
            Some(("event", value)) => event = Some(value.trim().to_owned()),
            Some(("data", value)) => data = Some(serde_json::from_str(value.trim()).unwrap()),
            _ => panic!("unexpected SSE line {line:?}"),
        }
    }
    match (id, event, data) {
        (Some(id), None, None) => Frame::Position(id),
        (id, event, data) => Frame::Event {
            id: id.expect("id"),
            event: event.expect("event"),
            data: data.expect("data"),
        },
    }
}

#[tokio::test]
async fn a_stream_with_no_position_starts_at_the_head_and_sends_each_new_event_as_the_pull_shows_it()
 {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    for n in 1..=2 {
        app.append_ok(&tenant.key, "alice", &no_reply(n)).await;
    }

    let mut stream = SseReader::open(&app, &tenant.key, "", None).await;
    assert_eq!(
        stream.next().await,
        Some(Frame::Position("2".into())),
        "the head, so a reconnect before the first event resumes from it"
    );
    app.held(1).await;
    let appended = app.append_ok(&tenant.key, "alice", &no_reply(3)).await;
    let (id, event, data) = stream.next_event().await;
    assert_eq!(id, "3", "the SSE id is the seq");
    assert_eq!(event, "email.no_reply");
    assert_eq!(data, appended[0]);
    let pulled = app.pull_ok(&tenant.key, "alice", "since=2").await;
    assert_eq!(data, pulled["events"][0], "the same envelope as the pull");
    drop(stream);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_stream_resumes_after_last_event_id_or_since_and_the_header_wins() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    for n in 1..=3 {
        app.append_ok(&tenant.key, "alice", &no_reply(n)).await;
    }

    let mut resumed = SseReader::open(&app, &tenant.key, "", Some("1")).await;
    assert_eq!(resumed.next_event().await.0, "2");
    assert_eq!(resumed.next_event().await.0, "3");

    let mut since = SseReader::open(&app, &tenant.key, "since=2", None).await;
    assert_eq!(since.next_event().await.0, "3");

    // A browser reconnects to its first URL, `since` included, with the newer header.
    let mut both = SseReader::open(&app, &tenant.key, "since=0", Some("2")).await;
    assert_eq!(both.next_event().await.0, "3");

    let mut filtered = SseReader::open(&app, &tenant.key, "since=0&types=email.sent", None).await;
    app.held(4).await;
    let sent = app
        .append_ok(&tenant.key, "alice", &crate::support::email_sent(4))
        .await;
    let (id, event, _) = filtered.next_event().await;
    assert_eq!((id.as_str(), event.as_str()), ("4", "email.sent"));
    assert_eq!(sent[0]["seq"], 4);
    drop((resumed, since, both, filtered));
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn an_idle_stream_sends_heartbeats() {
    let db = TestDatabase::create().await;
    let mut config = seqhook::config::ServeConfig::for_database(&db.url);
    config.stream_heartbeat = Duration::from_millis(50);
    let app = TestApp::spawn_with(config).await;
    let tenant = app.tenant_with_identity("alice").await;

    let mut stream = SseReader::open(&app, &tenant.key, "", None).await;
    assert_eq!(stream.next().await, Some(Frame::Position("0".into())));
    assert_eq!(
        stream.next().await,
        Some(Frame::Comment("heartbeat".into()))
    );
    drop(stream);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn idle_streams_hold_no_database_connection() {
    let db = TestDatabase::create().await;
    let mut config = seqhook::config::ServeConfig::for_database(&db.url);
    config.db_pool = 2;
    let app = TestApp::spawn_with(config).await;
    let tenant = app.tenant_with_identity("alice").await;

    let mut streams = Vec::new();
    for _ in 0..20 {
        streams.push(SseReader::open(&app, &tenant.key, "", None).await);
    }
    app.held(20).await;
    // Twenty streams on a pool of two: were any holding a connection, this append could
    // not get one.
    let appended = app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    for stream in &mut streams {
        assert_eq!(stream.next_event().await.2, appended[0]);
    }
    drop(streams);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams_cleanly() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let mut stream = SseReader::open(&app, &tenant.key, "", None).await;
    app.held(1).await;

    app.begin_shutdown();
    loop {
        match stream.next().await {
            None => break,
            Some(Frame::Comment(_) | Frame::Position(_)) => continue,
            Some(event) => panic!("no event was appended, got {event:?}"),
        }
    }
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn revoking_its_key_ends_a_stream_at_once() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let reader: Value = app
        .post(
            &tenant.key,
            "/v1/api-keys",
            &serde_json::json!({ "scopes": ["events:read"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let key = reader["key"].as_str().unwrap();
    let mut kept = SseReader::open(&app, &tenant.key, "", None).await;
    let mut revoked = SseReader::open(&app, key, "", None).await;
    app.held(2).await;

    let deleted = app
        .client
        .delete(app.url(&format!("/v1/api-keys/{}", reader["id"].as_str().unwrap())))
        .bearer_auth(&tenant.key)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    loop {
        match revoked.next().await {
            None => break,
            Some(Frame::Comment(_) | Frame::Position(_)) => continue,
            Some(event) => panic!("nothing was appended, got {event:?}"),
        }
    }
    // The other key's stream goes on.
    let appended = app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    assert_eq!(kept.next_event().await.2, appended[0]);
    drop(kept);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn bad_stream_requests_get_a_clear_4xx() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;

    let cases: Vec<(&str, &str, Option<&str>, StatusCode, &str)> = vec![
        (
            "a Last-Event-ID that is not a seq",
            "",
            Some("evt_123"),
            StatusCode::BAD_REQUEST,
            "invalid_last_event_id",
        ),
        (
            "a negative Last-Event-ID",
            "",
            Some("-1"),
            StatusCode::BAD_REQUEST,
            "invalid_last_event_id",
        ),
        (
            "a Last-Event-ID past the head",
            "",
            Some("9"),
            StatusCode::BAD_REQUEST,
            "since_beyond_head",
        ),
        (
            "a negative since",
            "since=-1",
            None,
            StatusCode::BAD_REQUEST,
            "invalid_since",
        ),
        (
            "since past the head",
            "since=2",
            None,
            StatusCode::BAD_REQUEST,
            "since_beyond_head",
        ),
        (
            "an invalid type filter",
            "types=Not A Type",
            None,
            StatusCode::BAD_REQUEST,
            "invalid_types",
        ),
    ];
    for (what, query, last_event_id, status, code) in cases {
        let response = open(&app, &tenant.key, query, last_event_id).await;
        assert_eq!(response.status(), status, "{what}");
        assert_error(response, status, code).await;
    }
    let unknown = app
        .client
        .get(app.url("/v1/identities/nobody/events/stream"))
        .bearer_auth(&tenant.key)
        .send()
        .await
        .unwrap();
    assert_error(unknown, StatusCode::NOT_FOUND, "not_found").await;
    let anonymous = app
        .client
        .get(app.url("/v1/identities/alice/events/stream"))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let other = app.create_tenant("other").await;
    let foreign = open(&app, &other.key, "since=0", None).await;
    assert_error(foreign, StatusCode::NOT_FOUND, "not_found").await;
    app.stop().await;
    db.drop().await;
}
