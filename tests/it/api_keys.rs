use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, TestDatabase, assert_error};

async fn create_key(app: &TestApp, admin_key: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/api-keys"))
        .bearer_auth(admin_key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn keys_are_minted_listed_without_secrets_and_revoked_at_once() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;

    let response = create_key(
        &app,
        &tenant.key,
        json!({ "scopes": ["events:read"], "name": "reader" }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let minted: Value = response.json().await.unwrap();
    let reader = minted["key"].as_str().unwrap().to_owned();
    assert_eq!(minted["scopes"], json!(["events:read"]));
    assert_eq!(minted["name"], "reader");

    let listed: Value = app
        .get(&tenant.key, "/v1/api-keys")
        .await
        .json()
        .await
        .unwrap();
    let data = listed["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert!(data.iter().all(|key| key.get("key").is_none()), "{listed}");

    assert_eq!(
        app.pull(&reader, "alice", "").await.status(),
        StatusCode::OK
    );
    let revoke = app
        .client
        .delete(app.url(&format!("/v1/api-keys/{}", minted["id"].as_str().unwrap())))
        .bearer_auth(&tenant.key)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.pull(&reader, "alice", "").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let listed: Value = app
        .get(&tenant.key, "/v1/api-keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn scopes_and_identity_binding_are_enforced() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    assert_eq!(
        app.put_identity(&tenant.key, "bob").await.status(),
        StatusCode::CREATED
    );

    let minted: Value = create_key(
        &app,
        &tenant.key,
        json!({ "scopes": ["events:read"], "identity": "alice" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let agent = minted["key"].as_str().unwrap();
    assert_eq!(minted["identity"], "alice");

    assert_eq!(app.pull(agent, "alice", "").await.status(), StatusCode::OK);
    // Another identity of the same tenant looks like it does not exist.
    assert_error(
        app.pull(agent, "bob", "").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // A read-only key cannot write.
    assert_error(
        app.append(agent, "alice", &crate::support::no_reply(1))
            .await,
        StatusCode::FORBIDDEN,
        "missing_scope",
    )
    .await;
    // Nor manage keys.
    assert_error(
        create_key(&app, agent, json!({ "scopes": ["events:read"] })).await,
        StatusCode::FORBIDDEN,
        "missing_scope",
    )
    .await;
    // Listing identities shows only its own.
    let listed: Value = app.get(agent, "/v1/identities").await.json().await.unwrap();
    let handles: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["handle"].as_str().unwrap())
        .collect();
    assert_eq!(handles, ["alice"]);
    app.stop().await;
    db.drop().await;
}
