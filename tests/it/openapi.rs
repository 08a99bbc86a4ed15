//! `GET /openapi.json`: every route the router serves is documented, and the document hangs
//! together.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

use crate::support::{TestApp, TestDatabase};

/// Every route the router serves, copied from `src/http/mod.rs`: a route added there without
/// an annotation fails here.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/v1/stats"),
    ("post", "/v1/admin/tenants"),
    ("put", "/v1/admin/tenants/{id}/retention"),
    ("post", "/v1/api-keys"),
    ("get", "/v1/api-keys"),
    ("delete", "/v1/api-keys/{id}"),
    ("get", "/v1/identities"),
    ("put", "/v1/identities/{handle}"),
    ("get", "/v1/identities/{handle}"),
    ("delete", "/v1/identities/{handle}"),
    ("post", "/v1/identities/{handle}/events/{id}/redact"),
    ("post", "/v1/identities/{handle}/events"),
    ("get", "/v1/identities/{handle}/events"),
    ("get", "/v1/identities/{handle}/events/stream"),
    ("get", "/v1/identities/{handle}/events/ws"),
    ("get", "/v1/event-types"),
    ("put", "/v1/event-types/{type}"),
    ("get", "/v1/event-types/{type}"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks"),
    ("get", "/v1/webhooks/{id}"),
    ("patch", "/v1/webhooks/{id}"),
    ("delete", "/v1/webhooks/{id}"),
    ("get", "/v1/webhooks/{id}/secret"),
    ("post", "/v1/webhooks/{id}/secrets/rotate"),
    ("get", "/v1/webhooks/{id}/deliveries"),
    ("post", "/v1/webhooks/{id}/replay"),
    ("post", "/v1/webhooks/{id}/ping"),
    ("post", "/v1/sources"),
    ("get", "/v1/sources"),
    ("get", "/v1/sources/{id}"),
    ("delete", "/v1/sources/{id}"),
    ("get", "/v1/sources/{id}/refusals"),
    ("post", "/v1/ingest/{id}"),
    ("get", "/v1/deliveries/{id}"),
    ("post", "/v1/deliveries/{id}/retry"),
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[tokio::test]
async fn the_document_describes_every_route_and_its_references_resolve() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = response.json().await.unwrap();
    app.stop().await;
    db.drop().await;

    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "seqhook");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(move |method| item.get(**method).is_some())
                .map(move |method| (method.to_string(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        extra.is_empty(),
        "documented routes the router does not serve: {extra:?}"
    );

    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    for scheme in ["apiKey", "adminToken"] {
        assert_eq!(schemes[scheme]["type"], "http", "{scheme}");
        assert_eq!(schemes[scheme]["scheme"], "bearer", "{scheme}");
    }

    let mut operation_ids = BTreeSet::new();
    for (method, path) in &served {
        let operation = &doc["paths"][path][method];
        let at = format!("{} {path}", method.to_uppercase());
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: operationId"));
        assert!(
            operation_ids.insert(id.to_owned()),
            "{at}: operationId {id} is not unique"
        );
        let responses = operation["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{at}: responses"));
        assert!(
            // A WebSocket's success is the switch of protocols.
            responses
                .keys()
                .any(|status| status.starts_with('2') || status == "101"),
            "{at}: no success response"
        );
        let takes_input = operation["requestBody"].is_object()
            || operation["parameters"]
                .as_array()
                .is_some_and(|parameters| !parameters.is_empty());
        if takes_input {
            assert!(
                responses.keys().any(|status| status.starts_with('4')),
                "{at}: takes input but declares no 4xx response"
            );
        }
        for requirement in operation["security"].as_array().into_iter().flatten() {
            for name in requirement.as_object().expect("requirement").keys() {
                assert!(
                    schemes.contains_key(name),
                    "{at}: unknown security scheme {name}"
                );
            }
        }
    }
    let admin = &doc["paths"]["/v1/admin/tenants"]["post"]["security"];
    assert_eq!(admin[0]["adminToken"], serde_json::json!([]));
    let keyed = &doc["paths"]["/v1/identities/{handle}/events"]["post"]["security"];
    assert_eq!(keyed[0]["apiKey"], serde_json::json!([]));

    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("component schemas");
    let error = &schemas["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error"]), "{error}");
    let envelope = &schemas["Envelope"];
    for field in ["id", "seq", "type", "identity", "createdAt", "data"] {
        assert!(
            envelope["properties"].get(field).is_some(),
            "Envelope.{field}: {envelope}"
        );
    }
    let append = &doc["paths"]["/v1/identities/{handle}/events"]["post"];
    assert_eq!(
        append["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );

    let mut references = Vec::new();
    collect_refs(&doc, &mut references);
    assert!(!references.is_empty());
    for reference in &references {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference} is not local to the document"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
    assert!(
        references
            .iter()
            .any(|reference| reference == "#/components/schemas/Envelope")
    );
}

fn collect_refs(value: &Value, references: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, value) in object {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => references.push(reference.clone()),
                    _ => collect_refs(value, references),
                }
            }
        }
        Value::Array(values) => {
            for value in values {
                collect_refs(value, references);
            }
        }
        _ => {}
    }
}
