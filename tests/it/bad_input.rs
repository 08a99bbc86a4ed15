//! Every bad input gets its 4xx in the API's error format, and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, TestApp, TestDatabase, assert_error, no_reply};

enum Body {
    None,
    Json(Value),
    Raw(&'static str),
    Bytes(Vec<u8>),
}

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    key: Option<String>,
    body: Body,
    status: StatusCode,
    code: &'static str,
}

/// Everything a bad request could have written, counted.
async fn snapshot(pool: &sqlx::AnyPool) -> Vec<i64> {
    let counts: (i64, i64, i64, i64, i64, i64, i64, String) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM api_keys WHERE revoked_at IS NULL),
                (SELECT count(*) FROM identities), (SELECT CAST(coalesce(sum(head_seq), 0) AS BIGINT) FROM identities),
                (SELECT count(*) FROM events), (SELECT count(*) FROM event_types),
                (SELECT count(*) FROM webhooks),
                (SELECT coalesce(max(description), '') FROM webhooks)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    vec![
        counts.0,
        counts.1,
        counts.2,
        counts.3,
        counts.4,
        counts.5,
        counts.6,
        counts.7.len() as i64,
    ]
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let tenant = app.tenant_with_identity("alice").await;
    app.append_ok(&tenant.key, "alice", &no_reply(1)).await;
    let reader: Value = app
        .client
        .post(app.url("/v1/api-keys"))
        .bearer_auth(&tenant.key)
        .json(&json!({ "scopes": ["events:read"], "identity": "alice" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reader = reader["key"].as_str().unwrap().to_owned();
    let other = app.tenant_with_identity("bob").await;
    let pool = db.pool().await;

    let key = Some(tenant.key.clone());
    let events = "/v1/identities/alice/events".to_owned();
    let mut wrong_enum = crate::support::email_sent(1);
    wrong_enum["data"]["message"]["from"] = json!(42);
    let mut bad_id = no_reply(1);
    bad_id["id"] = json!("evt_not-a-ulid");
    let id = format!("evt_{}", ulid::Ulid::new());
    let mut same_id = no_reply(1);
    same_id["id"] = json!(id);
    let webhook = app
        .create_webhook(
            &tenant.key,
            &json!({ "url": "https://example.com/hook", "description": "kept" }),
        )
        .await;
    let webhook_path = format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap());
    let deliveries = format!("{webhook_path}/deliveries");
    // `data` deeper than a JSON value may nest, sent whole; the body parser passes it by.
    let nested = |depth: usize, wrap: &dyn Fn(String) -> String| {
        let data = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        wrap(data).into_bytes()
    };
    let single = |data: String| format!(r#"{{"type": "email.no_reply", "data": {data}}}"#);
    let batched =
        |data: String| format!(r#"{{"events": [{{"type": "email.no_reply", "data": {data}}}]}}"#);
    let case = |name, method: Method, path: &str, key: &Option<String>, body, status, code| Case {
        name,
        method,
        path: path.to_owned(),
        key: key.clone(),
        body,
        status,
        code,
    };
    let post = Method::POST;
    let get = Method::GET;
    let cases = vec![
        case(
            "malformed json",
            post.clone(),
            &events,
            &key,
            Body::Raw("{\"type\": "),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        case(
            "not an object",
            post.clone(),
            &events,
            &key,
            Body::Raw("[1,2]"),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "unknown field",
            post.clone(),
            &events,
            &key,
            Body::Json(json!({ "type": "email.no_reply", "data": {}, "colour": "red" })),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "missing type",
            post.clone(),
            &events,
            &key,
            Body::Json(json!({ "data": {} })),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "type of wrong type",
            post.clone(),
            &events,
            &key,
            Body::Json(json!({ "type": 7, "data": {} })),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "data not an object",
            post.clone(),
            &events,
            &key,
            Body::Json(json!({ "type": "email.no_reply", "data": [1] })),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "malformed client id",
            post.clone(),
            &events,
            &key,
            Body::Json(bad_id),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "data nested 200 deep",
            post.clone(),
            &events,
            &key,
            Body::Bytes(nested(200, &single)),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "data nested 100,000 deep",
            post.clone(),
            &events,
            &key,
            Body::Bytes(nested(100_000, &single)),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "batched data nested 128 deep",
            post.clone(),
            &events,
            &key,
            Body::Bytes(nested(128, &batched)),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "data with a lone surrogate",
            post.clone(),
            &events,
            &key,
            Body::Raw(
                r#"{"type": "email.no_reply", "data": {"convId": "\ud800", "identity": "a", "afterMessageId": "<m>", "waitedMs": 1}}"#,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "data with a number out of range",
            post.clone(),
            &events,
            &key,
            Body::Raw(
                r#"{"type": "email.no_reply", "data": {"convId": "c", "identity": "a", "afterMessageId": "<m>", "waitedMs": 1e400}}"#,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "unknown event type",
            post.clone(),
            &events,
            &key,
            Body::Json(json!({ "type": "email.teleported", "data": {} })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_event_type",
        ),
        case(
            "schema violation",
            post.clone(),
            &events,
            &key,
            Body::Json(wrong_enum),
            StatusCode::UNPROCESSABLE_ENTITY,
            "schema_violation",
        ),
        case(
            "empty batch",
            post.clone(),
            &events,
            &key,
            Body::Json(json!({ "events": [] })),
            StatusCode::BAD_REQUEST,
            "empty_batch",
        ),
        case(
            "batch over 1,000",
            post.clone(),
            &events,
            &key,
            Body::Json(json!({ "events": vec![no_reply(1); 1001] })),
            StatusCode::BAD_REQUEST,
            "batch_too_large",
        ),
        case(
            "id twice in a batch",
            post.clone(),
            &events,
            &key,
            Body::Json(json!({ "events": [same_id.clone(), same_id] })),
            StatusCode::BAD_REQUEST,
            "duplicate_event_id",
        ),
        case(
            "batch with unknown field",
            post.clone(),
            &events,
            &key,
            Body::Json(json!({ "events": [no_reply(1)], "atomic": true })),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "body over the limit",
            post.clone(),
            &events,
            &key,
            Body::Bytes(vec![b' '; 1024 * 1024 + 1]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        case(
            "encoded slash in handle",
            post.clone(),
            "/v1/identities/..%2Fx/events",
            &key,
            Body::Json(no_reply(1)),
            StatusCode::BAD_REQUEST,
            "invalid_handle",
        ),
        case(
            "dots-only handle",
            Method::PUT,
            "/v1/identities/...",
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_handle",
        ),
        case(
            "handle with a space",
            Method::PUT,
            "/v1/identities/a%20b",
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_handle",
        ),
        case(
            "handle too long",
            Method::PUT,
            &format!("/v1/identities/{}", "x".repeat(256)),
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_handle",
        ),
        case(
            "identity body with fields",
            Method::PUT,
            "/v1/identities/carol",
            &key,
            Body::Json(json!({ "name": "Carol" })),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "unknown identity",
            post.clone(),
            "/v1/identities/nobody/events",
            &key,
            Body::Json(no_reply(1)),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        case(
            "other tenant's identity",
            post.clone(),
            "/v1/identities/bob/events",
            &key,
            Body::Json(no_reply(1)),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        case(
            "other tenant appends to ours",
            post.clone(),
            &events,
            &Some(other.key.clone()),
            Body::Json(no_reply(1)),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        case(
            "no key",
            post.clone(),
            &events,
            &None,
            Body::Json(no_reply(1)),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        case(
            "unknown key",
            post.clone(),
            &events,
            &Some("shk_nope".into()),
            Body::Json(no_reply(1)),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        case(
            "read-only key writes",
            post.clone(),
            &events,
            &Some(reader.clone()),
            Body::Json(no_reply(1)),
            StatusCode::FORBIDDEN,
            "missing_scope",
        ),
        case(
            "negative since",
            get.clone(),
            &format!("{events}?since=-1"),
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_since",
        ),
        case(
            "since not a number",
            get.clone(),
            &format!("{events}?since=abc"),
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        case(
            "since past the head",
            get.clone(),
            &format!("{events}?since=9"),
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "since_beyond_head",
        ),
        case(
            "limit zero",
            get.clone(),
            &format!("{events}?limit=0"),
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        case(
            "limit over 1,000",
            get.clone(),
            &format!("{events}?limit=1001"),
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        case(
            "huge limit",
            get.clone(),
            &format!("{events}?limit=99999999999999999999"),
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        case(
            "wait over the maximum",
            get.clone(),
            &format!("{events}?wait=26"),
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_wait",
        ),
        case(
            "malformed types",
            get.clone(),
            &format!("{events}?types=Email.Sent"),
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_types",
        ),
        case(
            "list limit too big",
            get.clone(),
            "/v1/identities?limit=5000",
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        case(
            "list cursor forged",
            get.clone(),
            "/v1/identities?after=%%%",
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        case(
            "tenant without name",
            post.clone(),
            "/v1/admin/tenants",
            &Some(ADMIN_TOKEN.into()),
            Body::Json(json!({})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "tenant blank name",
            post.clone(),
            "/v1/admin/tenants",
            &Some(ADMIN_TOKEN.into()),
            Body::Json(json!({ "name": "  " })),
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
        case(
            "tenant unknown field",
            post.clone(),
            "/v1/admin/tenants",
            &Some(ADMIN_TOKEN.into()),
            Body::Json(json!({ "name": "x", "plan": "pro" })),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        case(
            "key with unknown scope",
            post.clone(),
            "/v1/api-keys",
            &key,
            Body::Json(json!({ "scopes": ["root"] })),
            StatusCode::BAD_REQUEST,
            "invalid_scopes",
        ),
        case(
            "key with no scopes",
            post.clone(),
            "/v1/api-keys",
            &key,
            Body::Json(json!({ "scopes": [] })),
            StatusCode::BAD_REQUEST,
            "invalid_scopes",
        ),
        case(
            "bound key with admin",
            post.clone(),
            "/v1/api-keys",
            &key,
            Body::Json(json!({ "scopes": ["admin"], "identity": "alice" })),
            StatusCode::BAD_REQUEST,
            "invalid_scopes",
        ),
        case(
            "key bound to a bad handle",
            post.clone(),
            "/v1/api-keys",
            &key,
            Body::Json(json!({ "scopes": ["events:read"], "identity": "a/b" })),
            StatusCode::BAD_REQUEST,
            "invalid_handle",
        ),
        case(
            "key name with a NUL",
            post.clone(),
            "/v1/api-keys",
            &key,
            Body::Json(json!({ "scopes": ["events:read"], "name": "agent\u{0}" })),
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
        case(
            "tenant name with a NUL",
            post.clone(),
            "/v1/admin/tenants",
            &Some(ADMIN_TOKEN.into()),
            Body::Json(json!({ "name": "acme\u{0}" })),
            StatusCode::BAD_REQUEST,
            "invalid_name",
        ),
        case(
            "webhook description with a NUL",
            post.clone(),
            "/v1/webhooks",
            &key,
            Body::Json(json!({ "url": "https://example.com/h", "description": "a\u{0}b" })),
            StatusCode::BAD_REQUEST,
            "invalid_description",
        ),
        case(
            "webhook description changed to one with a NUL",
            Method::PATCH,
            &webhook_path,
            &key,
            Body::Json(json!({ "description": "\u{0}" })),
            StatusCode::BAD_REQUEST,
            "invalid_description",
        ),
        case(
            "event type description with a NUL",
            Method::PUT,
            "/v1/event-types/lead.created",
            &key,
            Body::Json(json!({ "description": "a\u{0}", "schema": { "type": "object" } })),
            StatusCode::BAD_REQUEST,
            "invalid_description",
        ),
        case(
            "schema key with a NUL",
            Method::PUT,
            "/v1/event-types/lead.created",
            &key,
            Body::Json(json!({ "schema": { "type": "object", "properties": { "a\u{0}b": {} } } })),
            StatusCode::BAD_REQUEST,
            "invalid_schema",
        ),
        case(
            "schema string with a NUL",
            Method::PUT,
            "/v1/event-types/lead.created",
            &key,
            Body::Json(json!({ "schema": { "type": "object", "title": "\u{0}" } })),
            StatusCode::BAD_REQUEST,
            "invalid_schema",
        ),
        case(
            "webhook URL with CR LF",
            post.clone(),
            "/v1/webhooks",
            &key,
            Body::Json(json!({ "url": "https://example.com/a\r\nX-Injected: 1" })),
            StatusCode::BAD_REQUEST,
            "invalid_url",
        ),
        case(
            "webhook URL with a NUL",
            post.clone(),
            "/v1/webhooks",
            &key,
            Body::Json(json!({ "url": "https://example.com/a\u{0}" })),
            StatusCode::BAD_REQUEST,
            "invalid_url",
        ),
        case(
            "webhook URL with a tab",
            post.clone(),
            "/v1/webhooks",
            &key,
            Body::Json(json!({ "url": "https://exam\tple.com/" })),
            StatusCode::BAD_REQUEST,
            "invalid_url",
        ),
        case(
            "webhook URL with a leading space",
            post.clone(),
            "/v1/webhooks",
            &key,
            Body::Json(json!({ "url": " https://example.com/" })),
            StatusCode::BAD_REQUEST,
            "invalid_url",
        ),
        case(
            "webhook URL changed to one with CR LF",
            Method::PATCH,
            &webhook_path,
            &key,
            Body::Json(json!({ "url": "https://example.com/\r\n" })),
            StatusCode::BAD_REQUEST,
            "invalid_url",
        ),
        case(
            "delivery log limit zero",
            get.clone(),
            &format!("{deliveries}?limit=0"),
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        case(
            "delivery log limit not a number",
            get.clone(),
            &format!("{deliveries}?limit=ten"),
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        case(
            "delivery log unknown status",
            get.clone(),
            &format!("{deliveries}?status=lost"),
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_status",
        ),
        case(
            "delivery log forged cursor",
            get.clone(),
            &format!("{deliveries}?after=forged"),
            &key,
            Body::None,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        case(
            "revoke unknown key",
            Method::DELETE,
            &format!("/v1/api-keys/key_{}", ulid::Ulid::new()),
            &key,
            Body::None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        case(
            "revoke malformed key id",
            Method::DELETE,
            "/v1/api-keys/nope",
            &key,
            Body::None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        case(
            "unknown route",
            get.clone(),
            "/v1/nothing",
            &key,
            Body::None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        case(
            "wrong method",
            Method::DELETE,
            "/v1/identities/alice/events",
            &key,
            Body::None,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];

    for case in cases {
        let before = snapshot(&pool).await;
        let mut request = app.client.request(case.method.clone(), app.url(&case.path));
        if let Some(key) = &case.key {
            request = request.bearer_auth(key);
        }
        request = match case.body {
            Body::None => request,
            Body::Json(body) => request.json(&body),
            Body::Raw(text) => request
                .header("content-type", "application/json")
                .body(text),
            Body::Bytes(bytes) => request
                .header("content-type", "application/json")
                .body(bytes),
        };
        let response = request.send().await.unwrap();
        let actual = response.status();
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|_| panic!("{}: the error body is JSON", case.name));
        assert_eq!(actual, case.status, "{}: {body}", case.name);
        assert_eq!(body["error"]["code"], case.code, "{}: {body}", case.name);
        assert_eq!(
            snapshot(&pool).await,
            before,
            "{}: nothing changed",
            case.name
        );
    }
    // The state the bad requests left is still whole and readable.
    let page = app.pull_ok(&tenant.key, "alice", "").await;
    assert_eq!(page["cursor"], 1);
    assert_error(
        app.pull(&other.key, "alice", "").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    pool.close().await;
    app.stop().await;
    db.drop().await;
}
