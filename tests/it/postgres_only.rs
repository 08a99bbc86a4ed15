//! What only PostgreSQL does: several processes on one database, meeting through
//! `LISTEN/NOTIFY`. The embedded backend is one process by design.

use reqwest::StatusCode;
use seqhook::config::ServeConfig;
use serde_json::{Value, json};

use crate::support::receiver::WebhookReceiver;
use crate::support::{TestApp, TestDatabase, email_sent, no_reply, seqs};

#[tokio::test]
async fn a_revocation_reaches_another_process_sharing_the_database() {
    let db = TestDatabase::create().await;
    let first = TestApp::spawn(&db.url).await;
    let second = TestApp::spawn(&db.url).await;
    let tenant = first.tenant_with_identity("alice").await;
    let minted: Value = first
        .post(
            &tenant.key,
            "/v1/api-keys",
            &json!({ "scopes": ["events:read"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let reader = minted["key"].as_str().unwrap();
    // The second process now has the key cached.
    assert_eq!(
        second.pull(reader, "alice", "").await.status(),
        StatusCode::OK
    );

    first
        .client
        .delete(first.url(&format!("/v1/api-keys/{}", minted["id"].as_str().unwrap())))
        .bearer_auth(&tenant.key)
        .send()
        .await
        .unwrap();
    // The revocation travels by NOTIFY; the key stops working in the second process as
    // soon as it lands, well before the cache would expire.
    let started = std::time::Instant::now();
    loop {
        let status = second.pull(reader, "alice", "").await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "revocation never arrived"
        );
        tokio::task::yield_now().await;
    }
    first.stop().await;
    second.stop().await;
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

#[tokio::test]
async fn an_api_only_process_leaves_its_deliveries_to_a_process_with_workers() {
    let db = TestDatabase::create().await;
    let mut api_only = ServeConfig::for_database(&db.url);
    api_only.no_workers = true;
    let api = TestApp::spawn_with(api_only).await;
    let workers = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = api.tenant_with_identity("alice").await;
    api.create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;

    // With no workers of its own, the API process must not lease the delivery to itself:
    // the other process, woken through NOTIFY (its poll is an hour), sends it at once.
    let appended = api.append_ok(&tenant.key, "alice", &email_sent(1)).await;
    assert_eq!(receiver.next().await.webhook_id(), appended[0]["id"]);
    workers.recorded(1).await;
    api.stop().await;
    workers.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_revocation_in_one_process_ends_a_long_poll_held_by_another() {
    let db = TestDatabase::create().await;
    let revoking = TestApp::spawn(&db.url).await;
    let holding = TestApp::spawn(&db.url).await;
    let tenant = revoking.tenant_with_identity("alice").await;
    let reader = revoking
        .create_key(&tenant.key, &json!({ "scopes": ["events:read"] }))
        .await;

    let poll = holding.spawn_pull(reader["key"].as_str().unwrap(), "alice", "since=0&wait=20");
    holding.held(1).await;
    revoking.revoke_key(&tenant.key, &reader["id"]).await;
    revoking.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    crate::support::assert_error(
        poll.await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    revoking.stop().await;
    holding.stop().await;
    db.drop().await;
}
