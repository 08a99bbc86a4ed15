//! The console in a real headless Chromium against a real server: signing in (and a bad
//! key's message), the overview, the identities list, an identity's log, getting about by
//! keyboard, and a key bound to one identity seeing only that one.

use serde_json::{Value, json};

use crate::support::browser::Browser;
use crate::support::receiver::{Reply, WebhookReceiver};
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
            b.text_of("#stats-totals", "1 appended").await;
            b.text_of("#view", "No webhooks yet").await;
            b.click_link("Identities").await;
            b.text_of("#view table", "alice").await;
            b.text_of("#view table", "bob").await;
            b.fill("#view input[name=prefix]", "bo").await;
            b.click("#view form[role=search] button").await;
            b.gone("#identities a[href='#/identities/alice']").await;
            b.text_of("#identities", "bob").await;
            b.fill("#view input[name=prefix]", "").await;
            b.click("#view form[role=search] button").await;
            b.click_link("alice").await;
            let log = b.text_of("#view", "email.no_reply").await;
            assert!(log.contains("#1"), "{log}");
        })
        .await;

    browser
        .scenario("keyboard", async |b| {
            b.click("#sign-out").await;
            // Enter in the key's field signs in, back on the page that was open.
            b.find("input[name=apiKey]")
                .await
                .send_keys(&format!("{}\u{E007}", tenant.key))
                .await
                .unwrap();
            b.text_of("#view h1", "alice").await;
            // Tab moves from one navigation link to the next; Enter follows it.
            b.find("#nav a[href='#/overview']")
                .await
                .send_keys("\u{E004}")
                .await
                .unwrap();
            let focused = b.client.active_element().await.unwrap();
            assert_eq!(focused.text().await.unwrap(), "Identities");
            focused.send_keys("\u{E007}").await.unwrap();
            b.text_of("#view table", "alice").await;
        })
        .await;

    browser
        .scenario("bound-key", async |b| {
            b.click("#sign-out").await;
            b.sign_in(bound["key"].as_str().unwrap()).await;
            b.click_link("Overview").await;
            b.text_of("#view", "covers the whole tenant").await;
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

/// The pages that change things: a live tail, a webhook made in the console and its
/// deliveries (a failure shown with its status and body, then retried by hand), the
/// overview's account of them, a secret rotated, a key made and revoked.
#[tokio::test]
async fn a_user_follows_a_log_and_runs_a_webhook_and_keys_from_the_console() {
    let db = TestDatabase::create().await;
    let mut config = seqhook::config::ServeConfig::for_database(&db.url);
    // No retry falls due by itself: the one after the failure is the button's.
    config.retry_schedule = "0s,1h".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    let tenant = app.tenant_with_identity("alice").await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    let receiver = WebhookReceiver::start().await;
    let browser = Browser::start(&app).await;
    browser
        .scenario("live-tail", async |b| {
            b.open("/").await;
            b.sign_in(&tenant.key).await;
            b.click_link("Identities").await;
            b.click_link("alice").await;
            b.text_of("#view", "following new events").await;
            app.held(1).await;
            app.append_ok(&tenant.key, "alice", &no_reply(2)).await;
            b.text_of("#live", "#2 email.no_reply").await;
        })
        .await;

    let webhook_id = std::cell::RefCell::new(String::new());
    browser
        .scenario("webhook", async |b| {
            b.click_link("Webhooks").await;
            b.fill("#new-webhook input[name=url]", &receiver.url).await;
            b.click("#new-webhook button[type=submit]").await;
            let created = b.text_of("#new-webhook .outcome", "Created").await;
            assert!(created.contains("whsec_"), "the secret is shown: {created}");
            let listed: Value = app
                .get(&tenant.key, "/v1/webhooks")
                .await
                .json()
                .await
                .unwrap();
            let id = listed["data"][0]["id"].as_str().unwrap().to_owned();
            *webhook_id.borrow_mut() = id.clone();

            app.append_ok(&tenant.key, "alice", &no_reply(3)).await;
            receiver.next().await;
            app.recorded(1).await;
            receiver.script([Reply::Body(500, b"receiver down")]);
            app.append_ok(&tenant.key, "alice", &no_reply(4)).await;
            receiver.next().await;
            app.recorded(2).await;
            b.click_link(&id).await;
            b.text_of("#deliveries", "succeeded").await;
            let failed = b.text_of("#deliveries", "receiver down").await;
            assert!(failed.contains("500"), "{failed}");

            let pending: Value = app
                .get(
                    &tenant.key,
                    &format!("/v1/webhooks/{id}/deliveries?status=pending"),
                )
                .await
                .json()
                .await
                .unwrap();
            let delivery = pending["data"][0]["id"].as_str().unwrap().to_owned();
            b.click(&format!("tr[data-delivery='{delivery}'] button"))
                .await;
            b.text_of(&format!("tr[data-delivery='{delivery}']"), "Queued")
                .await;
            receiver.next().await;
            app.recorded(3).await;
            b.click("#view form[aria-label='Filter deliveries'] button")
                .await;
            b.text_of(
                &format!("tr[data-delivery='{delivery}'] .status"),
                "succeeded",
            )
            .await;
        })
        .await;

    browser
        .scenario("overview", async |b| {
            let id = webhook_id.borrow().clone();
            b.click_link("Overview").await;
            b.text_of(
                "#stats-totals",
                "4 appended · 2 delivered · 1 retrying · 0 failed · success 66.7%",
            )
            .await;
            let health = b
                .text_of(&format!("#webhook-health tr[data-webhook='{id}']"), "66.7%")
                .await;
            assert!(
                health.contains("receiver down"),
                "the last failure: {health}"
            );
            assert!(health.contains("500"), "{health}");
            let delivered = b
                .client
                .find_all(fantoccini::Locator::Css("svg.chart rect.series-delivered"))
                .await
                .unwrap();
            assert!(
                !delivered.is_empty(),
                "the chart draws the delivered attempts"
            );
            b.click("#stats-window option[value='15m']").await;
            b.text_of("#stats-totals", "Last 15 minutes: 4 appended")
                .await;
        })
        .await;

    browser
        .scenario("rotate", async |b| {
            let id = webhook_id.borrow().clone();
            b.open(&format!("/#/webhooks/{id}")).await;
            b.text_of("#view .toolbar", "Rotate secret").await;
            let buttons = b
                .client
                .find_all(fantoccini::Locator::Css("#view .toolbar > span > button"))
                .await
                .unwrap();
            let mut rotate = None;
            for button in buttons {
                if button.text().await.unwrap() == "Rotate secret" {
                    rotate = Some(button);
                }
            }
            rotate
                .expect("a Rotate secret button")
                .click()
                .await
                .unwrap();
            let shown = b.text_of("#view .toolbar", "New secret").await;
            let current: Value = app
                .get(&tenant.key, &format!("/v1/webhooks/{id}/secret"))
                .await
                .json()
                .await
                .unwrap();
            assert!(shown.contains(current["key"].as_str().unwrap()), "{shown}");
        })
        .await;

    browser
        .scenario("event-types", async |b| {
            b.click_link("Event types").await;
            b.fill("#new-type input[name=name]", "lead.scored").await;
            b.fill("#new-type textarea[name=schema]", "{\"type\": \"object\",")
                .await;
            b.text_of("#schema-verdict", "Invalid JSON").await;
            let save = b.find("#new-type button[type=submit]").await;
            assert!(
                !save.is_enabled().await.unwrap(),
                "nothing is sent while the JSON is invalid"
            );
            b.fill(
                "#new-type textarea[name=schema]",
                r#"{"type": "object", "required": ["score"]}"#,
            )
            .await;
            b.text_of("#schema-verdict", "Valid JSON").await;
            b.click("#new-type button[type=submit]").await;
            b.text_of("#new-type .outcome", "Saved").await;
            b.text_of("#view table", "lead.scored").await;
            let refused = app
                .append(
                    &tenant.key,
                    "alice",
                    &json!({ "type": "lead.scored", "data": {} }),
                )
                .await;
            assert_eq!(
                refused.status(),
                reqwest::StatusCode::UNPROCESSABLE_ENTITY,
                "the saved schema applies"
            );
        })
        .await;

    browser
        .scenario("keys", async |b| {
            b.click_link("API keys").await;
            b.fill("#new-key input[name=name]", "console test").await;
            b.click("#new-key input[value='events:read']").await;
            b.click("#new-key button[type=submit]").await;
            let key = b.find("#new-key-secret").await.text().await.unwrap();
            assert!(key.starts_with("shk_"), "{key}");
            let made = app.get(&key, "/v1/identities").await;
            assert_eq!(
                made.status(),
                reqwest::StatusCode::OK,
                "the key shown works"
            );
            let keys: Value = app
                .get(&tenant.key, "/v1/api-keys")
                .await
                .json()
                .await
                .unwrap();
            let id = keys["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|listed| listed["name"] == "console test")
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            b.click(&format!("tr[data-key='{id}'] button")).await;
            b.gone(&format!("tr[data-key='{id}']")).await;
            let revoked = app.get(&key, "/v1/identities").await;
            assert_eq!(revoked.status(), reqwest::StatusCode::UNAUTHORIZED);
        })
        .await;
    browser.close().await;
    app.stop().await;
    db.drop().await;
}
