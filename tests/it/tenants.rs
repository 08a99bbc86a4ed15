use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, TestApp, TestDatabase, assert_error};

#[tokio::test]
async fn the_operator_creates_a_tenant_and_receives_a_key_holding_every_scope() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;

    let response = app
        .client
        .post(app.url("/v1/admin/tenants"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "name": "Acme" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert!(body["tenant"]["id"].as_str().unwrap().starts_with("ten_"));
    assert_eq!(body["tenant"]["name"], "Acme");
    assert!(body["tenant"]["createdAt"].as_str().unwrap().ends_with('Z'));
    let key = &body["apiKey"];
    assert!(key["id"].as_str().unwrap().starts_with("key_"));
    assert!(key["key"].as_str().unwrap().starts_with("shk_"));
    assert_eq!(
        key["scopes"],
        json!(["events:read", "events:write", "webhooks", "admin"])
    );
    assert_eq!(key["identity"], Value::Null);

    // The key works at once.
    let secret = key["key"].as_str().unwrap();
    assert_eq!(
        app.put_identity(secret, "alice").await.status(),
        StatusCode::CREATED
    );

    // Only its hash is stored.
    let pool = db.pool().await;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32);
    assert_ne!(stored, secret.as_bytes());
    pool.close().await;

    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn tenant_creation_needs_the_admin_token() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.create_tenant("acme").await;

    for token in [None, Some("wrong"), Some(tenant.key.as_str())] {
        let mut request = app
            .client
            .post(app.url("/v1/admin/tenants"))
            .json(&json!({ "name": "x" }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_error(
            request.send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn the_cli_creates_a_tenant_whose_key_the_api_accepts() {
    let db = TestDatabase::create().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_seqhook"))
        .args(["tenants", "create", "Globex"])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run seqhook");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let body: Value = serde_json::from_slice(&output.stdout).expect("the CLI prints JSON");
    assert_eq!(body["tenant"]["name"], "Globex");
    let key = body["apiKey"]["key"].as_str().unwrap();

    let app = TestApp::spawn(&db.url).await;
    assert_eq!(
        app.put_identity(key, "bob").await.status(),
        StatusCode::CREATED
    );
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn the_cli_refuses_a_blank_tenant_name_and_creates_nothing() {
    let db = TestDatabase::create().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_seqhook"))
        .args(["tenants", "create", "   "])
        .env("DATABASE_URL", &db.url)
        .output()
        .await
        .expect("run seqhook");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("tenant name"));
    let pool = db.pool().await;
    // The CLI refuses before touching the database, so even the schema may be absent.
    let tenants: Option<i64> = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(&pool)
        .await
        .ok();
    assert!(matches!(tenants, None | Some(0)));
    pool.close().await;
    db.drop().await;
}
