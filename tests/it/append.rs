use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, TestDatabase, assert_error, email_sent, no_reply, seqs};

#[tokio::test]
async fn an_appended_event_comes_back_as_its_envelope() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice.acme@inboxbase.ai").await;

    let events = app
        .append_ok(&tenant.key, "alice.acme@inboxbase.ai", &email_sent(1))
        .await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    let id = event["id"].as_str().unwrap();
    assert!(id.starts_with("evt_") && id.len() == 30, "{id}");
    assert_eq!(event["seq"], 1);
    assert_eq!(event["type"], "email.sent");
    assert_eq!(event["identity"], "alice.acme@inboxbase.ai");
    assert_eq!(event["data"], email_sent(1)["data"]);
    // RFC 3339, UTC, milliseconds.
    let created = event["createdAt"].as_str().unwrap();
    assert_eq!(created.len(), "2026-04-27T11:55:29.000Z".len(), "{created}");
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok());

    // The pull shows the very same envelope.
    let page = app
        .pull_ok(&tenant.key, "alice.acme@inboxbase.ai", "")
        .await;
    assert_eq!(&page["events"][0], event);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_batch_gets_contiguous_seqs_in_order() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    app.append_ok(&tenant.key, "alice", &no_reply(0)).await;

    let batch = json!({ "events": (1..=5).map(no_reply).collect::<Vec<_>>() });
    let events = app.append_ok(&tenant.key, "alice", &batch).await;
    assert_eq!(seqs(&events), [2, 3, 4, 5, 6]);
    let waited: Vec<u64> = events
        .iter()
        .map(|e| e["data"]["waitedMs"].as_u64().unwrap())
        .collect();
    assert_eq!(waited, [1, 2, 3, 4, 5]);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_batch_with_one_bad_event_writes_nothing() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;

    let mut bad = no_reply(2);
    bad["data"]["waitedMs"] = json!("soon");
    let batch = json!({ "events": [no_reply(1), bad, no_reply(3)] });
    let body = assert_error(
        app.append(&tenant.key, "alice", &batch).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "schema_violation",
    )
    .await;
    assert_eq!(
        body["error"]["details"]["pointer"],
        "/events/1/data/waitedMs"
    );

    let page = app.pull_ok(&tenant.key, "alice", "").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 0);
    assert_eq!(page["cursor"], 0);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn resending_a_client_id_returns_the_stored_event_and_a_changed_one_conflicts() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let id = format!("evt_{}", ulid::Ulid::new());
    let mut event = no_reply(1);
    event["id"] = json!(id);

    let first = app.append_ok(&tenant.key, "alice", &event).await;
    assert_eq!(first[0]["id"], id.as_str());

    let again = app.append(&tenant.key, "alice", &event).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["events"][0], first[0]);

    let mut changed = event.clone();
    changed["data"]["waitedMs"] = json!(99);
    let body = assert_error(
        app.append(&tenant.key, "alice", &changed).await,
        StatusCode::CONFLICT,
        "event_id_conflict",
    )
    .await;
    assert_eq!(body["error"]["details"]["id"], id.as_str());

    // The same id in another identity's log is a conflict too: ids are global.
    app.put_identity(&tenant.key, "bob").await;
    assert_error(
        app.append(&tenant.key, "bob", &event).await,
        StatusCode::CONFLICT,
        "event_id_conflict",
    )
    .await;

    let page = app.pull_ok(&tenant.key, "alice", "").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    let bob = app.pull_ok(&tenant.key, "bob", "").await;
    assert_eq!(bob["events"].as_array().unwrap().len(), 0);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_batch_mixing_resent_and_new_ids_appends_only_the_new_ones() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let mut old = no_reply(1);
    old["id"] = json!(format!("evt_{}", ulid::Ulid::new()));
    let stored = app.append_ok(&tenant.key, "alice", &old).await;

    let events = app
        .append_ok(
            &tenant.key,
            "alice",
            &json!({ "events": [old, no_reply(2)] }),
        )
        .await;
    assert_eq!(events[0], stored[0]);
    assert_eq!(seqs(&events), [1, 2]);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn concurrent_resends_of_one_new_id_store_it_once() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let mut event = no_reply(1);
    event["id"] = json!(format!("evt_{}", ulid::Ulid::new()));

    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let request = app
            .client
            .post(app.url("/v1/identities/alice/events"))
            .bearer_auth(&tenant.key)
            .json(&event);
        sends.spawn(async move { request.send().await.unwrap().status() });
    }
    let mut created = 0;
    while let Some(status) = sends.join_next().await {
        match status.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::OK => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1);
    let page = app.pull_ok(&tenant.key, "alice", "").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn every_builtin_type_accepts_its_documented_example() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let message = json!({ "id": "<m>", "messageIdHeader": "<h>", "from": "a@x", "to": "b@y", "subject": "s", "snippet": "p", "ts": 1 });
    let mailbox = json!({ "id": "acc_1", "email": "a@x" });
    let examples = [
        (
            "email.queued",
            json!({ "pendingId": "psn_1", "convId": "conv_1", "identity": "alice", "recipient": "m@n", "sendClass": "cold_first_contact", "pinnedAccountId": null, "dispatchAt": 1, "queuedAt": 1, "subject": "s", "snippet": "p" }),
        ),
        (
            "email.sent",
            json!({ "convId": "conv_1", "identity": "alice", "message": message, "account": mailbox }),
        ),
        (
            "email.cancelled",
            json!({ "pendingId": "psn_1", "convId": "conv_1", "identity": "alice", "recipient": "m@n", "reason": "user", "ts": 1 }),
        ),
        (
            "email.received",
            json!({ "convId": "conv_1", "identity": "alice", "message": message }),
        ),
        (
            "email.replied",
            json!({ "convId": "conv_1", "identity": "alice", "message": message }),
        ),
        (
            "email.no_reply",
            json!({ "convId": "conv_1", "identity": "alice", "afterMessageId": "<m>", "waitedMs": 1 }),
        ),
        (
            "email.bounced",
            json!({ "convId": "conv_1", "linkedVia": "message_id", "identity": "alice", "originalMessageId": "<o>", "originalRecipient": "m@n", "bounceKind": "soft", "bounceStatus": "4.2.2", "softBounceCount": 2, "escalatedToDoNotContact": false, "from": "d@x", "subject": "s", "snippet": "p", "ts": 1 }),
        ),
        (
            "email.send_failed_permanently",
            json!({ "pendingId": "psn_1", "recipient": "m@n", "convId": null, "sendClass": "warm", "attempts": 1, "error": "bounced" }),
        ),
        (
            "mailbox.replaced",
            json!({ "deadMailbox": mailbox, "newMailbox": null, "reason": "auth_failed", "recipientsRepinned": 23, "rowsRepointed": 4, "rowsUnpinned": 0 }),
        ),
    ];
    for (event_type, data) in &examples {
        app.append_ok(
            &tenant.key,
            "alice",
            &json!({ "type": event_type, "data": data }),
        )
        .await;
    }

    // And each refuses a wrong enum value or a missing field, naming it.
    let refusals = [
        ("email.queued", "sendClass", json!("lukewarm")),
        ("email.bounced", "bounceKind", json!("medium")),
        ("email.bounced", "linkedVia", json!("guess")),
        ("email.queued", "pinnedAccountId", json!(7)),
        ("mailbox.replaced", "newMailbox", json!({ "id": "acc_2" })),
    ];
    for (event_type, field, value) in refusals {
        let mut data = examples
            .iter()
            .find(|(t, _)| *t == event_type)
            .unwrap()
            .1
            .clone();
        data[field] = value;
        let response = app
            .append(
                &tenant.key,
                "alice",
                &json!({ "type": event_type, "data": data }),
            )
            .await;
        let body = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "schema_violation",
        )
        .await;
        assert!(
            body["error"]["details"]["pointer"]
                .as_str()
                .unwrap()
                .starts_with(&format!("/data/{field}")),
            "{body}"
        );
    }
    for (event_type, data) in &examples {
        let field = data.as_object().unwrap().keys().next().unwrap().clone();
        let mut data = data.clone();
        data.as_object_mut().unwrap().remove(&field);
        let response = app
            .append(
                &tenant.key,
                "alice",
                &json!({ "type": event_type, "data": data }),
            )
            .await;
        let body = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "schema_violation",
        )
        .await;
        assert_eq!(
            body["error"]["details"]["pointer"],
            format!("/data/{field}"),
            "{body}"
        );
    }
    let page = app.pull_ok(&tenant.key, "alice", "").await;
    assert_eq!(page["cursor"], 9);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn event_data_may_hold_a_nul_and_reads_back_as_sent() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let mut event = no_reply(1);
    event["data"]["convId"] = json!("before\u{0}after");
    let events = app.append_ok(&tenant.key, "alice", &event).await;
    assert_eq!(events[0]["data"], event["data"]);
    let page = app.pull_ok(&tenant.key, "alice", "").await;
    assert_eq!(page["events"][0]["data"]["convId"], "before\u{0}after");
    app.stop().await;
    db.drop().await;
}
