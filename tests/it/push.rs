//! Deliveries end to end: a real receiver on 127.0.0.1, signatures checked with the
//! `standardwebhooks` crate.

use std::time::Duration;

use reqwest::StatusCode;
use seqhook::config::ServeConfig;
use serde_json::{Value, json};

use crate::support::receiver::{Reply, WebhookReceiver};
use crate::support::{TestApp, TestDatabase, email_sent, no_reply};

async fn delivery_log(app: &TestApp, key: &str, webhook: &Value, query: &str) -> Vec<Value> {
    let path = format!(
        "/v1/webhooks/{}/deliveries?{query}",
        webhook["id"].as_str().unwrap()
    );
    let body: Value = app.get(key, &path).await.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_appended_event_is_pushed_signed_with_the_envelope_the_pull_shows() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    let secret = webhook["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));

    let appended = app.append_ok(&tenant.key, "alice", &email_sent(1)).await;
    let request = receiver.next().await;
    assert!(
        request.verify(secret),
        "the signature verifies with an independent implementation"
    );
    assert_eq!(request.webhook_id(), appended[0]["id"]);
    assert_eq!(request.headers["content-type"], "application/json");
    let pulled = app.pull_ok(&tenant.key, "alice", "").await;
    assert_eq!(request.json(), pulled["events"][0]);

    app.recorded(1).await;
    let log = delivery_log(&app, &tenant.key, &webhook, "").await;
    assert_eq!(log.len(), 1);
    assert!(log[0]["id"].as_str().unwrap().starts_with("dlv_"));
    assert_eq!(log[0]["status"], "succeeded");
    assert_eq!(log[0]["eventId"], appended[0]["id"]);
    assert_eq!(log[0]["attempts"][0]["statusCode"], 204);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_failed_delivery_is_retried_on_the_schedule_with_the_same_id_even_hours_later() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    receiver.script([Reply::Status(500), Reply::Status(502)]);
    let tenant = app.tenant_with_identity("alice").await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;

    let first = receiver.next().await;
    app.recorded(1).await;
    // Attempt 2 is due 5 s (±10 %) later; 3 s later it is not yet.
    app.advance(Duration::from_secs(3));
    app.advance(Duration::from_secs(3));
    let second = receiver.next().await;
    assert_eq!(second.webhook_id(), first.webhook_id());
    app.recorded(2).await;
    // Attempt 3 is 30 s after that; attempt 4 two minutes after. Jump two hours: one retry,
    // not a burst of the missed ones.
    app.advance(Duration::from_secs(2 * 3600));
    let third = receiver.next().await;
    assert_eq!(third.webhook_id(), first.webhook_id());
    app.recorded(3).await;

    let log = delivery_log(&app, &tenant.key, &webhook, "").await;
    let attempts = log[0]["attempts"].as_array().unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| a["statusCode"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [500, 502, 204]
    );
    assert_eq!(attempts[0]["responseBody"], "scripted reply");
    assert_eq!(log[0]["status"], "succeeded");
    assert_eq!(receiver.pending().await, 0, "no duplicate was sent");
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn retry_after_is_honoured_and_the_last_failure_gives_up() {
    let db = TestDatabase::create().await;
    let mut config = seqhook::config::ServeConfig::for_database(&db.url);
    config.retry_schedule = "0s,1s".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    let receiver = WebhookReceiver::start().await;
    receiver.script([Reply::RetryAfter(429, 120), Reply::Status(500)]);
    let tenant = app.tenant_with_identity("alice").await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    receiver.next().await;
    app.recorded(1).await;

    let log = delivery_log(&app, &tenant.key, &webhook, "").await;
    let attempted =
        chrono::DateTime::parse_from_rfc3339(log[0]["attempts"][0]["at"].as_str().unwrap())
            .unwrap();
    let next =
        chrono::DateTime::parse_from_rfc3339(log[0]["nextAttemptAt"].as_str().unwrap()).unwrap();
    assert_eq!(
        (next - attempted).num_seconds(),
        120,
        "Retry-After, not the schedule's 1 s"
    );

    app.advance(Duration::from_secs(121));
    receiver.next().await;
    app.recorded(2).await;
    // The second attempt was the schedule's last: the delivery is failed, not retried.
    let log = delivery_log(&app, &tenant.key, &webhook, "status=failed").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["nextAttemptAt"], Value::Null);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn gone_disables_the_webhook_and_reactivation_delivers_what_it_missed_in_order() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    receiver.script([Reply::Status(410)]);
    let tenant = app.tenant_with_identity("alice").await;
    let webhook = app
        .create_webhook(
            &tenant.key,
            &json!({ "url": receiver.url, "ordered": true }),
        )
        .await;
    let path = format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap());
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    receiver.next().await;
    app.recorded(1).await;

    let disabled: Value = app.get(&tenant.key, &path).await.json().await.unwrap();
    assert_eq!(disabled["active"], false);
    assert_eq!(disabled["disabledReason"], "the endpoint answered 410 Gone");
    // While inactive, events are held, not sent.
    app.append_ok(
        &tenant.key,
        "alice",
        &json!({ "events": [no_reply(2), no_reply(3)] }),
    )
    .await;
    assert_eq!(
        delivery_log(&app, &tenant.key, &webhook, "status=pending")
            .await
            .len(),
        3
    );

    let response = app
        .patch(&tenant.key, &path, &json!({ "active": true }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let reactivated: Value = response.json().await.unwrap();
    assert_eq!(reactivated["active"], true);
    assert_eq!(reactivated["disabledReason"], Value::Null);
    let mut seqs = Vec::new();
    for _ in 0..3 {
        seqs.push(receiver.next().await.json()["seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, [1, 2, 3], "oldest first, without a manual replay");
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_receivers_answer_with_a_nul_is_recorded_as_readable_text() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    // One answer the database could not store as it is, and one success after it, which is
    // recorded in a batch that must not fail with it.
    receiver.script([Reply::Body(500, b"bad\0answer"), Reply::Body(200, b"ok\0")]);
    let tenant = app.tenant_with_identity("alice").await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    receiver.next().await;
    app.recorded(1).await;
    app.advance(Duration::from_secs(6));
    receiver.next().await;
    app.recorded(2).await;

    let deliveries = delivery_log(&app, &tenant.key, &webhook, "").await;
    assert_eq!(deliveries[0]["status"], "succeeded", "{}", deliveries[0]);
    let attempts = deliveries[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["responseBody"], "bad\u{FFFD}answer");
    assert_eq!(attempts[1]["responseBody"], "ok\u{FFFD}");
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_re_enabled_rate_limited_webhook_sends_its_backlog_oldest_first() {
    let db = TestDatabase::create().await;
    // A short lease keeps a rate-limited webhook's prefetch to a few rows (what it sends in
    // half of what the lease leaves after the timeout: 4 at 2/s), so the backlog is claimed
    // in slices; each row's turn still comes seconds before its lease could run short.
    let mut config = ServeConfig::for_database(&db.url);
    config.delivery_timeout = Duration::from_secs(1);
    config.delivery_lease = Duration::from_secs(5);
    let app = TestApp::spawn_with(config).await;
    let receiver = WebhookReceiver::start().await;
    receiver.script(vec![Reply::Status(500); 8]);
    let tenant = app.tenant_with_identity("alice").await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url, "rateLimit": 2 }))
        .await;
    let path = format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap());
    // One batch: its deliveries are made in the same moment. Every first attempt fails, so
    // the backlog waits out retry delays of its own.
    app.append_ok(
        &tenant.key,
        "alice",
        &json!({ "events": (1..=8).map(no_reply).collect::<Vec<_>>() }),
    )
    .await;
    for _ in 0..8 {
        receiver.next().await;
    }
    app.recorded(8).await;

    // Paused and resumed: the whole backlog is due at once.
    for active in [false, true] {
        let patched = app
            .patch(&tenant.key, &path, &json!({ "active": active }))
            .await;
        assert_eq!(patched.status(), StatusCode::OK);
    }
    let mut seqs = Vec::new();
    for _ in 0..8 {
        seqs.push(receiver.next().await.json()["seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>(), "oldest first");
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn patching_an_active_webhook_active_leaves_a_retrys_delay_as_it_is() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    receiver.script([Reply::Status(500)]);
    let tenant = app.tenant_with_identity("alice").await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    receiver.next().await;
    app.recorded(1).await;
    let before = delivery_log(&app, &tenant.key, &webhook, "").await;
    assert_eq!(before[0]["status"], "pending");

    let path = format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap());
    let response = app
        .patch(&tenant.key, &path, &json!({ "active": true }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let after = delivery_log(&app, &tenant.key, &webhook, "").await;
    assert_eq!(
        after[0]["nextAttemptAt"], before[0]["nextAttemptAt"],
        "only an inactive webhook's held deliveries are made due"
    );
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn an_ordered_webhook_holds_back_only_the_retrying_identitys_later_events() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    receiver.script([Reply::Status(500)]);
    let tenant = app.tenant_with_identity("alice").await;
    app.put_identity(&tenant.key, "bob").await;
    let webhook = app
        .create_webhook(
            &tenant.key,
            &json!({ "url": receiver.url, "ordered": true }),
        )
        .await;

    app.append_ok(
        &tenant.key,
        "alice",
        &json!({ "events": [no_reply(1), no_reply(2)] }),
    )
    .await;
    let failed = receiver.next().await.json();
    app.recorded(1).await;
    assert_eq!(
        (
            failed["identity"].as_str().unwrap(),
            failed["seq"].as_u64().unwrap()
        ),
        ("alice", 1)
    );
    app.append_ok(&tenant.key, "bob", &no_reply(1)).await;
    let bob = receiver.next().await.json();
    assert_eq!(
        bob["identity"], "bob",
        "bob is not held back by alice's retry"
    );
    app.recorded(2).await;

    let held = delivery_log(&app, &tenant.key, &webhook, "identity=alice&status=pending").await;
    let second = held.iter().find(|d| d["seq"] == 2).unwrap();
    assert_eq!(
        second["attempts"].as_array().unwrap().len(),
        0,
        "alice's seq 2 waits for seq 1"
    );

    app.advance(Duration::from_secs(10));
    let order: Vec<u64> = [receiver.next().await.json(), receiver.next().await.json()]
        .iter()
        .map(|event| event["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(order, [1, 2]);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn filters_pick_event_types_by_name_or_prefix_and_identities_by_handle() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    app.put_identity(&tenant.key, "bob").await;
    app.create_webhook(
        &tenant.key,
        &json!({ "url": receiver.url, "events": ["email.sent", "mailbox.*"], "identities": ["alice"] }),
    )
    .await;

    app.append_ok(&tenant.key, "alice", &no_reply(1)).await; // type filtered out
    app.append_ok(&tenant.key, "bob", &email_sent(1)).await; // identity filtered out
    app.append_ok(&tenant.key, "alice", &email_sent(2)).await; // delivered
    let mailbox = json!({ "type": "mailbox.replaced", "data": { "deadMailbox": { "id": "a", "email": "b" }, "newMailbox": null,
        "reason": "auth_failed", "recipientsRepinned": 1, "rowsRepointed": 0, "rowsUnpinned": 0 } });
    app.append_ok(&tenant.key, "alice", &mailbox).await; // delivered, by prefix
    let types: Vec<String> = [receiver.next().await.json(), receiver.next().await.json()]
        .iter()
        .map(|event| event["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["email.sent", "mailbox.replaced"]);
    let pool = db.pool().await;
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(outbox, 2, "filtered-out events never enter the outbox");
    pool.close().await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn during_rotation_each_delivery_carries_a_signature_per_active_secret() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url, "secret": old }))
        .await;
    assert_eq!(webhook["secret"], old);
    let path = format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap());

    let rotated: Value = app
        .post(
            &tenant.key,
            &format!("{path}/secrets/rotate"),
            &json!({ "expireOldAfterSecs": 3600 }),
        )
        .await
        .json()
        .await
        .unwrap();
    let new = rotated["key"].as_str().unwrap();
    assert_ne!(new, old);
    let shown: Value = app
        .get(&tenant.key, &format!("{path}/secret"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["key"], new);

    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    let request = receiver.next().await;
    assert_eq!(
        request.headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    assert!(request.verify(old) && request.verify(new));
    app.recorded(1).await;

    // Once the old secret expires, only the new one signs.
    app.advance(Duration::from_secs(3601));
    app.append_ok(&tenant.key, "alice", &no_reply(2)).await;
    let request = receiver.next().await;
    assert!(request.verify(new) && !request.verify(old));
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn manual_retry_replay_and_ping_reach_the_receiver() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    app.append_ok(
        &tenant.key,
        "alice",
        &json!({ "events": [no_reply(1), no_reply(2), no_reply(3)] }),
    )
    .await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    let id = webhook["id"].as_str().unwrap();
    let secret = webhook["secret"].as_str().unwrap();

    // Events from before the webhook existed: replay them from a seq.
    let replay = app
        .post(
            &tenant.key,
            &format!("/v1/webhooks/{id}/replay"),
            &json!({ "identity": "alice", "since": 1 }),
        )
        .await;
    assert_eq!(replay.status(), StatusCode::ACCEPTED);
    assert_eq!(replay.json::<Value>().await.unwrap()["enqueued"], 2);
    let mut seqs = vec![
        receiver.next().await.json()["seq"].as_u64().unwrap(),
        receiver.next().await.json()["seq"].as_u64().unwrap(),
    ];
    seqs.sort();
    assert_eq!(seqs, [2, 3]);
    app.recorded(2).await;

    let delivery = &delivery_log(&app, &tenant.key, &webhook, "").await[0];
    let retried = app
        .post(
            &tenant.key,
            &format!("/v1/deliveries/{}/retry", delivery["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(retried.status(), StatusCode::ACCEPTED);
    let again = receiver.next().await;
    assert_eq!(again.webhook_id(), delivery["eventId"]);
    app.recorded(3).await;

    let ping: Value = app
        .post(&tenant.key, &format!("/v1/webhooks/{id}/ping"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ping["delivered"], true, "{ping}");
    let request = receiver.next().await;
    assert!(request.verify(secret));
    assert_eq!(request.json()["type"], "webhook.ping");

    let shown: Value = app
        .get(
            &tenant.key,
            &format!("/v1/deliveries/{}", delivery["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["attempts"].as_array().unwrap().len(), 2);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_webhook_whose_deliveries_fail_for_the_configured_time_is_disabled_keeping_its_rows() {
    let db = TestDatabase::create().await;
    let mut config = seqhook::config::ServeConfig::for_database(&db.url);
    config.retry_schedule = "0s,40m,40m,40m".parse().unwrap();
    config.disable_after = Duration::from_secs(3600);
    let app = TestApp::spawn_with(config).await;
    let receiver = WebhookReceiver::start().await;
    receiver.script([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
    let tenant = app.tenant_with_identity("alice").await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    let path = format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap());
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    receiver.next().await;
    app.recorded(1).await;
    app.advance(Duration::from_secs(45 * 60));
    receiver.next().await;
    app.recorded(2).await;
    let still: Value = app.get(&tenant.key, &path).await.json().await.unwrap();
    assert_eq!(
        still["active"], true,
        "45 minutes of failures is under the hour"
    );
    app.advance(Duration::from_secs(45 * 60));
    receiver.next().await;
    app.recorded(3).await;
    let disabled: Value = app.get(&tenant.key, &path).await.json().await.unwrap();
    assert_eq!(disabled["active"], false);
    assert!(
        disabled["disabledReason"]
            .as_str()
            .unwrap()
            .contains("failed"),
        "{disabled}"
    );
    assert_eq!(
        delivery_log(&app, &tenant.key, &webhook, "status=pending")
            .await
            .len(),
        1,
        "held, not dropped"
    );
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_slow_receiver_does_not_hold_up_another_webhook() {
    let db = TestDatabase::create().await;
    let mut config = seqhook::config::ServeConfig::for_database(&db.url);
    config.webhook_concurrency = 1;
    let app = TestApp::spawn_with(config).await;
    let (slow, fast) = (
        WebhookReceiver::start().await,
        WebhookReceiver::start().await,
    );
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    slow.script([Reply::HoldUntil(release.clone())]);
    let tenant = app.tenant_with_identity("alice").await;
    app.create_webhook(&tenant.key, &json!({ "url": slow.url }))
        .await;
    app.create_webhook(&tenant.key, &json!({ "url": fast.url }))
        .await;

    app.append_ok(
        &tenant.key,
        "alice",
        &json!({ "events": [no_reply(1), no_reply(2), no_reply(3)] }),
    )
    .await;
    slow.next().await; // one request held: the slow webhook's only slot is taken
    let mut seqs: Vec<u64> = Vec::new();
    for _ in 0..3 {
        seqs.push(fast.next().await.json()["seq"].as_u64().unwrap());
    }
    seqs.sort();
    assert_eq!(
        seqs,
        [1, 2, 3],
        "the other webhook got everything while the slow one held its slot"
    );
    assert_eq!(
        slow.pending().await,
        0,
        "the slow webhook stayed at its cap of one in flight"
    );
    release.notify_one();
    slow.next().await;
    slow.next().await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_webhook_stored_unreadable_fails_its_deliveries_with_the_reason_and_stops_no_other() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    let url = |name: &str| json!({ "url": format!("{}?{name}", receiver.url) });
    let bad_url = app.create_webhook(&tenant.key, &url("bad-url")).await;
    let bad_secret = app.create_webhook(&tenant.key, &url("bad-secret")).await;
    let sound = app.create_webhook(&tenant.key, &url("sound")).await;
    // As a hand edit or a bad restore could leave them.
    let pool = db.pool().await;
    sqlx::query("UPDATE webhooks SET url = 'not a url' WHERE url = $1")
        .bind(bad_url["url"].as_str().unwrap())
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE webhook_secrets SET secret = 'whsec_short'
         WHERE webhook_id = (SELECT id FROM webhooks WHERE url = $1)",
    )
    .bind(bad_secret["url"].as_str().unwrap())
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let appended = app.append_ok(&tenant.key, "alice", &email_sent(1)).await;
    let request = receiver.next().await;
    assert_eq!(request.webhook_id(), appended[0]["id"]);
    assert!(request.verify(sound["secret"].as_str().unwrap()));
    // A delivery an append leased waits out its lease before a claim finds it unreadable.
    app.advance(Duration::from_secs(61));
    app.recorded(3).await;

    let log = delivery_log(&app, &tenant.key, &bad_secret, "").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "pending", "retried on the schedule");
    let attempt = &log[0]["attempts"][0];
    assert_eq!(attempt["statusCode"], Value::Null);
    let error = attempt["error"].as_str().unwrap();
    assert!(
        error.contains("cannot be sent to") && error.contains("secret"),
        "{error}"
    );
    // The webhook itself no longer reads back either, so its delivery log is read here.
    let pool = db.pool().await;
    let error: String = sqlx::query_scalar(
        "SELECT a.error FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
         JOIN webhooks w ON w.id = d.webhook_id WHERE w.url = 'not a url'
         ORDER BY a.attempt LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert!(
        error.contains("cannot be sent to") && error.contains("url"),
        "{error}"
    );
    assert_eq!(
        receiver.pending().await,
        0,
        "nothing went to a broken webhook"
    );
    // Stopping writes the successes still gathering for their batch.
    app.stop().await;
    let pool = db.pool().await;
    let status: String = sqlx::query_scalar(
        "SELECT d.status FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE w.url = $1",
    )
    .bind(sound["url"].as_str().unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, "succeeded");
    pool.close().await;
    db.drop().await;
}
