use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, TestDatabase, assert_error, no_reply};

#[tokio::test]
async fn creating_an_identity_is_idempotent_and_shows_its_head() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.create_tenant("acme").await;

    let first = app
        .put_identity(&tenant.key, "alice.acme@inboxbase.ai")
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["handle"], "alice.acme@inboxbase.ai");
    assert_eq!(first["headSeq"], 0);
    assert_eq!(first["lastEventAt"], Value::Null, "no event yet");

    let appended = app
        .append_ok(&tenant.key, "alice.acme@inboxbase.ai", &no_reply(1))
        .await;
    let again = app
        .put_identity(&tenant.key, "alice.acme@inboxbase.ai")
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["headSeq"], 1);
    assert_eq!(again["createdAt"], first["createdAt"]);
    assert_eq!(again["lastEventAt"], appended[0]["createdAt"]);

    let shown: Value = app
        .get(&tenant.key, "/v1/identities/alice.acme@inboxbase.ai")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown, again);
    let listed: Value = app
        .get(&tenant.key, "/v1/identities")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0], again, "listed as shown");
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn identities_are_listed_in_pages_that_resume_from_the_cursor() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.create_tenant("acme").await;
    let mut expected: Vec<String> = (0..7).map(|n| format!("user-{n}")).collect();
    for handle in &expected {
        app.put_identity(&tenant.key, handle).await;
    }
    expected.sort();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(cursor) => format!("/v1/identities?limit=3&after={cursor}"),
            None => "/v1/identities?limit=3".to_owned(),
        };
        let page: Value = app.get(&tenant.key, &path).await.json().await.unwrap();
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 3);
        seen.extend(
            data.iter()
                .map(|identity| identity["handle"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn another_tenants_identity_is_not_found_and_stays_untouched() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let owner = app.tenant_with_identity("alice").await;
    let other = app.create_tenant("other").await;

    assert_error(
        app.get(&other.key, "/v1/identities/alice").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.pull(&other.key, "alice", "").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.append(&other.key, "alice", &no_reply(1)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let listed: Value = app
        .get(&other.key, "/v1/identities")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 0);

    // The same handle in the other tenant is a different log.
    assert_eq!(
        app.put_identity(&other.key, "alice").await.status(),
        StatusCode::CREATED
    );
    app.append_ok(&other.key, "alice", &no_reply(1)).await;
    let owners: Value = app.pull_ok(&owner.key, "alice", "").await;
    assert_eq!(owners["events"].as_array().unwrap().len(), 0);
    app.stop().await;
    db.drop().await;
}
