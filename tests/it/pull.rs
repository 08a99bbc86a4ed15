use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, TestDatabase, assert_error, email_sent, no_reply, seqs};

#[tokio::test]
async fn pages_follow_the_cursor_until_has_more_is_false() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    app.append_ok(
        &tenant.key,
        "alice",
        &json!({ "events": (1..=25).map(no_reply).collect::<Vec<_>>() }),
    )
    .await;

    let mut since = 0;
    let mut seen = Vec::new();
    loop {
        let page = app
            .pull_ok(&tenant.key, "alice", &format!("since={since}&limit=10"))
            .await;
        let events = page["events"].as_array().unwrap();
        seen.extend(seqs(events));
        since = page["cursor"].as_u64().unwrap();
        if !page["hasMore"].as_bool().unwrap() {
            break;
        }
        assert_eq!(events.len(), 10);
    }
    assert_eq!(seen, (1..=25).collect::<Vec<_>>());
    assert_eq!(since, 25);

    // At the head: nothing, same cursor.
    let page = app.pull_ok(&tenant.key, "alice", "since=25").await;
    assert_eq!(
        page,
        json!({ "events": [], "cursor": 25, "hasMore": false })
    );
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_types_filter_moves_the_cursor_past_what_it_skipped() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    // seq 1..=3 no_reply, 4 sent, 5..=6 no_reply
    app.append_ok(
        &tenant.key,
        "alice",
        &json!({ "events": [no_reply(1), no_reply(2), no_reply(3)] }),
    )
    .await;
    app.append_ok(&tenant.key, "alice", &email_sent(4)).await;
    app.append_ok(
        &tenant.key,
        "alice",
        &json!({ "events": [no_reply(5), no_reply(6)] }),
    )
    .await;

    let page = app.pull_ok(&tenant.key, "alice", "types=email.sent").await;
    assert_eq!(seqs(page["events"].as_array().unwrap()), [4]);
    assert_eq!(page["cursor"], 6, "the server examined up to the head");
    assert_eq!(page["hasMore"], false);

    let page = app
        .pull_ok(
            &tenant.key,
            "alice",
            "types=email.sent,email.no_reply&limit=2",
        )
        .await;
    assert_eq!(seqs(page["events"].as_array().unwrap()), [1, 2]);
    assert_eq!(page["cursor"], 2);
    assert_eq!(page["hasMore"], true);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn since_past_the_head_is_refused_with_the_head() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    let body = assert_error(
        app.pull(&tenant.key, "alice", "since=5").await,
        StatusCode::BAD_REQUEST,
        "since_beyond_head",
    )
    .await;
    assert_eq!(body["error"]["details"]["head"], 1);
    app.stop().await;
    db.drop().await;
}
