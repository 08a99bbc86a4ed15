//! The console in a real headless Chromium against a real server: signing in (and a bad
//! key's message), the identities list, an identity's log, and a key bound to one identity
//! seeing only that one.

use serde_json::json;

use crate::support::browser::Browser;
use crate::support::{TestApp, TestDatabase, no_reply};

#[tokio::test]
async fn a_user_signs_in_and_reads_the_identities_and_a_log() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    app.put_identity(&tenant.key, "bob").await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    let bound = app
        .create_key(
            &tenant.key,
            &json!({ "scopes": ["events:read"], "identity": "bob" }),
        )
        .await;
    let browser = Browser::start(&app).await;

    browser
        .scenario("sign-in", async |b| {
            b.open("/").await;
            let nav = b
                .client
                .find(fantoccini::Locator::Css("#nav"))
                .await
                .unwrap();
            assert!(
                !nav.is_displayed().await.unwrap(),
                "no navigation before signing in"
            );
            b.sign_in("not-a-key").await;
            b.text_of("#sign-in-error", "Authorization: Bearer").await;
            b.sign_in(&tenant.key).await;
            b.click_link("Identities").await;
            b.text_of("#view table", "alice").await;
            b.text_of("#view table", "bob").await;
            b.click_link("alice").await;
            let log = b.text_of("#view", "email.no_reply").await;
            assert!(log.contains("#1"), "{log}");
        })
        .await;

    browser
        .scenario("bound-key", async |b| {
            b.click("#sign-out").await;
            b.sign_in(bound["key"].as_str().unwrap()).await;
            b.click_link("Identities").await;
            let listed = b.text_of("#view table", "bob").await;
            assert!(
                !listed.contains("alice"),
                "a key bound to bob sees only bob: {listed}"
            );
        })
        .await;
    browser.close().await;
    app.stop().await;
    db.drop().await;
}
