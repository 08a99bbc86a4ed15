use reqwest::StatusCode;
use serde_json::Value;

use crate::support::process::ServerProcess;
use crate::support::{TestApp, TestDatabase};

#[tokio::test]
async fn health_and_readiness_report_the_database_and_the_listener() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(
        ready,
        serde_json::json!({ "database": true, "listener": true })
    );
    let id = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(
        id.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn the_binary_serves_then_exits_cleanly_on_sigterm() {
    let db = TestDatabase::create().await;
    let mut server = ServerProcess::spawn(&db.url, &[]).await;
    let health = reqwest::get(format!("http://127.0.0.1:{}/healthz", server.port))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let pid = server.child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = server.child.wait().await.unwrap();
    assert!(status.success(), "{status:?}");
    let rest = server.remaining_stderr().await;
    assert!(
        rest.iter().any(|line| line.contains("shutting down")),
        "{rest:?}"
    );
    db.drop().await;
}

#[tokio::test]
async fn migrate_is_idempotent_and_reports_success() {
    let db = TestDatabase::create().await;
    for _ in 0..2 {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_seqhook"))
            .arg("migrate")
            .env("DATABASE_URL", &db.url)
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("migrations applied"));
    }
    db.drop().await;
}

#[tokio::test]
async fn a_database_url_with_an_unknown_scheme_is_refused_with_a_clear_message() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_seqhook"))
        .arg("migrate")
        .env("DATABASE_URL", "mysql://localhost/x")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("postgres://"));
}
