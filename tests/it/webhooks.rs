//! Webhook management: CRUD, the SSRF guard, bad input, tenant isolation, and at-least-once
//! delivery across a killed process.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::process::ServerProcess;
use crate::support::receiver::{Reply, WebhookReceiver};
use crate::support::{TestApp, TestDatabase, assert_error, no_reply};

#[tokio::test]
async fn webhooks_are_created_listed_changed_and_deleted() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.create_tenant("acme").await;
    let created = app
        .create_webhook(
            &tenant.key,
            &json!({ "url": "http://127.0.0.1:9/hook", "events": ["email.*"], "description": "CRM", "rateLimit": 50 }),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("wh_"));
    assert_eq!(created["events"], json!(["email.*"]));
    assert_eq!(created["identities"], Value::Null);
    assert_eq!(created["ordered"], false);
    assert_eq!(created["rateLimit"], 50);
    assert_eq!(created["active"], true);
    assert_eq!(created["disabledReason"], Value::Null);

    let shown: Value = app
        .get(&tenant.key, &format!("/v1/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown at creation and by /secret only"
    );
    let listed: Value = app
        .get(&tenant.key, "/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    let patched: Value = app
        .patch(
            &tenant.key,
            &format!("/v1/webhooks/{id}"),
            &json!({ "events": null, "ordered": true, "active": false }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(patched["events"], Value::Null);
    assert_eq!(patched["ordered"], true);
    assert_eq!(patched["active"], false);
    assert_eq!(
        patched["description"], "CRM",
        "fields left out stay as they were"
    );

    let deleted = app
        .client
        .delete(app.url(&format!("/v1/webhooks/{id}")))
        .bearer_auth(&tenant.key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get(&tenant.key, &format!("/v1/webhooks/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn private_addresses_are_refused_at_registration_unless_allowed() {
    let db = TestDatabase::create().await;
    let mut config = seqhook::config::ServeConfig::for_database(&db.url);
    config.allow_private_webhooks = Some(false);
    let app = TestApp::spawn_guarded(config).await;
    let tenant = app.create_tenant("acme").await;
    for url in [
        "http://127.0.0.1/h",
        "http://localhost/h",
        "http://10.0.0.8/h",
        "http://169.254.169.254/latest",
        "http://[::1]/h",
    ] {
        let response = app
            .post(&tenant.key, "/v1/webhooks", &json!({ "url": url }))
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_url").await;
    }
    let listed: Value = app
        .get(&tenant.key, "/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 0);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn the_delivery_client_refuses_private_addresses_at_connect_time() {
    // A name that resolved to a public address at registration may resolve to a private
    // one later; the client checks every connection, not just the registration.
    let receiver = WebhookReceiver::start().await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let guarded = seqhook::delivery::client::build(std::time::Duration::from_secs(5), false);
    let refused = guarded.post(&by_name).body("{}").send().await;
    assert!(refused.is_err(), "localhost must not be reached");
    let open = seqhook::delivery::client::build(std::time::Duration::from_secs(5), true);
    assert!(
        open.post(&by_name)
            .body("{}")
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
}

#[tokio::test]
async fn bad_webhook_input_gets_a_4xx_and_changes_nothing() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    let other = app.tenant_with_identity("bob").await;
    let theirs = app
        .create_webhook(&other.key, &json!({ "url": receiver.url }))
        .await;
    app.append_ok(&other.key, "bob", &no_reply(1)).await;
    receiver.next().await;
    app.recorded(1).await;
    let their_id = theirs["id"].as_str().unwrap().to_owned();
    let log: Value = app
        .get(&other.key, &format!("/v1/webhooks/{their_id}/deliveries"))
        .await
        .json()
        .await
        .unwrap();
    let their_delivery = log["data"][0]["id"].as_str().unwrap().to_owned();
    let ours = app
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    let ours = ours["id"].as_str().unwrap().to_owned();
    let pool = db.pool().await;

    let url = receiver.url.clone();
    let cases: Vec<(&str, Method, String, Value, StatusCode, &str)> = vec![
        (
            "no url",
            Method::POST,
            "/v1/webhooks".into(),
            json!({}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "ftp url",
            Method::POST,
            "/v1/webhooks".into(),
            json!({ "url": "ftp://x/" }),
            StatusCode::BAD_REQUEST,
            "invalid_url",
        ),
        (
            "garbage url",
            Method::POST,
            "/v1/webhooks".into(),
            json!({ "url": "not a url" }),
            StatusCode::BAD_REQUEST,
            "invalid_url",
        ),
        (
            "unknown field",
            Method::POST,
            "/v1/webhooks".into(),
            json!({ "url": url, "retries": 3 }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "empty events",
            Method::POST,
            "/v1/webhooks".into(),
            json!({ "url": url, "events": [] }),
            StatusCode::BAD_REQUEST,
            "invalid_events",
        ),
        (
            "bad pattern",
            Method::POST,
            "/v1/webhooks".into(),
            json!({ "url": url, "events": ["email*"] }),
            StatusCode::BAD_REQUEST,
            "invalid_events",
        ),
        (
            "bad identity",
            Method::POST,
            "/v1/webhooks".into(),
            json!({ "url": url, "identities": ["a/b"] }),
            StatusCode::BAD_REQUEST,
            "invalid_identities",
        ),
        (
            "bad secret",
            Method::POST,
            "/v1/webhooks".into(),
            json!({ "url": url, "secret": "hunter2" }),
            StatusCode::BAD_REQUEST,
            "invalid_secret",
        ),
        (
            "zero rate",
            Method::POST,
            "/v1/webhooks".into(),
            json!({ "url": url, "rateLimit": 0 }),
            StatusCode::BAD_REQUEST,
            "invalid_rate_limit",
        ),
        (
            "negative rate",
            Method::POST,
            "/v1/webhooks".into(),
            json!({ "url": url, "rateLimit": -1 }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "ordered not bool",
            Method::POST,
            "/v1/webhooks".into(),
            json!({ "url": url, "ordered": "yes" }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "patch unknown field",
            Method::PATCH,
            format!("/v1/webhooks/{ours}"),
            json!({ "secret": "x" }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "patch bad url",
            Method::PATCH,
            format!("/v1/webhooks/{ours}"),
            json!({ "url": "gopher://x" }),
            StatusCode::BAD_REQUEST,
            "invalid_url",
        ),
        (
            "rotate bad secret",
            Method::POST,
            format!("/v1/webhooks/{ours}/secrets/rotate"),
            json!({ "secret": "whsec_" }),
            StatusCode::BAD_REQUEST,
            "invalid_secret",
        ),
        (
            "replay unknown identity",
            Method::POST,
            format!("/v1/webhooks/{ours}/replay"),
            json!({ "identity": "nobody" }),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "replay negative since",
            Method::POST,
            format!("/v1/webhooks/{ours}/replay"),
            json!({ "identity": "alice", "since": -1 }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "deliveries bad status",
            Method::GET,
            format!("/v1/webhooks/{ours}/deliveries?status=lost"),
            json!(null),
            StatusCode::BAD_REQUEST,
            "invalid_status",
        ),
        (
            "their webhook",
            Method::GET,
            format!("/v1/webhooks/{their_id}"),
            json!(null),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "patch their webhook",
            Method::PATCH,
            format!("/v1/webhooks/{their_id}"),
            json!({ "active": false }),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "delete their webhook",
            Method::DELETE,
            format!("/v1/webhooks/{their_id}"),
            json!(null),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "their secret",
            Method::GET,
            format!("/v1/webhooks/{their_id}/secret"),
            json!(null),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "rotate theirs",
            Method::POST,
            format!("/v1/webhooks/{their_id}/secrets/rotate"),
            json!({}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "their deliveries",
            Method::GET,
            format!("/v1/webhooks/{their_id}/deliveries"),
            json!(null),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "replay theirs",
            Method::POST,
            format!("/v1/webhooks/{their_id}/replay"),
            json!({ "identity": "bob" }),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "ping theirs",
            Method::POST,
            format!("/v1/webhooks/{their_id}/ping"),
            json!({}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "their delivery",
            Method::GET,
            format!("/v1/deliveries/{their_delivery}"),
            json!(null),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "retry their delivery",
            Method::POST,
            format!("/v1/deliveries/{their_delivery}/retry"),
            json!({}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "malformed webhook id",
            Method::GET,
            "/v1/webhooks/wh_nope".into(),
            json!(null),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (name, method, path, body, status, code) in cases {
        let before: (i64, i64, i64, i64) = counts(&pool).await;
        let mut request = app
            .client
            .request(method, app.url(&path))
            .bearer_auth(&tenant.key);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let actual = response.status();
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|_| panic!("{name}: JSON error body"));
        assert_eq!(actual, status, "{name}: {body}");
        assert_eq!(body["error"]["code"], code, "{name}: {body}");
        assert_eq!(counts(&pool).await, before, "{name}: nothing changed");
    }
    let theirs_now: Value = app
        .get(&other.key, &format!("/v1/webhooks/{their_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs_now["active"], true);
    pool.close().await;
    app.stop().await;
    db.drop().await;
}

/// Webhooks, active webhooks, deliveries, pending deliveries.
async fn counts(pool: &sqlx::AnyPool) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM webhooks), (SELECT count(*) FROM webhooks WHERE active),
                (SELECT count(*) FROM deliveries), (SELECT count(*) FROM deliveries WHERE status = 'pending')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Short timeout and lease, and a fast poll, so a dead process's claim is retried soon.
const CRASH_ENV: [(&str, &str); 4] = [
    ("SEQHOOK_ALLOW_PRIVATE_WEBHOOKS", "true"),
    ("SEQHOOK_DELIVERY_TIMEOUT", "1s"),
    ("SEQHOOK_DELIVERY_LEASE", "2s"),
    ("SEQHOOK_DELIVERY_POLL", "100ms"),
];

#[tokio::test]
async fn a_delivery_in_flight_when_the_process_is_killed_arrives_after_a_restart() {
    let db = TestDatabase::create().await;
    let receiver = WebhookReceiver::start().await;
    let release = Arc::new(tokio::sync::Notify::new());
    receiver.script([Reply::HoldUntil(release.clone())]);

    let mut first = ServerProcess::spawn(&db.url, &CRASH_ENV).await;
    let api = TestApp::client_for(first.port);
    let tenant = api.create_tenant("acme").await;
    assert_eq!(
        api.put_identity(&tenant.key, "alice").await.status(),
        StatusCode::CREATED
    );
    api.create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    let appended = api.append_ok(&tenant.key, "alice", &no_reply(1)).await;

    // The delivery is in flight: the receiver holds the request. Kill the process there.
    let in_flight = receiver.next().await;
    assert_eq!(in_flight.webhook_id(), appended[0]["id"]);
    first.child.kill().await.unwrap(); // SIGKILL: no shutdown, no lease handed back
    release.notify_one();

    let mut second = ServerProcess::spawn(&db.url, &CRASH_ENV).await;
    let redelivered = receiver.next().await;
    assert_eq!(
        redelivered.webhook_id(),
        appended[0]["id"],
        "the same event, after its lease expired"
    );
    second.child.kill().await.unwrap();
    db.drop().await;
}
