use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, TestDatabase, no_reply, seqs};

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
async fn an_append_in_one_process_wakes_a_long_poll_held_by_another() {
    let db = TestDatabase::create().await;
    let writer = TestApp::spawn(&db.url).await;
    let reader = TestApp::spawn(&db.url).await;
    let tenant = writer.tenant_with_identity("alice").await;

    let poll = reader.spawn_pull(&tenant.key, "alice", "since=0&wait=25");
    reader.held(1).await;
    writer.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    let page: Value = poll.await.unwrap().json().await.unwrap();
    assert_eq!(seqs(page["events"].as_array().unwrap()), [1]);
    writer.stop().await;
    reader.stop().await;
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
async fn a_reconnected_listener_wakes_every_waiter_to_re_read() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;

    let poll = app.spawn_pull(&tenant.key, "alice", "since=0&wait=25");
    app.held(1).await;
    // An event lands with no notification at all (as if the NOTIFY were lost) ...
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query(
        "WITH bumped AS (UPDATE identities SET head_seq = head_seq + 1 WHERE handle = 'alice' RETURNING id, head_seq)
         INSERT INTO events (identity_id, seq, id, type, data, created_at)
         SELECT id, head_seq, gen_random_uuid(), 'email.no_reply', '{}'::jsonb, now() FROM bumped",
    )
    .execute(&pool)
    .await
    .unwrap();
    // ... then the listener's connection dies; once it is back, every waiter re-reads.
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%') AS killed",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(killed, 1);
    let page: Value = poll.await.unwrap().json().await.unwrap();
    assert_eq!(seqs(page["events"].as_array().unwrap()), [1]);
    pool.close().await;
    app.stop().await;
    db.drop().await;
}
