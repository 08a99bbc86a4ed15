//! Events: the type names, the built-in JSON Schemas shipped in the binary, and the shapes an
//! event takes on its way in (`NewEvent`) and out (`StoredEvent`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::cursor::Seq;
use super::identity::IdentityHandle;
use crate::id::EventId;

/// An event type name such as `email.replied`: dot-separated segments of lower-case
/// letters, digits, `_` and `-`. No `*`, so webhook filters can use it as a prefix wildcard.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EventType(String);

#[derive(Debug, thiserror::Error)]
#[error("an event type is 1 to 128 characters: dot-separated segments of a-z, 0-9, `_` and `-`")]
pub struct InvalidEventType;

impl EventType {
    /// What `parse` accepts, as the API document states it (with at most 128 characters).
    pub const PATTERN: &str = "^[a-z0-9_-]+(\\.[a-z0-9_-]+)*$";
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, InvalidEventType> {
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        };
        if raw.len() > Self::MAX_LEN || !raw.split('.').all(segment_ok) {
            return Err(InvalidEventType);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_builtin(&self) -> bool {
        BUILTIN.contains_key(self.as_str())
    }

    /// Names no tenant may define: the built-ins and the service's own `webhook.*` events.
    pub fn is_reserved(&self) -> bool {
        self.is_builtin() || self.0.starts_with("webhook.")
    }
}

impl utoipa::PartialSchema for EventType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::text(Self::PATTERN, 1..=Self::MAX_LEN, "email.replied").into()
    }
}

impl utoipa::ToSchema for EventType {}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event accepted for appending: typed, schema-checked, with its final id.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub id: EventId,
    /// Whether the client chose the id, which makes a re-send idempotent.
    pub client_id: bool,
    pub event_type: EventType,
    pub data: Box<RawValue>,
}

/// An event as the log holds it. `data` stays raw JSON: a page of 1,000 events is copied
/// out, not parsed and re-serialised.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub id: EventId,
    pub seq: Seq,
    pub event_type: String,
    pub data: Box<RawValue>,
    pub created_at: DateTime<Utc>,
}

impl StoredEvent {
    /// Whether a re-sent event is the same as this one (the idempotent case) rather than a
    /// different event reusing its id (a conflict).
    pub fn same_content_as(&self, new: &NewEvent) -> bool {
        self.event_type == new.event_type.as_str()
            && serde_json::from_str::<Value>(self.data.get()).is_ok_and(|data| {
                serde_json::from_str::<Value>(new.data.get()).is_ok_and(|new| new == data)
            })
    }
}

/// The envelope, identical on pull, stream and push.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<'a> {
    id: EventId,
    seq: Seq,
    #[serde(rename = "type")]
    #[schema(example = "email.replied")]
    event_type: &'a str,
    identity: &'a IdentityHandle,
    #[schema(format = DateTime, example = "2026-04-27T11:55:29.000Z")]
    created_at: String,
    #[schema(value_type = Object)]
    data: &'a RawValue,
}

impl<'a> Envelope<'a> {
    pub fn new(event: &'a StoredEvent, identity: &'a IdentityHandle) -> Self {
        Self {
            id: event.id,
            seq: event.seq,
            event_type: &event.event_type,
            identity,
            created_at: crate::timestamp::format(&event.created_at),
            data: &event.data,
        }
    }
}

/// One schema failure, located by a JSON pointer into the validated document.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaViolation {
    pub pointer: String,
    pub message: String,
}

/// A compiled schema with the text it came from.
pub struct EventSchema {
    pub description: String,
    pub schema: Value,
    validator: Validator,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid JSON Schema: {0}")]
pub struct InvalidSchema(pub String);

impl EventSchema {
    pub fn compile(description: String, schema: Value) -> Result<Self, InvalidSchema> {
        // Only the drafts the validator bundles can be checked; a custom `$schema` would
        // make the meta-schema check itself fail.
        if let Some(uri) = schema.get("$schema") {
            const DRAFTS: [&str; 5] = [
                "https://json-schema.org/draft/2020-12/schema",
                "https://json-schema.org/draft/2019-09/schema",
                "http://json-schema.org/draft-07/schema",
                "http://json-schema.org/draft-06/schema",
                "http://json-schema.org/draft-04/schema",
            ];
            let known = uri
                .as_str()
                .is_some_and(|uri| DRAFTS.contains(&uri.trim_end_matches('#')));
            if !known {
                return Err(InvalidSchema(
                    "`$schema` must name a published JSON Schema draft".into(),
                ));
            }
        }
        if !schema.is_object() {
            return Err(InvalidSchema("a schema must be a JSON object".into()));
        }
        // PostgreSQL stores schemas as jsonb, which cannot hold a `\u0000`.
        if holds_nul(&schema) {
            return Err(InvalidSchema(
                "a schema may not hold the NUL character (\\u0000) in any key or string".into(),
            ));
        }
        jsonschema::meta::validate(&schema).map_err(|e| InvalidSchema(e.to_string()))?;
        let validator =
            jsonschema::validator_for(&schema).map_err(|e| InvalidSchema(e.to_string()))?;
        Ok(Self {
            description,
            schema,
            validator,
        })
    }

    /// Every violation of `data`, each pointer prefixed with `at` (where `data` sits in
    /// the request body), so a 422 names the field as the client sent it.
    pub fn violations(&self, data: &Value, at: &str) -> Vec<SchemaViolation> {
        if self.validator.is_valid(data) {
            return Vec::new();
        }
        self.validator
            .iter_errors(data)
            .map(|error| {
                let mut pointer = format!("{at}{}", error.instance_path().as_str());
                if let ValidationErrorKind::Required { property } = error.kind() {
                    if let Some(name) = property.as_str() {
                        pointer.push('/');
                        pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
                    }
                }
                SchemaViolation {
                    pointer,
                    message: error.to_string(),
                }
            })
            .collect()
    }
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// The built-in event types, shipped in the binary. Their schemas follow the vendor
/// documents field for field; `src/log/schemas/` is the contract.
pub static BUILTIN: LazyLock<BTreeMap<&'static str, EventSchema>> = LazyLock::new(|| {
    macro_rules! builtin {
        ($($name:literal),* $(,)?) => {
            [$((
                $name,
                include_str!(concat!("schemas/", $name, ".json")),
            )),*]
        };
    }
    builtin![
        "email.queued",
        "email.sent",
        "email.cancelled",
        "email.received",
        "email.replied",
        "email.no_reply",
        "email.bounced",
        "email.send_failed_permanently",
        "mailbox.replaced",
    ]
    .into_iter()
    .map(|(name, text)| {
        let schema: Value = serde_json::from_str(text).expect("built-in schemas are valid JSON");
        let description = schema["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let compiled = EventSchema::compile(description, schema).expect("built-in schemas compile");
        (name, compiled)
    })
    .collect()
});

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_builtin_schema_compiles() {
        assert_eq!(BUILTIN.len(), 9);
    }

    #[test]
    fn a_missing_required_field_is_named_by_pointer() {
        let schema = &BUILTIN["email.no_reply"];
        let data = serde_json::json!({"convId": "conv_1", "identity": "a", "waitedMs": 1});
        let violations = schema.violations(&data, "/data");
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].pointer, "/data/afterMessageId");
    }

    #[test]
    fn event_type_names_are_checked() {
        for ok in ["email.sent", "lead.created", "a", "x-y.z_1"] {
            assert!(EventType::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Email.sent",
            "email.",
            ".x",
            "email.*",
            "a b",
            &"a".repeat(129),
        ] {
            assert!(EventType::parse(bad).is_err(), "{bad}");
        }
        assert!(EventType::parse("email.sent").unwrap().is_reserved());
        assert!(EventType::parse("webhook.ping").unwrap().is_reserved());
    }

    #[test]
    fn a_schema_with_an_unknown_meta_schema_is_refused_not_panicked_on() {
        let schema = serde_json::json!({"$schema": "https://example.com/mine", "type": "object"});
        assert!(EventSchema::compile(String::new(), schema).is_err());
        let schema = serde_json::json!({"$schema": "https://json-schema.org/draft/2099-01/schema"});
        assert!(EventSchema::compile(String::new(), schema).is_err());
        let schema = serde_json::json!({"type": "no-such-type"});
        assert!(EventSchema::compile(String::new(), schema).is_err());
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_type_names_never_panics(s in "\\PC*") {
            let _ = EventType::parse(&s);
        }

        /// The document's pattern promises this: what matches it is accepted.
        #[test]
        fn every_type_name_the_document_allows_is_accepted(
            s in EventType::PATTERN.trim_matches(['^', '$'])
        ) {
            if s.len() > EventType::MAX_LEN {
                return Ok(()); // longer than the document allows
            }
            prop_assert!(EventType::parse(&s).is_ok());
        }
    }
}
