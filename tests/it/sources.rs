//! Inbound sources: each provider's documented payloads, signed by the test as the provider
//! signs them, become typed events on the right identity and flow on like any other; a
//! provider's retry appends nothing twice; bad posts and bad registrations are refused with
//! the reason and change nothing.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::providers::{self, SendGrid, now, post};
use crate::support::receiver::WebhookReceiver;
use crate::support::{Tenant, TestApp, TestDatabase, assert_error};

const RESEND_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const MAILGUN_KEY: &str = "mailgun-signing-key-0123456789";

async fn create_source(app: &TestApp, tenant: &Tenant, body: Value) -> Value {
    let response = app.post(&tenant.key, "/v1/sources", &body).await;
    let status = response.status();
    let source: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{source}");
    source
}

fn url(source: &Value) -> String {
    source["ingestUrl"].as_str().unwrap().to_owned()
}

async fn events_of(app: &TestApp, tenant: &Tenant, handle: &str) -> Vec<Value> {
    let page = app.pull_ok(&tenant.key, handle, "").await;
    page["events"].as_array().unwrap().clone()
}

/// A tenant with the identities the posts name.
async fn tenant(app: &TestApp) -> Tenant {
    let tenant = app.tenant_with_identity("morgan@northwind.example").await;
    for handle in ["ann@acme.io", "lee@northwind.example"] {
        assert_eq!(
            app.put_identity(&tenant.key, handle).await.status(),
            StatusCode::CREATED
        );
    }
    tenant
}

#[tokio::test]
async fn each_providers_documented_events_become_typed_events_on_the_right_identity() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = tenant(&app).await;
    let client = &app.client;
    let morgan = "morgan@northwind.example";

    // Resend, by recipient: a bounce and a click.
    let resend = create_source(
        &app,
        &tenant,
        json!({ "provider": "resend", "secret": RESEND_SECRET }),
    )
    .await;
    let bounce = providers::resend_event(
        "email.bounced",
        morgan,
        json!({ "bounce": {
        "message": "The recipient's mailbox is full", "subType": "MailboxFull", "type": "Transient" } }),
    );
    let click = providers::resend_event(
        "email.clicked",
        morgan,
        json!({ "click": {
        "ipAddress": "192.0.2.1", "link": "https://acme.io/pricing",
        "timestamp": "2026-12-01T10:05:00.000Z", "userAgent": "Mozilla/5.0" } }),
    );
    for (id, event) in [("msg_resend_1", &bounce), ("msg_resend_2", &click)] {
        let body = event.to_string().into_bytes();
        let answer = post(
            client,
            &url(&resend),
            &providers::resend_headers(RESEND_SECRET, id, now(), &body),
            &body,
        )
        .await;
        assert_eq!(
            answer.status(),
            StatusCode::OK,
            "{}",
            answer.text().await.unwrap()
        );
    }

    // SendGrid, a batch for two identities: one atomic append each.
    let sendgrid = SendGrid::new(7);
    let sg = create_source(
        &app,
        &tenant,
        json!({ "provider": "sendgrid", "publicKey": sendgrid.public_key() }),
    )
    .await;
    let batch = providers::sendgrid_batch(&[
        providers::sendgrid_event(
            "delivered",
            morgan,
            "sg-delivered-1",
            json!({ "response": "250 OK" }),
        ),
        providers::sendgrid_event(
            "open",
            "lee@northwind.example",
            "sg-open-1",
            json!({ "useragent": "Mozilla/5.0", "ip": "192.0.2.2" }),
        ),
        providers::sendgrid_event(
            "bounce",
            morgan,
            "sg-bounce-1",
            json!({ "reason": "550 5.1.1 unknown user", "status": "5.1.1", "type": "bounce" }),
        ),
    ]);
    let answer = post(client, &url(&sg), &sendgrid.headers(now(), &batch), &batch).await;
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(
        answer,
        json!({ "received": true, "events": 3, "appended": 3 })
    );

    // Mailgun, by sender: the message was sent by ann@acme.io.
    let mailgun = create_source(
        &app,
        &tenant,
        json!({ "provider": "mailgun", "secret": MAILGUN_KEY, "identity": "sender" }),
    )
    .await;
    let failed = providers::mailgun_event(
        "failed",
        morgan,
        "mg-failed-1",
        json!({
        "severity": "permanent", "reason": "bounce",
        "delivery-status": { "code": 550, "enhanced-code": "5.5.0", "message": "mailbox unavailable", "bounce-type": "hard" } }),
    );
    let body = providers::mailgun_post(
        MAILGUN_KEY,
        now(),
        "token-0000000000000000000000000000000000000000001",
        failed,
    );
    assert_eq!(
        post(client, &url(&mailgun), &[], &body).await.status(),
        StatusCode::OK
    );

    // Postmark, basic auth in the URL it was given.
    let postmark = create_source(&app, &tenant, json!({ "provider": "postmark" })).await;
    let (bare, auth) = providers::postmark_headers(&url(&postmark));
    let complaint = json!({
        "RecordType": "SpamComplaint", "MessageStream": "outbound", "ID": 4_323_372_036_854_775_807_i64,
        "Type": "SpamComplaint", "TypeCode": 512, "Name": "Spam complaint", "Tag": "q4",
        "MessageID": "5b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3", "ServerID": 42, "Email": morgan,
        "From": "ann@acme.io", "BouncedAt": "2026-12-01T10:10:00.1234567Z", "Subject": "Quick intro",
        "DumpAvailable": false, "Inactive": true, "CanActivate": false, "Metadata": {} });
    let body = complaint.to_string().into_bytes();
    assert_eq!(
        post(client, &bare, &auth, &body).await.status(),
        StatusCode::OK
    );

    // The generic shape, with a secret seqhook chose.
    let generic = create_source(&app, &tenant, json!({ "provider": "generic" })).await;
    let secret = generic["secret"].as_str().unwrap();
    let unsubscribe = json!({ "type": "email.unsubscribe", "email_id": "msg_abc123", "recipient": morgan,
        "timestamp": "2026-12-01T10:15:00Z" });
    let body = unsubscribe.to_string().into_bytes();
    assert_eq!(
        post(
            client,
            &url(&generic),
            &providers::generic_headers(secret, &body),
            &body
        )
        .await
        .status(),
        StatusCode::OK
    );

    let types: Vec<(String, String)> = events_of(&app, &tenant, morgan)
        .await
        .iter()
        .map(|event| {
            (
                event["type"].as_str().unwrap().into(),
                event["data"]["provider"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("email.bounced", "resend"),
        ("email.clicked", "resend"),
        ("email.delivered", "sendgrid"),
        ("email.bounced", "sendgrid"),
        ("email.complained", "postmark"),
        ("email.unsubscribed", "generic"),
    ];
    assert_eq!(types, expected.map(|(t, p)| (t.to_owned(), p.to_owned())));
    let morgans = events_of(&app, &tenant, morgan).await;
    let resend_bounce = &morgans[0]["data"];
    assert_eq!(
        (
            resend_bounce["bounceKind"].as_str(),
            resend_bounce["originalRecipient"].as_str()
        ),
        (Some("soft"), Some(morgan))
    );
    assert_eq!(
        resend_bounce["source"], bounce,
        "the provider's event, whole, under `source`"
    );
    assert_eq!(morgans[1]["data"]["url"], "https://acme.io/pricing");
    assert_eq!(
        (
            morgans[3]["data"]["bounceKind"].as_str(),
            morgans[3]["data"]["bounceStatus"].as_str()
        ),
        (Some("hard"), Some("5.1.1"))
    );
    assert_eq!(
        morgans[4]["data"]["providerEventId"],
        "SpamComplaint:4323372036854775807"
    );

    let lees = events_of(&app, &tenant, "lee@northwind.example").await;
    assert_eq!(lees.len(), 1);
    assert_eq!(lees[0]["type"], "email.opened");
    let anns = events_of(&app, &tenant, "ann@acme.io").await;
    assert_eq!(anns.len(), 1, "Mailgun's event went to its sender");
    assert_eq!(
        (
            anns[0]["type"].as_str(),
            anns[0]["data"]["bounceKind"].as_str()
        ),
        (Some("email.bounced"), Some("hard"))
    );
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_providers_retry_appends_nothing_twice_and_the_same_post_again_is_refused() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = tenant(&app).await;
    let morgan = "morgan@northwind.example";
    let receiver = WebhookReceiver::start().await;
    app.create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    let resend = create_source(
        &app,
        &tenant,
        json!({ "provider": "resend", "secret": RESEND_SECRET }),
    )
    .await;
    let body = providers::resend_event("email.delivered", morgan, json!({}))
        .to_string()
        .into_bytes();

    let first = providers::resend_headers(RESEND_SECRET, "msg_retry", now() - 10, &body);
    let answer: Value = post(&app.client, &url(&resend), &first, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["appended"], 1);
    // Svix signs a retry afresh, under the same id.
    let retry = providers::resend_headers(RESEND_SECRET, "msg_retry", now(), &body);
    let answer: Value = post(&app.client, &url(&resend), &retry, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (answer["events"].as_u64(), answer["appended"].as_u64()),
        (Some(1), Some(0))
    );
    // The very same post again is a replay.
    let replayed = post(&app.client, &url(&resend), &first, &body).await;
    assert_error(replayed, StatusCode::CONFLICT, "replayed_post").await;

    let events = events_of(&app, &tenant, morgan).await;
    assert_eq!(events.len(), 1);
    // It flows to webhooks like any other event.
    let delivered = receiver.next().await;
    assert_eq!(delivered.json(), events[0]);
    assert_eq!(events[0]["type"], "email.delivered");

    // A Mailgun token is taken once: its signature covers no body.
    let mailgun = create_source(
        &app,
        &tenant,
        json!({ "provider": "mailgun", "secret": MAILGUN_KEY }),
    )
    .await;
    let token = "token-replayed-0000000000000000000000000000000000";
    let genuine = providers::mailgun_post(
        MAILGUN_KEY,
        now(),
        token,
        providers::mailgun_event("opened", morgan, "mg-1", json!({})),
    );
    assert_eq!(
        post(&app.client, &url(&mailgun), &[], &genuine)
            .await
            .status(),
        StatusCode::OK
    );
    let swapped = String::from_utf8(genuine)
        .unwrap()
        .replace("\"opened\"", "\"complained\"");
    let replayed = post(&app.client, &url(&mailgun), &[], swapped.as_bytes()).await;
    assert_error(replayed, StatusCode::CONFLICT, "replayed_post").await;
    assert_eq!(events_of(&app, &tenant, morgan).await.len(), 2);

    // The generic signature does not change between sends: the same post again is the
    // sender's retry, taken as one, even with no timestamp to tell the event's time by.
    let generic = create_source(&app, &tenant, json!({ "provider": "generic" })).await;
    let secret = generic["secret"].as_str().unwrap();
    let body = json!({ "type": "open", "email_id": "msg_1", "recipient": morgan }).to_string();
    for appended in [1, 0] {
        let headers = providers::generic_headers(secret, body.as_bytes());
        let answer: Value = post(&app.client, &url(&generic), &headers, body.as_bytes())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer["appended"], appended, "{answer}");
    }
    // A batch holding one event twice appends it once.
    let sendgrid = SendGrid::new(3);
    let sg = create_source(
        &app,
        &tenant,
        json!({ "provider": "sendgrid", "publicKey": sendgrid.public_key() }),
    )
    .await;
    let twice = providers::sendgrid_event(
        "delivered",
        "Morgan@Northwind.example",
        "sg-twice",
        json!({}),
    );
    let batch = providers::sendgrid_batch(&[twice.clone(), twice]);
    let answer: Value = post(
        &app.client,
        &url(&sg),
        &sendgrid.headers(now(), &batch),
        &batch,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (answer["events"].as_u64(), answer["appended"].as_u64()),
        (Some(2), Some(1)),
        "{answer}"
    );
    let events = events_of(&app, &tenant, morgan).await;
    assert_eq!(
        events.len(),
        4,
        "the address in other case found the identity"
    );
    assert_eq!(events[2]["data"]["ts"], 0, "no time from the sender");

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    for line in [
        "seqhook_source_posts_total{outcome=\"taken\"} 6",
        "seqhook_source_posts_total{outcome=\"refused\"} 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn bad_posts_are_refused_with_the_reason_logged_and_append_nothing() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = tenant(&app).await;
    let other = app.tenant_with_identity("morgan@northwind.example").await;
    let morgan = "morgan@northwind.example";
    let client = &app.client;
    let sendgrid = SendGrid::new(7);
    let source = create_source(
        &app,
        &tenant,
        json!({ "provider": "sendgrid", "publicKey": sendgrid.public_key() }),
    )
    .await;
    let ingest = url(&source);
    let batch = |events: &[Value]| providers::sendgrid_batch(events);
    let delivered = providers::sendgrid_event("delivered", morgan, "sg-1", json!({}));
    let good = batch(std::slice::from_ref(&delivered));

    // Another tenant guessed the URL and signs with its own key.
    let theirs = SendGrid::new(9);
    create_source(
        &app,
        &other,
        json!({ "provider": "sendgrid", "publicKey": theirs.public_key() }),
    )
    .await;
    type Headers = Vec<(&'static str, String)>;
    let cases: Vec<(&str, Headers, Vec<u8>, StatusCode, &str)> = vec![
        (
            "no signature",
            vec![],
            good.clone(),
            StatusCode::UNAUTHORIZED,
            "missing_signature",
        ),
        (
            "another tenant's key",
            theirs.headers(now(), &good),
            good.clone(),
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
        ),
        (
            "a body changed after signing",
            sendgrid.headers(now(), &good),
            batch(&[delivered.clone(), delivered.clone()]),
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
        ),
        (
            "a stale timestamp",
            sendgrid.headers(now() - 600, &good),
            good.clone(),
            StatusCode::UNAUTHORIZED,
            "stale_timestamp",
        ),
        (
            "not JSON",
            sendgrid.headers(now(), b"[{"),
            b"[{".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (what, headers, body, status, code) in cases {
        let answer = post(client, &ingest, &headers, &body).await;
        assert_eq!(answer.status(), status, "{what}");
        assert_error(answer, status, code).await;
    }
    // One event of the batch cannot be taken, so none is.
    for (what, events, says) in [
        (
            "an unknown identity",
            vec![
                delivered.clone(),
                providers::sendgrid_event("open", "nobody@example.com", "sg-2", json!({})),
            ],
            "no identity `nobody@example.com`",
        ),
        (
            "an event with no seqhook type",
            vec![
                delivered.clone(),
                providers::sendgrid_event("group_resubscribe", morgan, "sg-3", json!({})),
            ],
            "`group_resubscribe` has no seqhook event type",
        ),
        (
            "an event with no id",
            vec![json!({ "email": morgan, "event": "open", "timestamp": 1 })],
            "no `sg_event_id`",
        ),
    ] {
        let body = batch(&events);
        let answer = post(client, &ingest, &sendgrid.headers(now(), &body), &body).await;
        let error =
            assert_error(answer, StatusCode::UNPROCESSABLE_ENTITY, "unmappable_event").await;
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{what}: {message}");
    }
    // A 10 MB batch.
    let huge = vec![b' '; 10 << 20];
    let answer = post(client, &ingest, &sendgrid.headers(now(), &huge), &huge).await;
    assert_error(answer, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    // A well-signed post the clock has since left behind.
    let fresh = sendgrid.headers(now(), &good);
    app.advance(Duration::from_secs(600));
    let answer = post(client, &ingest, &fresh, &good).await;
    assert_error(answer, StatusCode::UNAUTHORIZED, "stale_timestamp").await;
    let unknown = post(
        client,
        &ingest.replace(
            source["id"].as_str().unwrap(),
            "src_01HF6YJZ4N0K3W2X9CPM7B8DG2",
        ),
        &fresh,
        &good,
    )
    .await;
    assert_error(unknown, StatusCode::NOT_FOUND, "not_found").await;

    assert!(
        events_of(&app, &tenant, morgan).await.is_empty(),
        "nothing appended"
    );
    assert!(events_of(&app, &other, morgan).await.is_empty());
    let path = format!("/v1/sources/{}/refusals", source["id"].as_str().unwrap());
    let refusals: Value = app.get(&tenant.key, &path).await.json().await.unwrap();
    let codes: Vec<&str> = refusals["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "stale_timestamp",
            "body_too_large",
            "unmappable_event",
            "unmappable_event",
            "unmappable_event",
            "invalid_body",
            "stale_timestamp",
            "invalid_signature",
            "invalid_signature",
            "missing_signature",
        ],
        "newest first"
    );
    let theirs_path = path.clone();
    assert_error(
        app.get(&other.key, &theirs_path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn bad_registrations_and_bad_basic_auth_are_refused() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = tenant(&app).await;
    for (body, status, code) in [
        (
            json!({ "provider": "sparkpost" }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({ "provider": "resend" }),
            StatusCode::BAD_REQUEST,
            "invalid_credentials",
        ),
        (
            json!({ "provider": "resend", "secret": "not-a-whsec" }),
            StatusCode::BAD_REQUEST,
            "invalid_credentials",
        ),
        (
            json!({ "provider": "sendgrid", "publicKey": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" }),
            StatusCode::BAD_REQUEST,
            "invalid_credentials",
        ),
        (
            json!({ "provider": "sendgrid", "publicKey": SendGrid::new(7).public_key(), "identity": "sender" }),
            StatusCode::BAD_REQUEST,
            "invalid_identity",
        ),
        (
            json!({ "provider": "mailgun", "secret": MAILGUN_KEY, "publicKey": "x" }),
            StatusCode::BAD_REQUEST,
            "invalid_credentials",
        ),
        (
            json!({ "provider": "generic", "identity": "data.to" }),
            StatusCode::BAD_REQUEST,
            "invalid_identity",
        ),
        (
            json!({ "provider": "postmark", "password": "has:colon" }),
            StatusCode::BAD_REQUEST,
            "invalid_credentials",
        ),
        (
            json!({ "provider": "generic", "hmac": "sha1" }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ] {
        let answer = app.post(&tenant.key, "/v1/sources", &body).await;
        assert_error(answer, status, code).await;
    }
    let listed: Value = app
        .get(&tenant.key, "/v1/sources")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]), "nothing registered");

    let postmark = create_source(
        &app,
        &tenant,
        json!({ "provider": "postmark", "username": "pm", "password": "correct-horse" }),
    )
    .await;
    assert!(url(&postmark).contains("://pm:correct-horse@"));
    let shown: Value = app
        .get(
            &tenant.key,
            &format!("/v1/sources/{}", postmark["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !url(&shown).contains("correct-horse"),
        "credentials are shown once"
    );
    let (bare, _) = providers::postmark_headers(&url(&postmark));
    let delivery = json!({ "RecordType": "Delivery", "MessageID": "m-1", "Recipient": "morgan@northwind.example",
        "DeliveredAt": "2026-12-01T10:00:00Z", "Details": "250 OK", "Tag": "", "ServerID": 1, "Metadata": {}, "MessageStream": "outbound" });
    let body = delivery.to_string().into_bytes();
    let wrong = vec![("authorization", format!("Basic {}", base64_of("pm:wrong")))];
    assert_error(
        post(&app.client, &bare, &wrong, &body).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_error(
        post(&app.client, &bare, &[], &body).await,
        StatusCode::UNAUTHORIZED,
        "missing_credentials",
    )
    .await;
    let right = vec![(
        "authorization",
        format!("Basic {}", base64_of("pm:correct-horse")),
    )];
    assert_eq!(
        post(&app.client, &bare, &right, &body).await.status(),
        StatusCode::OK
    );

    let deleted = app
        .delete(
            &tenant.key,
            &format!("/v1/sources/{}", postmark["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_error(
        post(&app.client, &bare, &right, &body).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.stop().await;
    db.drop().await;
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
