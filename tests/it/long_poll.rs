use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, TestDatabase, assert_error, no_reply, seqs};

#[tokio::test]
async fn long_poll_answers_as_soon_as_an_event_is_appended() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;

    let poll = app.spawn_pull(&tenant.key, "alice", "since=0&wait=25");
    app.held(1).await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    let page: Value = poll.await.unwrap().json().await.unwrap();
    // A timeout would answer with no events: this answer came from the wake-up.
    assert_eq!(seqs(page["events"].as_array().unwrap()), [1]);
    assert_eq!(page["cursor"], 1);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_long_poll_that_times_out_answers_empty_with_the_cursor_unchanged() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    let page = app.pull_ok(&tenant.key, "alice", "since=1&wait=1").await;
    assert_eq!(
        page,
        serde_json::json!({ "events": [], "cursor": 1, "hasMore": false })
    );
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_long_poll_on_other_types_keeps_waiting_for_a_matching_event() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;

    let poll = app.spawn_pull(&tenant.key, "alice", "since=0&wait=25&types=email.sent");
    app.held(1).await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    app.append_ok(&tenant.key, "alice", &crate::support::email_sent(2))
        .await;
    let page: Value = poll.await.unwrap().json().await.unwrap();
    assert_eq!(seqs(page["events"].as_array().unwrap()), [2]);
    assert_eq!(page["cursor"], 2);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn shutdown_answers_held_long_polls_at_once() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;

    let polls: Vec<_> = (0..3)
        .map(|_| app.spawn_pull(&tenant.key, "alice", "since=0&wait=25"))
        .collect();
    app.held(3).await;
    let started = std::time::Instant::now();
    app.begin_shutdown();
    for poll in polls {
        let response = poll.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        assert_eq!(page["events"].as_array().unwrap().len(), 0);
    }
    // Far below the 25 s they asked for: they were answered by the shutdown, not a timeout.
    assert!(started.elapsed() < Duration::from_secs(20));
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_held_long_poll_ends_with_401_when_its_key_is_revoked() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let reader = app
        .create_key(&tenant.key, &json!({ "scopes": ["events:read"] }))
        .await;

    let poll = app.spawn_pull(reader["key"].as_str().unwrap(), "alice", "since=0&wait=20");
    app.held(1).await;
    app.revoke_key(&tenant.key, &reader["id"]).await;
    // An event lands right after; whether the revocation or the event reaches the poll
    // first, the revoked key is not served the event.
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    assert_error(
        poll.await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_held_long_poll_with_no_event_coming_ends_with_401_at_revocation() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let reader = app
        .create_key(&tenant.key, &json!({ "scopes": ["events:read"] }))
        .await;
    let other = app
        .create_key(&tenant.key, &json!({ "scopes": ["events:read"] }))
        .await;

    let revoked = app.spawn_pull(reader["key"].as_str().unwrap(), "alice", "since=0&wait=25");
    let kept = app.spawn_pull(other["key"].as_str().unwrap(), "alice", "since=0&wait=25");
    app.held(2).await;
    app.revoke_key(&tenant.key, &reader["id"]).await;
    assert_error(
        revoked.await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // The other key's poll is still held, and still served.
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    let page: Value = kept.await.unwrap().json().await.unwrap();
    assert_eq!(seqs(page["events"].as_array().unwrap()), [1]);
    app.stop().await;
    db.drop().await;
}
