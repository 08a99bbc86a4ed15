//! Signature dialects: each preset's deliveries, retries, replays, pings and rotations are
//! verified by that format's own receiver check (`support::verifiers`), never by seqhook's
//! signer; bad dialects are refused and change nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::receiver::{Received, Reply, WebhookReceiver};
use crate::support::verifiers::{self, PRESETS};
use crate::support::{TestApp, TestDatabase, assert_error, email_sent, no_reply};

fn path(webhook: &Value) -> String {
    format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap())
}

async fn rotate(app: &TestApp, key: &str, webhook: &Value) -> String {
    let rotated: Value = app
        .post(
            key,
            &format!("{}/secrets/rotate", path(webhook)),
            &json!({ "expireOldAfterSecs": 3600 }),
        )
        .await
        .json()
        .await
        .unwrap();
    rotated["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn each_preset_verifies_with_its_formats_own_check_on_delivery_retry_replay_and_ping() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let mut recorded = 0;
    for (preset, verify) in PRESETS {
        let receiver = WebhookReceiver::start().await;
        let webhook = app
            .create_webhook(
                &tenant.key,
                &json!({ "url": receiver.url, "dialect": preset, "events": ["email.sent"] }),
            )
            .await;
        assert_eq!(webhook["dialect"], preset, "shown by name");
        let secret = webhook["secret"].as_str().unwrap();
        let shown: Value = app
            .get(&tenant.key, &path(&webhook))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shown["dialect"], preset);

        // The first attempt is refused, so the second is a retry.
        receiver.script([Reply::Status(500)]);
        let appended = app.append_ok(&tenant.key, "alice", &email_sent(1)).await;
        let first = receiver.next().await;
        recorded += 1;
        app.recorded(recorded).await;
        app.advance(std::time::Duration::from_secs(6));
        let retry = receiver.next().await;
        recorded += 1;
        let ping = app
            .post(&tenant.key, &format!("{}/ping", path(&webhook)), &json!({}))
            .await;
        assert_eq!(ping.status(), StatusCode::OK, "{preset}");
        let ping = receiver.next().await;
        assert_eq!(ping.json()["type"], "webhook.ping");
        let replayed = app
            .post(
                &tenant.key,
                &format!("{}/replay", path(&webhook)),
                // This event only: the earlier presets' are in the log too.
                &json!({ "identity": "alice", "since": appended[0]["seq"].as_u64().unwrap() - 1 }),
            )
            .await;
        assert_eq!(replayed.status(), StatusCode::ACCEPTED, "{preset}");
        let replay = receiver.next().await;
        recorded += 1;
        app.recorded(recorded).await;

        for (what, request) in [
            ("delivery", &first),
            ("retry", &retry),
            ("ping", &ping),
            ("replay", &replay),
        ] {
            assert!(verify(request, secret), "{preset}: the {what} verifies");
            assert!(
                !verify(request, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                "{preset}: the {what} does not verify with another secret"
            );
            let others = PRESETS.iter().filter(|(name, _)| *name != preset);
            for (other, check) in others {
                assert!(
                    !check(request, secret),
                    "{preset}: the {what} is not also {other}"
                );
            }
        }
        assert_eq!(first.json()["id"], appended[0]["id"]);
        assert_eq!(first.body, retry.body, "a retry sends the same body");
        // The next preset's deliveries are counted alone.
        let deleted = app.delete(&tenant.key, &path(&webhook)).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    }
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_rotation_keeps_every_dialects_receivers_verifying() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    for (preset, verify) in PRESETS {
        let receiver = WebhookReceiver::start().await;
        let webhook = app
            .create_webhook(
                &tenant.key,
                &json!({ "url": receiver.url, "dialect": preset }),
            )
            .await;
        let old = webhook["secret"].as_str().unwrap().to_owned();
        let new = rotate(&app, &tenant.key, &webhook).await;
        app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
        let request = receiver.next().await;
        assert!(
            verify(&request, &old),
            "{preset}: a receiver still on the old secret verifies"
        );
        // Formats that list every active secret let a receiver on the new one verify at
        // once; those that carry one value keep the old until it expires.
        let lists_all = !matches!(preset, "github" | "x-signature" | "x-webhook-signature");
        assert_eq!(
            verify(&request, &new),
            lists_all,
            "{preset}: a receiver already on the new secret"
        );
    }
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_custom_dialect_signs_as_its_fields_say_and_can_go_back_to_the_default() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let receiver = WebhookReceiver::start().await;
    let tenant = app.tenant_with_identity("alice").await;
    let dialect = json!({
        "signedPayload": "{id}|{timestamp}|{body}",
        "key": "secretBytes",
        "encoding": "base64",
        "signatureHeader": "X-Acme-Signature",
        "signaturePrefix": "sha256=",
        "timestampHeader": "X-Acme-Timestamp",
        "idHeader": "X-Acme-Delivery",
        "signatures": "all",
        "separator": ";",
    });
    let webhook = app
        .create_webhook(
            &tenant.key,
            &json!({ "url": receiver.url, "dialect": dialect }),
        )
        .await;
    assert_eq!(webhook["dialect"]["signatureHeader"], "X-Acme-Signature");
    let secret = webhook["secret"].as_str().unwrap();
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    let request = receiver.next().await;
    assert!(acme(&request, secret));
    assert!(!request.headers.contains_key("webhook-signature"));

    let changed = app
        .patch(&tenant.key, &path(&webhook), &json!({ "dialect": null }))
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["dialect"], "standard-webhooks");
    app.append_ok(&tenant.key, "alice", &no_reply(2)).await;
    let request = receiver.next().await;
    assert!(verifiers::standard_webhooks(&request, secret));
    assert!(!request.headers.contains_key("x-acme-signature"));

    let changed = app
        .patch(
            &tenant.key,
            &path(&webhook),
            &json!({ "dialect": "github" }),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    app.append_ok(&tenant.key, "alice", &no_reply(3)).await;
    assert!(verifiers::github(&receiver.next().await, secret));
    app.stop().await;
    db.drop().await;
}

/// The custom dialect above, checked as its own receiver would: base64 HMAC keyed with the
/// secret's bytes over `id|timestamp|body`.
fn acme(request: &Received, secret: &str) -> bool {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac};
    let header = |name: &str| request.headers[name].to_str().unwrap().to_owned();
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(
        format!(
            "{}|{}|{}",
            header("x-acme-delivery"),
            header("x-acme-timestamp"),
            std::str::from_utf8(&request.body).unwrap()
        )
        .as_bytes(),
    );
    let expected = format!("sha256={}", STANDARD.encode(mac.finalize().into_bytes()));
    header("x-acme-signature") == expected
}

#[tokio::test]
async fn a_bad_dialect_is_refused_with_the_reason_and_changes_nothing() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let url = "https://example.com/hook";
    let signs_nothing = json!({
        "signedPayload": "{timestamp}",
        "key": "secretText",
        "encoding": "hex",
        "signatureHeader": "x-sig",
        "timestampHeader": "x-ts",
        "signatures": "oldest",
    });
    let mut unknown_field = signs_nothing.clone();
    unknown_field["signedPayload"] = json!("{body}");
    unknown_field["algorithm"] = json!("sha1");
    let mut reserved = unknown_field.clone();
    reserved.as_object_mut().unwrap().remove("algorithm");
    reserved["signatureHeader"] = json!("Content-Length");
    let mut uncarried = reserved.clone();
    uncarried["signatureHeader"] = json!("x-sig");
    uncarried["signedPayload"] = json!("{id}.{body}");
    for (dialect, code, says) in [
        (json!("svix-ish"), "invalid_dialect", "not a dialect"),
        (json!(42), "invalid_dialect", "preset's name or an object"),
        (signs_nothing, "invalid_dialect", "sign the body"),
        (
            unknown_field,
            "invalid_dialect",
            "unknown field `algorithm`",
        ),
        (reserved, "dialect_conflict", "HTTP client"),
        (uncarried, "dialect_conflict", "`idHeader` must carry it"),
    ] {
        let response = app
            .post(
                &tenant.key,
                "/v1/webhooks",
                &json!({ "url": url, "dialect": dialect }),
            )
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, code).await;
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{dialect}: {message}");
    }
    let listed: Value = app
        .get(&tenant.key, "/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]), "nothing was registered");

    let webhook = app
        .create_webhook(&tenant.key, &json!({ "url": url, "dialect": "stripe" }))
        .await;
    let response = app
        .patch(
            &tenant.key,
            &path(&webhook),
            &json!({ "dialect": "nope", "description": "x" }),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_dialect").await;
    let shown: Value = app
        .get(&tenant.key, &path(&webhook))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        shown["dialect"], "stripe",
        "the refused change changed nothing"
    );
    assert_eq!(shown["description"], "");
    app.stop().await;
    db.drop().await;
}
