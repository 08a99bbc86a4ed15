//! Retention, erasure and redaction through the API: expired events leave with their
//! deliveries and answer a stale cursor 410; an erased identity is gone everywhere and its
//! handle continues after the old head; a redacted event keeps its place in the log.

use std::time::Duration;

use reqwest::StatusCode;
use seqhook::config::ServeConfig;
use serde_json::{Value, json};

use crate::support::process::ServerProcess;
use crate::support::receiver::{Reply, WebhookReceiver};
use crate::support::{ApiClient, TestApp, TestDatabase, assert_error, email_sent, no_reply, seqs};

const DAY: Duration = Duration::from_secs(86_400);

async fn identity(app: &ApiClient, key: &str, handle: &str) -> Value {
    let response = app.get(key, &format!("/v1/identities/{handle}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn delivery_seqs(app: &TestApp, key: &str, webhook: &Value) -> Vec<u64> {
    let path = format!(
        "/v1/webhooks/{}/deliveries?limit=100",
        webhook["id"].as_str().unwrap()
    );
    let body: Value = app.get(key, &path).await.json().await.unwrap();
    let mut seqs: Vec<u64> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|delivery| delivery["seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    seqs
}

#[tokio::test]
async fn expired_events_go_with_their_deliveries_and_a_cursor_before_them_answers_410() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    for n in 1..=3 {
        app.append_ok(&tenant.key, "alice", &email_sent(n)).await;
        receiver.next().await;
    }
    assert_eq!(delivery_seqs(&app, &tenant.key, &webhook).await, [1, 2, 3]);

    // Within the default window of 90 days nothing goes.
    app.clock.advance(89 * DAY);
    assert_eq!(app.sweep().await, 0);
    assert_eq!(identity(&app, &tenant.key, "alice").await["earliestSeq"], 1);

    app.clock.advance(2 * DAY);
    assert_eq!(app.sweep().await, 3);
    let shown = identity(&app, &tenant.key, "alice").await;
    assert_eq!(shown["headSeq"], 3);
    assert_eq!(shown["earliestSeq"], 4, "the head + 1: nothing is held");
    assert!(delivery_seqs(&app, &tenant.key, &webhook).await.is_empty());

    // A consumer at seq 1 would miss 2 and 3: told so, with where the log starts now.
    let stale = app.pull(&tenant.key, "alice", "since=1").await;
    let body = assert_error(stale, StatusCode::GONE, "cursor_expired").await;
    assert_eq!(body["error"]["details"]["earliestSeq"], 4);
    for path in [
        "/v1/identities/alice/events/stream?since=0",
        "/v1/identities/alice/events?since=2&wait=1",
    ] {
        let response = app.get(&tenant.key, path).await;
        assert_error(response, StatusCode::GONE, "cursor_expired").await;
    }
    let replay = app
        .post(
            &tenant.key,
            &format!("/v1/webhooks/{}/replay", webhook["id"].as_str().unwrap()),
            &json!({ "identity": "alice", "since": 0 }),
        )
        .await;
    assert_error(replay, StatusCode::GONE, "cursor_expired").await;

    // A consumer that had read everything carries on; seqs are never reused.
    let page = app.pull_ok(&tenant.key, "alice", "since=3").await;
    assert_eq!(page["events"], json!([]));
    let appended = app.append_ok(&tenant.key, "alice", &email_sent(4)).await;
    assert_eq!(seqs(&appended), [4]);
    assert_eq!(identity(&app, &tenant.key, "alice").await["earliestSeq"], 4);

    let metrics = app.get("", "/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("seqhook_events_removed_total 3"),
        "{metrics}"
    );
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_tenants_own_retention_overrides_the_default_and_bad_values_change_nothing() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let short = app.tenant_with_identity("alice").await;
    let kept = app.tenant_with_identity("alice").await;
    let default = app.tenant_with_identity("alice").await;
    for tenant in [&short, &kept, &default] {
        app.append_ok(&tenant.key, "alice", &email_sent(1)).await;
    }
    let set = app.set_retention(&short, &json!("1h")).await;
    assert_eq!(set.status(), StatusCode::OK);
    assert_eq!(
        set.json::<Value>().await.unwrap(),
        json!({ "retention": "1h" })
    );
    let set = app.set_retention(&kept, &json!("forever")).await;
    assert_eq!(set.status(), StatusCode::OK);

    for bad in [
        json!("-1d"),
        json!("0s"),
        json!("500ms"),
        json!("36501d"),
        json!("soon"),
        json!(""),
        json!(3600),
    ] {
        let refused = app.set_retention(&short, &bad).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let nobody = crate::support::Tenant {
        id: "ten_01J00000000000000000000000".into(),
        key: String::new(),
    };
    let missing = app.set_retention(&nobody, &json!("1d")).await;
    assert_error(missing, StatusCode::NOT_FOUND, "not_found").await;

    // Two hours on: only the tenant with one hour lost its event; the refused values did
    // not replace its window. (Setting a retention starts a pass in the background too, so
    // what each pass removed is not counted here: what the logs hold is.)
    app.clock.advance(Duration::from_secs(7_200));
    app.sweep().await;
    assert_eq!(identity(&app, &short.key, "alice").await["earliestSeq"], 2);
    assert_eq!(identity(&app, &kept.key, "alice").await["earliestSeq"], 1);
    assert_eq!(
        identity(&app, &default.key, "alice").await["earliestSeq"],
        1
    );

    // A hundred years on, `forever` still holds; `null` returns to the default.
    app.clock.advance(36_500 * DAY);
    app.sweep().await;
    assert_eq!(
        identity(&app, &default.key, "alice").await["earliestSeq"],
        2
    );
    assert_eq!(identity(&app, &kept.key, "alice").await["earliestSeq"], 1);
    let reset = app.set_retention(&kept, &Value::Null).await;
    assert_eq!(reset.status(), StatusCode::OK);
    app.sweep().await;
    assert_eq!(identity(&app, &kept.key, "alice").await["earliestSeq"], 2);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn an_erased_identity_is_gone_everywhere_and_its_handle_continues_after_the_old_head() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    let other = app.tenant_with_identity("alice").await;
    app.put_identity(&tenant.key, "bob").await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    let bound = app
        .create_key(
            &tenant.key,
            &json!({ "scopes": ["events:read"], "identity": "alice" }),
        )
        .await;
    let bound = bound["key"].as_str().unwrap().to_owned();
    for n in 1..=3 {
        app.append_ok(&tenant.key, "alice", &email_sent(n)).await;
        receiver.next().await;
    }
    app.append_ok(&tenant.key, "bob", &email_sent(9)).await;
    receiver.next().await;
    app.append_ok(&other.key, "alice", &email_sent(1)).await;

    // A long-poll held on the log ends when it is erased.
    let held = app.spawn_pull(&tenant.key, "alice", "since=3&wait=20");
    app.held(1).await;
    let erased = app.delete(&tenant.key, "/v1/identities/alice").await;
    assert_eq!(erased.status(), StatusCode::NO_CONTENT);
    assert_error(held.await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;

    for response in [
        app.get(&tenant.key, "/v1/identities/alice").await,
        app.pull(&tenant.key, "alice", "since=0").await,
        app.append(&tenant.key, "alice", &email_sent(4)).await,
        app.get(&tenant.key, "/v1/identities/alice/events/stream")
            .await,
        app.delete(&tenant.key, "/v1/identities/alice").await,
    ] {
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let listed: Value = app
        .get(&tenant.key, "/v1/identities")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "bob only");
    let with_bound = app.get(&bound, "/v1/identities/alice").await;
    assert_error(with_bound, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(
        delivery_seqs(&app, &tenant.key, &webhook).await,
        [1],
        "bob's delivery stays; alice's went with her events"
    );
    // Another tenant's identity of the same handle is untouched.
    let theirs = app.pull_ok(&other.key, "alice", "since=0").await;
    assert_eq!(theirs["events"].as_array().unwrap().len(), 1);

    // The handle comes back empty, after the old head.
    let again = app.put_identity(&tenant.key, "alice").await;
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["headSeq"], 3);
    assert_eq!(again["earliestSeq"], 4);
    let stale = app.pull(&tenant.key, "alice", "since=0").await;
    assert_error(stale, StatusCode::GONE, "cursor_expired").await;
    let appended = app.append_ok(&tenant.key, "alice", &email_sent(4)).await;
    assert_eq!(seqs(&appended), [4]);
    let page = app.pull_ok(&tenant.key, "alice", "since=3").await;
    assert_eq!(seqs(page["events"].as_array().unwrap()), [4]);
    assert_eq!(app.sweep().await, 0, "nothing was left for the sweep");

    let reader = app
        .create_key(
            &tenant.key,
            &json!({ "scopes": ["events:read", "events:write"] }),
        )
        .await;
    let reader = reader["key"].as_str().unwrap();
    let refused = app.delete(reader, "/v1/identities/bob").await;
    assert_error(refused, StatusCode::FORBIDDEN, "missing_scope").await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn erasing_under_appends_pulls_streams_and_deliveries_answers_no_5xx_and_leaves_nothing() {
    let db = TestDatabase::create().await;
    let app = std::sync::Arc::new(TestApp::spawn(&db.url).await);
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    app.append_ok(&tenant.key, "alice", &email_sent(0)).await;

    let mut traffic = Vec::new();
    for writer in 0..4u64 {
        let (app, key) = (app.clone(), tenant.key.clone());
        traffic.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..200 {
                let response = app
                    .append(&key, "alice", &email_sent(writer * 1_000 + n))
                    .await;
                let status = response.status();
                statuses.push(status);
                if status == StatusCode::NOT_FOUND {
                    break;
                }
            }
            statuses
        }));
    }
    for _ in 0..2 {
        let (app, key) = (app.clone(), tenant.key.clone());
        traffic.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut since = 0;
            loop {
                let response = app
                    .pull(&key, "alice", &format!("since={since}&wait=1"))
                    .await;
                let status = response.status();
                statuses.push(status);
                if status != StatusCode::OK {
                    return statuses;
                }
                let page: Value = response.json().await.unwrap();
                since = page["cursor"].as_u64().unwrap();
            }
        }));
    }
    {
        let (app, key) = (app.clone(), tenant.key.clone());
        traffic.push(tokio::spawn(async move {
            let response = app
                .get(&key, "/v1/identities/alice/events/stream?since=0")
                .await;
            let status = response.status();
            // The stream ends once its log is gone; reading it to the end must not hang.
            let _ = response.bytes().await;
            vec![status]
        }));
    }
    let erased = app.delete(&tenant.key, "/v1/identities/alice").await;
    assert_eq!(erased.status(), StatusCode::NO_CONTENT);
    for task in traffic {
        for status in task.await.unwrap() {
            assert!(
                [StatusCode::OK, StatusCode::CREATED, StatusCode::NOT_FOUND].contains(&status),
                "{status}"
            );
        }
    }
    // Whatever was appended, delivered or pending, nothing of it is left.
    app.sweep().await;
    assert!(delivery_seqs(&app, &tenant.key, &webhook).await.is_empty());
    let again: Value = app
        .put_identity(&tenant.key, "alice")
        .await
        .json()
        .await
        .unwrap();
    let head = again["headSeq"].as_u64().unwrap();
    assert_eq!(again["earliestSeq"].as_u64().unwrap(), head + 1);
    let page = app
        .pull_ok(&tenant.key, "alice", &format!("since={head}"))
        .await;
    assert_eq!(page["events"], json!([]));
    drop(receiver);
    std::sync::Arc::into_inner(app).unwrap().stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_redacted_event_keeps_its_place_and_its_pending_deliveries_send_the_tombstone() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    receiver.script([Reply::Status(500)]);
    let appended = app.append_ok(&tenant.key, "alice", &email_sent(1)).await;
    let first = receiver.next().await;
    assert_eq!(first.json()["data"], email_sent(1)["data"]);
    app.recorded(1).await;

    let id = appended[0]["id"].as_str().unwrap();
    let path = format!("/v1/identities/alice/events/{id}/redact");
    let redacted = app.post(&tenant.key, &path, &json!({})).await;
    assert_eq!(redacted.status(), StatusCode::OK);
    let redacted: Value = redacted.json().await.unwrap();
    assert_eq!(redacted["id"], appended[0]["id"]);
    assert_eq!(redacted["seq"], 1);
    assert_eq!(redacted["type"], "email.sent");
    assert_eq!(redacted["data"], json!({ "redacted": true }));
    let redacted_at = redacted["redactedAt"].as_str().unwrap().to_owned();

    let page = app.pull_ok(&tenant.key, "alice", "since=0").await;
    assert_eq!(page["events"][0], redacted);
    let again: Value = app
        .post(&tenant.key, &path, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["redactedAt"],
        redacted_at.as_str(),
        "the first time stays"
    );

    // The failed delivery's retry carries the tombstone, under the same webhook-id.
    app.advance(Duration::from_secs(3_600));
    let retry = receiver.next().await;
    assert_eq!(retry.webhook_id(), id);
    assert!(retry.verify(webhook["secret"].as_str().unwrap()));
    assert_eq!(retry.json()["data"], json!({ "redacted": true }));
    assert_eq!(retry.json()["redactedAt"], redacted_at.as_str());

    let unknown = format!(
        "/v1/identities/alice/events/{}/redact",
        "evt_01J00000000000000000000000"
    );
    let missing = app.post(&tenant.key, &unknown, &json!({})).await;
    assert_error(missing, StatusCode::NOT_FOUND, "not_found").await;
    let bad = app
        .post(
            &tenant.key,
            "/v1/identities/alice/events/nope/redact",
            &json!({}),
        )
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "invalid_id").await;
    let writer = app
        .create_key(&tenant.key, &json!({ "scopes": ["events:write"] }))
        .await;
    let refused = app
        .post(writer["key"].as_str().unwrap(), &path, &json!({}))
        .await;
    assert_error(refused, StatusCode::FORBIDDEN, "missing_scope").await;
    app.stop().await;
    db.drop().await;
}

/// The events a sweep step removed, from a process's JSON log line; 0 for any other line.
fn swept(line: &str) -> u64 {
    let Ok(entry) = serde_json::from_str::<Value>(line) else {
        return 0;
    };
    if entry["fields"]["message"] != "sweep step" {
        return 0;
    }
    entry["fields"]["events"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_sweep_killed_half_way_leaves_a_whole_log_and_the_next_process_finishes_it() {
    const EVENTS: u64 = 30_000;
    let db = TestDatabase::create().await;
    let env = [
        ("SEQHOOK_RETENTION", "forever"),
        ("SEQHOOK_SWEEP_INTERVAL", "50ms"),
        // Each sweep step is logged as JSON: the test awaits them.
        ("RUST_LOG", "info,seqhook::retention=debug"),
        ("SEQHOOK_LOG_FORMAT", "json"),
    ];
    let mut first = ServerProcess::spawn(&db.url, &env).await;
    let api = TestApp::client_for(first.port);
    let tenant = api.create_tenant("acme").await;
    api.put_identity(&tenant.key, "alice").await;
    for batch in 0..EVENTS / 1_000 {
        let events: Vec<Value> = (0..1_000).map(|n| no_reply(batch * 1_000 + n)).collect();
        api.append_ok(&tenant.key, "alice", &json!({ "events": events }))
            .await;
    }
    let set = api.set_retention(&tenant, &json!("1s")).await;
    assert_eq!(set.status(), StatusCode::OK);
    // Killed as soon as the sweep is seen removing: a step takes milliseconds and is
    // followed by a rest four times as long, so most of the log is still there.
    first.logged(|line| swept(line) > 0).await;
    first.child.kill().await.unwrap();
    let removed_at_kill: u64 = first
        .remaining_stderr()
        .await
        .iter()
        .map(|line| swept(line))
        .sum();
    assert!(removed_at_kill < EVENTS, "killed half-way");

    let mut second = ServerProcess::spawn(&db.url, &env).await;
    let api = TestApp::client_for(second.port);
    // Whatever committed before the kill is whole: the log runs unbroken from its earliest
    // seq, and the events before it are gone.
    let shown = identity(&api, &tenant.key, "alice").await;
    assert_eq!(shown["headSeq"], EVENTS);
    let mut since = shown["earliestSeq"].as_u64().unwrap() - 1;
    loop {
        let response = api
            .pull(&tenant.key, "alice", &format!("since={since}&limit=10"))
            .await;
        if response.status() == StatusCode::GONE {
            // The new process's sweep moved on meanwhile: read from where it is now.
            let body: Value = response.json().await.unwrap();
            let earliest = body["error"]["details"]["earliestSeq"].as_u64().unwrap();
            assert!(earliest - 1 > since, "the log only ever starts later");
            since = earliest - 1;
            continue;
        }
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        if let Some(first) = page["events"][0]["seq"].as_u64() {
            assert_eq!(first, since + 1, "held from its earliest seq on, unbroken");
        }
        break;
    }
    // The next process finishes the sweep, as its identity's page shows after one of its
    // steps.
    let finished = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let shown = identity(&api, &tenant.key, "alice").await;
            if shown["earliestSeq"] == EVENTS + 1 {
                return;
            }
            second.logged(|line| swept(line) > 0).await;
        }
    })
    .await;
    assert!(finished.is_ok(), "the sweep resumed and finished");
    let stale = api.pull(&tenant.key, "alice", "since=0").await;
    assert_error(stale, StatusCode::GONE, "cursor_expired").await;
    let next = api.append_ok(&tenant.key, "alice", &no_reply(0)).await;
    assert_eq!(seqs(&next), [EVENTS + 1], "no seq is used again");
    drop(second);
    db.drop().await;
}

#[tokio::test]
async fn the_delivery_log_keeps_finished_deliveries_for_its_own_window_and_pending_ones_on() {
    let db = TestDatabase::create().await;
    let mut config = ServeConfig::for_database(&db.url);
    config.delivery_log_retention = Some(Duration::from_secs(3_600));
    let app = TestApp::spawn_with(config).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    receiver.script([Reply::Status(200), Reply::Status(500)]);
    for n in 1..=2 {
        app.append_ok(&tenant.key, "alice", &email_sent(n)).await;
        receiver.next().await;
    }
    app.recorded(2).await;

    // Within the hour both stay; past it the delivered one goes with its attempt, and the
    // one still retrying stays, as do both events.
    app.sweep().await;
    assert_eq!(delivery_seqs(&app, &tenant.key, &webhook).await, [1, 2]);
    app.clock.advance(Duration::from_secs(7_200));
    app.sweep().await;
    assert_eq!(delivery_seqs(&app, &tenant.key, &webhook).await, [2]);
    let page = app.pull_ok(&tenant.key, "alice", "since=0").await;
    assert_eq!(seqs(page["events"].as_array().unwrap()), [1, 2]);
    let metrics = app.get("", "/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("seqhook_delivery_log_removed_total 1"),
        "{metrics}"
    );
    app.stop().await;
    db.drop().await;
}
