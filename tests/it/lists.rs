//! Every documented query parameter of every list route, walked page by page: each page
//! holds at most `limit`, `next` leads on without repeating or skipping, and the filters
//! narrow the list.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ApiClient, TestApp, TestDatabase, no_reply};

/// Every item of a list, fetched `limit` at a time by following `next`.
async fn walk(api: &ApiClient, key: &str, path: &str, limit: usize) -> Vec<Value> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let mut url = format!("{path}{separator}limit={limit}");
        if let Some(cursor) = &after {
            url.push_str(&format!("&after={cursor}"));
        }
        let response = api.get(key, &url).await;
        let status = response.status();
        let page: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= limit, "{url}: a page holds at most `limit`");
        items.extend(data.iter().cloned());
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(data.len(), limit, "{url}: only a full page has a next one");
                after = Some(next.to_owned());
            }
            None => return items,
        }
    }
    panic!("{path}: the pages never ended");
}

fn field(items: &[Value], name: &str) -> Vec<String> {
    items
        .iter()
        .map(|item| item[name].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_list_pages_through_limit_and_after_without_repeating_or_skipping() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.create_tenant("acme").await;
    let key = tenant.key.as_str();

    // `+` unencoded in `after` arrives as a space, and is read back as `+`.
    let handles = ["a.1", "b+2@x.com", "c.3", "d+4", "e.5"];
    for handle in handles {
        assert_eq!(
            app.put_identity(key, handle).await.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(
        field(&walk(&app, key, "/v1/identities", 2).await, "handle"),
        handles
    );

    let mut keys = vec![];
    for n in 0..4 {
        let minted = app
            .create_key(
                key,
                &json!({ "scopes": ["events:read"], "name": format!("k{n}") }),
            )
            .await;
        keys.push(minted["id"].as_str().unwrap().to_owned());
    }
    // Lists run in id order: time-ordered, but not within one millisecond.
    let mut listed = field(&walk(&app, key, "/v1/api-keys", 3).await, "id");
    assert!(listed.is_sorted(), "{listed:?}");
    assert_eq!(listed.len(), 5, "the first key and four more");
    listed.retain(|id| keys.contains(id));
    keys.sort();
    assert_eq!(listed, keys);

    let mut webhooks = vec![];
    for n in 0..5 {
        let created = app
            .create_webhook(key, &json!({ "url": format!("https://example.com/{n}") }))
            .await;
        webhooks.push(created["id"].as_str().unwrap().to_owned());
    }
    webhooks.sort();
    assert_eq!(
        field(&walk(&app, key, "/v1/webhooks", 2).await, "id"),
        webhooks
    );
    assert_eq!(
        field(&walk(&app, key, "/v1/webhooks", 1000).await, "id"),
        webhooks
    );
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn the_delivery_log_filters_by_status_and_identity_and_pages_by_limit_and_after() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.create_tenant("acme").await;
    let key = tenant.key.as_str();
    for handle in ["alice", "bob", "bob+1@x.com"] {
        app.put_identity(key, handle).await;
    }
    // Paused, so its deliveries stay pending where the test can count them.
    let webhook = app
        .create_webhook(key, &json!({ "url": "https://example.com/hook" }))
        .await;
    let path = format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap());
    let paused = app.patch(key, &path, &json!({ "active": false })).await;
    assert_eq!(paused.status(), StatusCode::OK);
    for n in 0..3 {
        app.append_ok(key, "alice", &no_reply(n)).await;
    }
    for n in 0..2 {
        app.append_ok(key, "bob", &no_reply(n)).await;
    }
    app.append_ok(key, "bob+1@x.com", &no_reply(9)).await;

    let log = format!("{path}/deliveries");
    let all = walk(&app, key, &log, 2).await;
    assert_eq!(all.len(), 6);
    let ids = field(&all, "id");
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids, "oldest first, none twice");

    let alice = walk(&app, key, &format!("{log}?identity=alice"), 1).await;
    assert_eq!(field(&alice, "identity"), ["alice"; 3]);
    let plus = walk(&app, key, &format!("{log}?identity=bob+1@x.com"), 10).await;
    assert_eq!(field(&plus, "identity"), ["bob+1@x.com"]);
    let pending_bob = walk(&app, key, &format!("{log}?status=pending&identity=bob"), 1).await;
    assert_eq!(pending_bob.len(), 2);
    assert!(
        pending_bob
            .iter()
            .all(|delivery| delivery["status"] == "pending")
    );
    assert!(
        walk(&app, key, &format!("{log}?status=succeeded"), 10)
            .await
            .is_empty()
    );
    assert!(
        walk(&app, key, &format!("{log}?status=failed"), 10)
            .await
            .is_empty()
    );
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn the_event_type_list_is_one_page_of_every_type() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.create_tenant("acme").await;
    let page: Value = app
        .get(&tenant.key, "/v1/event-types")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["data"].as_array().unwrap().len(),
        seqhook::domain::event::BUILTIN_TYPES.len()
    );
    assert_eq!(page["next"], Value::Null);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn identities_narrow_to_a_handle_prefix_page_by_page() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.create_tenant("acme").await;
    for handle in [
        "al",
        "alice+1@acme.io",
        "alice@acme.io",
        "alicia",
        "bob",
        "Alice",
    ] {
        assert_eq!(
            app.put_identity(&tenant.key, handle).await.status(),
            StatusCode::CREATED
        );
    }
    let found = walk(&app, &tenant.key, "/v1/identities?prefix=alic", 2).await;
    assert_eq!(
        field(&found, "handle"),
        ["alice+1@acme.io", "alice@acme.io", "alicia"]
    );
    let plus = walk(&app, &tenant.key, "/v1/identities?prefix=alice+", 10).await;
    assert_eq!(
        field(&plus, "handle"),
        ["alice+1@acme.io"],
        "an unencoded + is a +"
    );
    let all = walk(&app, &tenant.key, "/v1/identities?prefix=", 10).await;
    assert_eq!(all.len(), 6, "an empty prefix narrows nothing");

    let bound = app
        .create_key(
            &tenant.key,
            &json!({ "scopes": ["events:read"], "identity": "bob" }),
        )
        .await;
    let key = bound["key"].as_str().unwrap();
    assert_eq!(
        walk(&app, key, "/v1/identities?prefix=b", 10).await.len(),
        1
    );
    assert!(
        walk(&app, key, "/v1/identities?prefix=al", 10)
            .await
            .is_empty()
    );

    for bad in ["a*b", "a/b", "%C3%A9"] {
        let response = app
            .get(&tenant.key, &format!("/v1/identities?prefix={bad}"))
            .await;
        crate::support::assert_error(response, StatusCode::BAD_REQUEST, "invalid_prefix").await;
    }
    app.stop().await;
    db.drop().await;
}
