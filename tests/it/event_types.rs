use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, TestDatabase, assert_error};

async fn define(app: &TestApp, key: &str, name: &str, body: &Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/v1/event-types/{name}")))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn lead_schema() -> Value {
    json!({
        "type": "object",
        "required": ["leadId", "score"],
        "properties": { "leadId": { "type": "string" }, "score": { "type": "integer", "minimum": 0 } }
    })
}

#[tokio::test]
async fn the_catalog_lists_the_builtins_and_a_tenants_own_types() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.create_tenant("acme").await;

    let catalog: Value = app
        .get(&tenant.key, "/v1/event-types")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = catalog["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), seqhook::domain::event::BUILTIN_TYPES.len());
    assert!(names.contains(&"email.bounced") && names.contains(&"mailbox.replaced"));

    let created = define(
        &app,
        &tenant.key,
        "lead.scored",
        &json!({ "description": "A lead was scored", "schema": lead_schema() }),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let replaced = define(
        &app,
        &tenant.key,
        "lead.scored",
        &json!({ "description": "Scored", "schema": lead_schema() }),
    )
    .await;
    assert_eq!(replaced.status(), StatusCode::OK);

    let catalog: Value = app
        .get(&tenant.key, "/v1/event-types")
        .await
        .json()
        .await
        .unwrap();
    let custom = catalog["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "lead.scored")
        .unwrap()
        .clone();
    assert_eq!(custom["description"], "Scored");
    assert_eq!(custom["builtin"], false);

    // Another tenant does not see it, and cannot append it.
    let other = app.tenant_with_identity("bob").await;
    let catalog: Value = app
        .get(&other.key, "/v1/event-types")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        catalog["data"].as_array().unwrap().len(),
        seqhook::domain::event::BUILTIN_TYPES.len()
    );
    let response = app
        .append(
            &other.key,
            "bob",
            &json!({ "type": "lead.scored", "data": { "leadId": "l", "score": 1 } }),
        )
        .await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_event_type",
    )
    .await;
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_custom_type_is_validated_by_its_schema() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    define(
        &app,
        &tenant.key,
        "lead.scored",
        &json!({ "schema": lead_schema() }),
    )
    .await;

    app.append_ok(
        &tenant.key,
        "alice",
        &json!({ "type": "lead.scored", "data": { "leadId": "l1", "score": 7 } }),
    )
    .await;
    let response = app
        .append(
            &tenant.key,
            "alice",
            &json!({ "type": "lead.scored", "data": { "leadId": "l1", "score": -1 } }),
        )
        .await;
    let body = assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "schema_violation",
    )
    .await;
    assert_eq!(body["error"]["details"]["pointer"], "/data/score");
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn builtin_names_cannot_be_redefined_and_bad_schemas_are_refused() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.create_tenant("acme").await;
    let schema = json!({ "schema": lead_schema() });
    assert_error(
        define(&app, &tenant.key, "email.sent", &schema).await,
        StatusCode::CONFLICT,
        "event_type_reserved",
    )
    .await;
    assert_error(
        define(&app, &tenant.key, "webhook.ping", &schema).await,
        StatusCode::CONFLICT,
        "event_type_reserved",
    )
    .await;
    let cases = [
        ("Lead.Scored", schema.clone(), "invalid_event_type"),
        (
            "lead.scored",
            json!({ "schema": { "type": "no-such-type" } }),
            "invalid_schema",
        ),
        (
            "lead.scored",
            json!({ "schema": { "$schema": "https://example.com/s" } }),
            "invalid_schema",
        ),
        ("lead.scored", json!({ "schema": [] }), "invalid_schema"),
        (
            "lead.scored",
            json!({ "schema": lead_schema(), "extra": 1 }),
            "invalid_body",
        ),
        ("lead.scored", json!({}), "invalid_body"),
    ];
    for (name, body, code) in cases {
        assert_error(
            define(&app, &tenant.key, name, &body).await,
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
    }
    let catalog: Value = app
        .get(&tenant.key, "/v1/event-types")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        catalog["data"].as_array().unwrap().len(),
        seqhook::domain::event::BUILTIN_TYPES.len(),
        "nothing was defined"
    );
    app.stop().await;
    db.drop().await;
}

/// A tenant that defined `email.opened` before seqhook built it in keeps its own: its
/// appends are checked as they were, and it may still change it; other tenants get the
/// built-in.
#[tokio::test]
async fn a_tenants_own_type_from_before_the_name_was_built_in_keeps_precedence() {
    use seqhook::domain::event::EventType;
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    let other = app.tenant_with_identity("bob").await;
    // Written below the API, which no longer lets a tenant define a built-in name.
    let store = crate::it::store::open(&db).await;
    let name = EventType::parse("email.opened").unwrap();
    let theirs = json!({ "type": "object", "required": ["pixel"] });
    store
        .upsert_event_type(tenant.id.parse().unwrap(), &name, "Our opens", &theirs)
        .await
        .unwrap();

    let ok = app
        .append(
            &tenant.key,
            "alice",
            &json!({ "type": "email.opened", "data": { "pixel": "p1" } }),
        )
        .await;
    assert_eq!(
        ok.status(),
        StatusCode::CREATED,
        "checked against the tenant's own schema"
    );
    let refused = app
        .append(
            &tenant.key,
            "alice",
            &json!({ "type": "email.opened", "data": {} }),
        )
        .await;
    assert_error(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "schema_violation",
    )
    .await;
    let catalog: Value = app
        .get(&tenant.key, "/v1/event-types")
        .await
        .json()
        .await
        .unwrap();
    let opened: Vec<&Value> = catalog["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["name"] == "email.opened")
        .collect();
    assert_eq!(opened.len(), 1, "listed once: {opened:?}");
    assert_eq!(opened[0]["description"], "Our opens");
    let changed = app
        .client
        .put(app.url("/v1/event-types/email.opened"))
        .bearer_auth(&tenant.key)
        .json(&json!({ "description": "Our opens, v2", "schema": theirs }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);

    let built_in = app
        .append(
            &other.key,
            "bob",
            &json!({ "type": "email.opened", "data": { "pixel": "p1" } }),
        )
        .await;
    assert_error(
        built_in,
        StatusCode::UNPROCESSABLE_ENTITY,
        "schema_violation",
    )
    .await;
    let reserved = app
        .client
        .put(app.url("/v1/event-types/email.opened"))
        .bearer_auth(&other.key)
        .json(&json!({ "description": "Mine", "schema": theirs }))
        .send()
        .await
        .unwrap();
    assert_eq!(reserved.status(), StatusCode::CONFLICT);
    app.stop().await;
    db.drop().await;
}
