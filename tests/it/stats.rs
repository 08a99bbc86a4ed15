//! `GET /v1/stats`: appends and attempts counted by the minute, each webhook's health, and
//! the report's bad inputs.

use reqwest::StatusCode;
use seqhook::config::ServeConfig;
use serde_json::{Value, json};

use crate::support::receiver::{Reply, WebhookReceiver};
use crate::support::{TestApp, TestDatabase, assert_error, email_sent, no_reply};

async fn stats(app: &TestApp, key: &str, query: &str) -> Value {
    let response = app.get(key, &format!("/v1/stats{query}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn health<'a>(stats: &'a Value, webhook: &Value) -> &'a Value {
    stats["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|health| health["id"] == webhook["id"])
        .expect("the webhook's health is listed")
}

fn summed(stats: &Value, field: &str) -> u64 {
    stats["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|point| point[field].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn appends_and_attempts_are_counted_and_each_webhook_shows_its_health() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let healthy = WebhookReceiver::start().await;
    let failing = WebhookReceiver::start().await;
    failing.script((0..3).map(|_| Reply::Body(500, b"boom")));
    let good = app
        .create_webhook(&tenant.key, &json!({ "url": healthy.url }))
        .await;
    let bad = app
        .create_webhook(
            &tenant.key,
            &json!({ "url": failing.url, "description": "flaky" }),
        )
        .await;
    // Nobody listens on the discard port: no answer, so no latency.
    let dead = app
        .create_webhook(&tenant.key, &json!({ "url": "http://127.0.0.1:9/hook" }))
        .await;

    let before = stats(&app, &tenant.key, "").await;
    assert_eq!(before["totals"]["appended"], 0);
    assert_eq!(before["totals"]["successRate"], Value::Null);
    assert_eq!(health(&before, &bad)["backlog"]["pending"], 0);
    assert_eq!(health(&before, &bad)["lastFailure"], Value::Null);

    app.append_ok(&tenant.key, "alice", &email_sent(1)).await;
    let batch = json!({ "events": [no_reply(2), no_reply(3)] });
    app.append_ok(&tenant.key, "alice", &batch).await;
    app.recorded(9).await;

    let stats = stats(&app, &tenant.key, "?window=1h").await;
    assert_eq!(stats["window"], "1h");
    assert_eq!(stats["stepSeconds"], 60);
    assert_eq!(stats["series"].as_array().unwrap().len(), 60);
    assert_eq!(stats["next"], Value::Null);
    let totals = &stats["totals"];
    assert_eq!(totals["appended"], 3);
    assert_eq!(totals["delivered"], 3);
    assert_eq!(totals["retrying"], 6);
    assert_eq!(totals["failed"], 0);
    assert!((totals["successRate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(summed(&stats, "appended"), 3);
    assert_eq!(summed(&stats, "delivered"), 3);
    assert_eq!(summed(&stats, "retrying"), 6);

    let good = health(&stats, &good);
    assert_eq!(good["delivered"], 3);
    assert_eq!(good["successRate"], 1.0);
    assert!(
        good["latencyMs"]["p50"].as_u64().unwrap() <= good["latencyMs"]["p99"].as_u64().unwrap()
    );
    assert_eq!(
        good["backlog"],
        json!({ "pending": 0, "capped": false, "oldestAt": null, "oldestAgeSeconds": null })
    );
    assert_eq!(good["lastFailure"], Value::Null);

    let bad_health = health(&stats, &bad);
    assert_eq!(bad_health["description"], "flaky");
    assert_eq!(bad_health["active"], true);
    assert_eq!(bad_health["retrying"], 3);
    assert_eq!(bad_health["successRate"], 0.0);
    assert_eq!(bad_health["backlog"]["pending"], 3);
    assert_eq!(bad_health["backlog"]["capped"], false);
    assert!(bad_health["backlog"]["oldestAt"].is_string());
    assert!(bad_health["backlog"]["oldestAgeSeconds"].as_f64().unwrap() >= 0.0);
    let failure = &bad_health["lastFailure"];
    assert_eq!(failure["statusCode"], 500);
    assert_eq!(failure["responseBody"], "boom");
    assert!(failure["deliveryId"].as_str().unwrap().starts_with("dlv_"));
    assert!(
        bad_health["latencyMs"]["p50"].is_u64(),
        "a 500 is an answer"
    );

    let dead = health(&stats, &dead);
    assert_eq!(dead["retrying"], 3);
    assert_eq!(dead["latencyMs"], Value::Null, "no answer, no latency");
    assert_eq!(dead["lastFailure"]["statusCode"], Value::Null);
    assert!(
        dead["lastFailure"]["error"]
            .as_str()
            .unwrap()
            .contains("connect")
    );
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_last_failed_attempt_counts_as_failed_and_webhooks_come_in_pages() {
    let db = TestDatabase::create().await;
    let mut config = ServeConfig::for_database(&db.url);
    config.retry_schedule = "0s".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    let tenant = app.tenant_with_identity("alice").await;
    let receiver = WebhookReceiver::start().await;
    receiver.script([Reply::Status(503)]);
    let first = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    let second = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    app.recorded(2).await;

    let page = stats(&app, &tenant.key, "?limit=1&window=15m").await;
    assert_eq!(page["window"], "15m");
    assert_eq!(page["series"].as_array().unwrap().len(), 15);
    assert_eq!(page["totals"]["failed"], 1);
    assert_eq!(page["totals"]["delivered"], 1);
    assert_eq!(page["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(page["webhooks"][0]["id"], first["id"]);
    let next = page["next"].as_str().expect("a next page");
    let rest = stats(
        &app,
        &tenant.key,
        &format!("?limit=1&window=15m&after={next}"),
    )
    .await;
    assert_eq!(rest["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(rest["webhooks"][0]["id"], second["id"]);
    assert_eq!(rest["next"], Value::Null);
    // The same totals on every page: they are the tenant's.
    assert_eq!(rest["totals"], page["totals"]);

    let failed = [&page["webhooks"][0], &rest["webhooks"][0]]
        .into_iter()
        .find(|health| health["failed"] == 1)
        .expect("one webhook's only attempt failed");
    assert_eq!(failed["lastFailure"]["statusCode"], 503);
    // A delivery that failed is no longer pending.
    assert_eq!(failed["backlog"]["pending"], 0);

    let day = stats(&app, &tenant.key, "?window=24h").await;
    assert_eq!(day["stepSeconds"], 24 * 60);
    assert_eq!(day["series"].as_array().unwrap().len(), 60);
    assert_eq!(summed(&day, "appended"), 1);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn counts_from_every_process_sharing_the_database_add_up() {
    let db = TestDatabase::create().await;
    let first = TestApp::spawn(&db.url).await;
    let second = TestApp::spawn(&db.url).await;
    let tenant = first.tenant_with_identity("alice").await;
    second.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    second
        .append_ok(
            &tenant.key,
            "alice",
            &json!({ "events": [no_reply(2), no_reply(3)] }),
        )
        .await;
    // A process stores what it counted when it stops, as it does every few seconds.
    second.stop().await;
    first.append_ok(&tenant.key, "alice", &no_reply(4)).await;

    let stats = stats(&first, &tenant.key, "").await;
    assert_eq!(stats["totals"]["appended"], 4);
    assert_eq!(summed(&stats, "appended"), 4);
    first.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_activity() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let acme = app.tenant_with_identity("alice").await;
    let globex = app.tenant_with_identity("alice").await;
    app.create_webhook(&acme.key, &json!({ "url": receiver.url }))
        .await;
    app.append_ok(&acme.key, "alice", &no_reply(1)).await;
    app.recorded(1).await;

    let theirs = stats(&app, &globex.key, "").await;
    assert_eq!(theirs["totals"]["appended"], 0);
    assert_eq!(theirs["totals"]["delivered"], 0);
    assert_eq!(theirs["webhooks"], json!([]));
    let ours = stats(&app, &acme.key, "").await;
    assert_eq!(ours["totals"]["appended"], 1);
    assert_eq!(ours["totals"]["delivered"], 1);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn bad_windows_pages_and_keys_are_refused() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    for window in ["90s", "4m", "25h", "1h30s", "soon", "-1h", ""] {
        let response = app
            .get(&tenant.key, &format!("/v1/stats?window={window}"))
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_window").await;
    }
    for (query, code) in [
        ("limit=0", "invalid_limit"),
        ("limit=100000", "invalid_limit"),
        ("limit=-1", "invalid_query"),
        ("after=wh_nope", "invalid_cursor"),
    ] {
        let response = app.get(&tenant.key, &format!("/v1/stats?{query}")).await;
        assert_error(response, StatusCode::BAD_REQUEST, code).await;
    }
    let response = app.get("shk_not_a_key", "/v1/stats").await;
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let reader = app
        .create_key(&tenant.key, &json!({ "scopes": ["events:read"] }))
        .await;
    let response = app.get(reader["key"].as_str().unwrap(), "/v1/stats").await;
    assert_error(response, StatusCode::FORBIDDEN, "missing_scope").await;
    let bound = app
        .create_key(
            &tenant.key,
            &json!({ "scopes": ["events:read"], "identity": "alice" }),
        )
        .await;
    let response = app.get(bound["key"].as_str().unwrap(), "/v1/stats").await;
    assert_error(response, StatusCode::FORBIDDEN, "missing_scope").await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_deep_backlog_is_counted_up_to_the_cap_with_its_oldest_delivery() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": "http://127.0.0.1:9/paused" }))
        .await;
    let id = webhook["id"].as_str().unwrap();
    // A paused webhook's deliveries wait, none tried.
    let paused = app
        .patch(
            &tenant.key,
            &format!("/v1/webhooks/{id}"),
            &json!({ "active": false }),
        )
        .await;
    assert_eq!(paused.status(), StatusCode::OK);
    for batch in 0..11 {
        let events: Vec<Value> = (0..100).map(|n| no_reply(batch * 100 + n)).collect();
        app.append_ok(&tenant.key, "alice", &json!({ "events": events }))
            .await;
    }

    let stats = stats(&app, &tenant.key, "").await;
    let backlog = &health(&stats, &webhook)["backlog"];
    assert_eq!(backlog["pending"], 1_000, "{backlog}");
    assert_eq!(backlog["capped"], true);
    assert!(backlog["oldestAt"].is_string());
    assert_eq!(health(&stats, &webhook)["active"], false);
    assert_eq!(stats["totals"]["appended"], 1_100);
    app.stop().await;
    db.drop().await;
}
