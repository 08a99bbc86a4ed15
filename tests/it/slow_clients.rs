//! Slow and greedy clients, on raw TCP: headers that never finish, bodies that never arrive,
//! idle connections, and more connections than the cap. None of them holds the server
//! for long, and the long-polls that legitimately stay open keep working.

use std::time::Duration;

use seqhook::config::ServeConfig;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestApp, TestDatabase, no_reply};

/// Generous: the server's own deadlines in these tests are a fraction of a second, so this
/// only turns a server that never closes into a failure instead of a hang.
const PATIENCE: Duration = Duration::from_secs(20);

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.base.trim_start_matches("http://");
    TcpStream::connect(address).await.unwrap()
}

/// Everything the server sends until it closes the connection.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .expect("the server closed the connection");
    String::from_utf8_lossy(&received).into_owned()
}

/// One HTTP/1.1 answer's status and body, read off a connection that stays open.
async fn read_answer(stream: &mut TcpStream) -> (u16, String) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "closed before a whole answer");
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())
                    .flatten()
            })
            .expect("a content-length");
        if body.len() >= length {
            let status = head.split(' ').nth(1).unwrap().parse().unwrap();
            return (status, body[..length].to_owned());
        }
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let db = TestDatabase::create().await;
    let mut config = ServeConfig::for_database(&db.url);
    config.header_timeout = Duration::from_millis(200);
    let app = TestApp::spawn_with(config).await;

    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: seqhook\r\nX-Slow: ")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    // A connection that sends nothing at all is closed too.
    let mut silent = connect(&app).await;
    read_until_closed(&mut silent).await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let db = TestDatabase::create().await;
    let mut config = ServeConfig::for_database(&db.url);
    config.header_timeout = Duration::from_millis(200);
    let app = TestApp::spawn_with(config).await;

    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: seqhook\r\n\r\n")
        .await
        .unwrap();
    let (status, _) = read_answer(&mut stream).await;
    assert_eq!(status, 200);
    // Kept alive for a next request that never comes: closed, not held forever.
    assert_eq!(read_until_closed(&mut stream).await, "");
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_body_that_never_arrives_is_answered_408_and_changes_nothing() {
    let db = TestDatabase::create().await;
    let mut config = ServeConfig::for_database(&db.url);
    config.body_timeout = Duration::from_millis(200);
    let app = TestApp::spawn_with(config).await;
    let tenant = app.tenant_with_identity("alice").await;

    let mut stream = connect(&app).await;
    let head = format!(
        "POST /v1/identities/alice/events HTTP/1.1\r\nHost: seqhook\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"type\": \"email.",
        tenant.key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (status, body) = read_answer(&mut stream).await;
    assert_eq!(status, 408, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "body_timeout");
    let page = app.pull_ok(&tenant.key, "alice", "").await;
    assert_eq!(page["cursor"], 0, "nothing was appended");
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn connections_past_the_cap_are_answered_503_while_held_long_polls_keep_working() {
    let db = TestDatabase::create().await;
    let mut config = ServeConfig::for_database(&db.url);
    config.max_connections = 4;
    let app = TestApp::spawn_with(config).await;
    let tenant = app.tenant_with_identity("alice").await;
    let poll = format!(
        "GET /v1/identities/alice/events?since=0&wait=25 HTTP/1.1\r\nHost: seqhook\r\n\
         Authorization: Bearer {}\r\n\r\n",
        tenant.key
    );

    // Long-polls fill whatever room the test's own client left, until one is refused.
    let mut held: Vec<TcpStream> = Vec::new();
    let refusal = loop {
        assert!(held.len() <= 4, "the cap of 4 was never reached");
        let mut stream = connect(&app).await;
        stream.write_all(poll.as_bytes()).await.unwrap();
        let mut holding = app.armed.clone();
        let count = held.len() + 1;
        tokio::select! {
            _ = holding.wait_for(|held| *held >= count) => held.push(stream),
            refused = read_until_closed(&mut stream) => break refused,
        }
    };
    assert!(refusal.starts_with("HTTP/1.1 503"), "{refusal}");
    assert!(refusal.contains("too_many_connections"), "{refusal}");
    assert!(!held.is_empty());

    // One long-poll's client goes away. The server notices, ends the poll and the
    // connection, and its room lets a new connection in.
    let count = held.len();
    drop(held.pop());
    let mut holding = app.armed.clone();
    holding.wait_for(|held| *held < count).await.unwrap();
    let appended = loop {
        let response = app.append(&tenant.key, "alice", &no_reply(1)).await;
        // The connection's room is handed back just after the poll ends, in the same task.
        if response.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE {
            break response;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(appended.status(), reqwest::StatusCode::CREATED);
    // The long-polls held at the cap were woken by it, as always.
    for stream in &mut held {
        let (status, body) = read_answer(stream).await;
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(page["cursor"], 1);
    }
    app.stop().await;
    db.drop().await;
}
