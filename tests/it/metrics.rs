//! `GET /metrics`: what the app did, in the Prometheus text format.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::receiver::{Reply, WebhookReceiver};
use crate::support::{TestApp, TestDatabase, no_reply};

async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    response.text().await.unwrap()
}

/// The value of one sample, by its full name with labels.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {name} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_count_appends_pulls_held_long_polls_and_deliveries_by_outcome() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    receiver.script([Reply::Status(500)]);
    let tenant = app.tenant_with_identity("alice").await;
    app.create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;

    app.append_ok(
        &tenant.key,
        "alice",
        &json!({ "events": [no_reply(1), no_reply(2)] }),
    )
    .await;
    receiver.next().await;
    receiver.next().await;
    app.recorded(2).await;
    let poll = app.spawn_pull(&tenant.key, "alice", "since=2&wait=25");
    app.held(1).await;

    let text = scrape(&app).await;
    assert_eq!(sample(&text, "seqhook_events_appended_total"), 2.0);
    assert_eq!(sample(&text, "seqhook_long_polls_held"), 1.0);
    assert_eq!(sample(&text, "seqhook_pulls_total"), 1.0);
    assert_eq!(
        sample(&text, r#"seqhook_deliveries_total{outcome="retrying"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, r#"seqhook_deliveries_total{outcome="delivered"}"#),
        1.0
    );
    // The failed one waits for its retry.
    assert_eq!(sample(&text, "seqhook_outbox_depth"), 1.0);
    assert_eq!(
        sample(&text, "seqhook_delivery_duration_seconds_count"),
        2.0
    );
    assert_eq!(sample(&text, "seqhook_delivery_lag_seconds_count"), 1.0);
    assert!(text.contains("# TYPE seqhook_delivery_duration_seconds histogram"));

    app.append_ok(&tenant.key, "alice", &no_reply(3)).await;
    assert_eq!(poll.await.unwrap().status(), StatusCode::OK);
    app.stop().await;
    db.drop().await;
}
