//! Request shapes the derives cannot state: a choice between shapes (one event or a batch,
//! an unbound or a bound key), the built-in event types' data, and the fields the services
//! check by hand. The document must allow nothing the server refuses: each shape here is
//! what the matching parser accepts, or a little less.

use serde_json::{Value, json};
use utoipa::PartialSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Ref, Schema};

use crate::domain::description::MAX_DESCRIPTION;
use crate::domain::dialect::SignatureDialect;
use crate::domain::event::EventType;
use crate::domain::identity::IdentityHandle;
use crate::domain::key::KEY_NAME_PATTERN;
use crate::domain::secret::SigningSecret;
use crate::domain::source::{
    BASIC_AUTH_PATTERN, IDENTITY_PATTERN, IDENTITY_WITHOUT_SENDER_PATTERN, PUBLIC_KEY_PATTERN,
    SHARED_SECRET_PATTERN,
};
use crate::domain::tenant::MAX_NAME;
use crate::domain::webhook::EventFilter;
use crate::log::schema::BUILTIN;
use crate::webhooks::rules::MAX_IDENTITIES;

const NO_NUL: &str = "^[^\\x00]*$";

/// The shapes, as components of the document by name. They are JSON Schema written out
/// (the document's model has no word for some of their keywords): `openapi::render` puts
/// them in the document, and the functions below give the derives references to them.
pub fn components() -> Vec<(&'static str, Value)> {
    vec![
        ("Description", description_json()),
        ("OptionalDescription", nullable(description_json())),
        ("KeyName", key_name_json()),
        ("EventFilter", event_filter_json()),
        ("IdentityFilter", identity_filter_json()),
        ("NewApiKey", create_key_json()),
        ("NewEvent", new_event_json()),
        ("EventTypeSchema", json_schema_json()),
        ("SignatureDialect", SignatureDialect::schema_json()),
        ("NewSource", create_source_json()),
    ]
}

fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn as_json(schema: RefOr<Schema>) -> Value {
    serde_json::to_value(schema).expect("a schema serialises")
}

fn nullable(mut schema: Value) -> Value {
    schema["type"] = json!([schema["type"], "null"]);
    schema
}

fn description_json() -> Value {
    json!({ "type": "string", "maxLength": MAX_DESCRIPTION, "pattern": NO_NUL })
}

/// A description: at most 1,000 characters, with no NUL.
pub fn description() -> RefOr<Schema> {
    reference("Description")
}

/// As `description`, or null.
pub fn optional_description() -> RefOr<Schema> {
    reference("OptionalDescription")
}

/// A key's name, or null.
fn key_name_json() -> Value {
    json!({
        "type": ["string", "null"], "maxLength": MAX_NAME, "pattern": KEY_NAME_PATTERN,
        "example": "inbox agent",
    })
}

/// A webhook's `events`: type names and `prefix.*` patterns, at least one; null for all.
pub fn event_filter() -> RefOr<Schema> {
    reference("EventFilter")
}

fn event_filter_json() -> Value {
    json!({
        "type": ["array", "null"],
        "minItems": 1,
        "items": {
            "type": "string",
            "pattern": EventFilter::ENTRY_PATTERN,
            "maxLength": EventType::MAX_LEN,
        },
        "description": "Event type names, `prefix.*` patterns or `*`; null (or left out) for every type.",
        "example": ["email.replied", "mailbox.*"],
    })
}

/// A webhook's `identities`: 1 to 1,000 handles; null for all.
pub fn identity_filter() -> RefOr<Schema> {
    reference("IdentityFilter")
}

fn identity_filter_json() -> Value {
    json!({
        "type": ["array", "null"],
        "minItems": 1,
        "maxItems": MAX_IDENTITIES,
        "items": as_json(IdentityHandle::schema()),
        "description": "Handles; null (or left out) for every identity.",
    })
}

/// `POST /v1/api-keys`: an unbound key with any scopes, or a key bound to one identity
/// with event scopes only.
pub fn create_key() -> RefOr<Schema> {
    reference("NewApiKey")
}

fn create_key_json() -> Value {
    let scope = json!({ "$ref": "#/components/schemas/Scope" });
    let event_scope = json!({ "type": "string", "enum": ["events:read", "events:write"] });
    let shape = |scope: Value, identity: Value, required: Value| {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": required,
            "properties": {
                "scopes": { "type": "array", "minItems": 1, "items": scope },
                "identity": identity,
                "name": key_name_json(),
            },
        })
    };
    json!({
        "oneOf": [
            shape(scope, json!({ "type": "null" }), json!(["scopes"])),
            shape(
                event_scope,
                as_json(IdentityHandle::schema()),
                json!(["scopes", "identity"]),
            ),
        ],
        "description": "A key holds its `scopes`; one bound to an `identity` reaches only that \
            identity and holds only `events:read` and `events:write`.",
    })
}

/// A source to register: one shape per provider, each with the credential it takes.
pub fn create_source() -> RefOr<Schema> {
    reference("NewSource")
}

fn create_source_json() -> Value {
    let text = |pattern: &str| json!({ "type": ["string", "null"], "pattern": pattern });
    let shape = |provider: &str, credentials: Value, required: &[&str], identity: &str| {
        let mut properties = json!({
            "provider": { "const": provider },
            "identity": text(identity),
            "description": { "$ref": "#/components/schemas/OptionalDescription" },
        });
        for (name, schema) in credentials.as_object().expect("an object") {
            properties[name] = schema.clone();
        }
        let mut required = required.to_vec();
        required.push("provider");
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": required,
            "properties": properties,
        })
    };
    let secret = |pattern: &str| json!({ "type": "string", "pattern": pattern });
    json!({
        "oneOf": [
            shape("resend", json!({ "secret": secret(SigningSecret::PATTERN) }), &["secret"], IDENTITY_PATTERN),
            shape("sendgrid", json!({ "publicKey": secret(PUBLIC_KEY_PATTERN) }), &["publicKey"], IDENTITY_WITHOUT_SENDER_PATTERN),
            shape("mailgun", json!({ "secret": secret(SHARED_SECRET_PATTERN) }), &["secret"], IDENTITY_PATTERN),
            shape("postmark", json!({ "username": text(BASIC_AUTH_PATTERN), "password": text(BASIC_AUTH_PATTERN) }), &[], IDENTITY_PATTERN),
            shape("generic", json!({ "secret": text(SHARED_SECRET_PATTERN) }), &[], IDENTITY_WITHOUT_SENDER_PATTERN),
        ],
        "description": "A provider, the credential its posts are checked with, and where each \
            event's identity is (`recipient` by default, `sender`, or a JSON pointer into the \
            provider's event).",
    })
}

/// One event to append, of a built-in type with its data's schema; tenants' own types are
/// accepted too (`PUT /v1/event-types/{type}`), with data checked against their schemas.
pub fn new_event() -> RefOr<Schema> {
    reference("NewEvent")
}

fn new_event_json() -> Value {
    let variants: Vec<Value> = BUILTIN
        .iter()
        .map(|(name, schema)| {
            json!({
                "type": "object",
                "title": name,
                "additionalProperties": false,
                "required": ["type", "data"],
                "properties": {
                    "type": { "type": "string", "const": name },
                    "data": inline_definitions(&schema.schema),
                    "id": {
                        "anyOf": [
                            { "$ref": "#/components/schemas/EventId" },
                            { "type": "null" },
                        ],
                        "description": "The client's own id, which makes a re-send idempotent.",
                    },
                },
            })
        })
        .collect();
    json!({
        "oneOf": variants,
        "description": "An event of a built-in type, its `data` matching the type's schema. A \
            tenant's own types (`PUT /v1/event-types/{type}`) are accepted as well.",
    })
}

/// A built-in schema made to stand inside another document: its local `$defs` written in
/// place (they are not recursive), and the keywords that only a document root may hold
/// removed.
fn inline_definitions(schema: &Value) -> Value {
    fn resolve(value: &Value, definitions: &Value) -> Value {
        match value {
            Value::Object(fields) => {
                let reference = fields
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|reference| reference.strip_prefix("#/$defs/"));
                if let Some(definition) = reference.and_then(|name| definitions.get(name)) {
                    return resolve(definition, definitions);
                }
                fields
                    .iter()
                    .filter(|(key, _)| !matches!(key.as_str(), "$schema" | "$defs" | "$id"))
                    .map(|(key, value)| (key.clone(), resolve(value, definitions)))
                    .collect()
            }
            Value::Array(items) => items
                .iter()
                .map(|item| resolve(item, definitions))
                .collect(),
            other => other.clone(),
        }
    }
    resolve(schema, schema.get("$defs").unwrap_or(&Value::Null))
}

/// A tenant's own event type's schema, as the document describes it: the common keywords of
/// an object schema. The server takes any JSON Schema (draft 4 to 2020-12) that compiles.
pub fn json_schema() -> RefOr<Schema> {
    reference("EventTypeSchema")
}

fn json_schema_json() -> Value {
    let property = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "type": { "enum": ["string", "number", "integer", "boolean", "object", "array", "null"] },
            "description": { "type": "string", "pattern": NO_NUL },
            "minimum": { "type": "number" },
            "maximum": { "type": "number" },
            "minLength": { "type": "integer", "minimum": 0 },
            "maxLength": { "type": "integer", "minimum": 0 },
        },
    });
    let name = json!({ "type": "string", "pattern": NO_NUL });
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "type": { "const": "object" },
            "title": { "type": "string", "pattern": NO_NUL },
            "description": { "type": "string", "pattern": NO_NUL },
            "required": { "type": "array", "uniqueItems": true, "items": name },
            "properties": {
                "type": "object",
                "propertyNames": { "pattern": NO_NUL },
                "additionalProperties": property,
            },
            "additionalProperties": { "type": "boolean" },
        },
        "description": "A JSON Schema (draft 4 to 2020-12) for the events' `data`: any schema \
            that compiles, with no NUL in it. The keywords shown are the common ones.",
        "example": { "type": "object", "required": ["leadId"] },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_is_a_json_schema() {
        for (name, shape) in components() {
            // References to other components cannot resolve outside the document; the
            // document's own test resolves them.
            let standalone = shape
                .to_string()
                .replace("#/components/schemas/", "#/$defs/");
            let standalone: Value = serde_json::from_str(&standalone).unwrap();
            assert!(
                jsonschema::meta::validate(&standalone).is_ok(),
                "{name}: {standalone}"
            );
        }
    }

    #[test]
    fn built_in_data_schemas_are_inlined_whole() {
        let schema = &BUILTIN["email.sent"].schema;
        let inlined = inline_definitions(schema);
        let text = inlined.to_string();
        assert!(!text.contains("$defs") && !text.contains("$ref"), "{text}");
        assert_eq!(
            inlined["properties"]["message"]["required"],
            schema["$defs"]["message"]["required"]
        );
    }
}
