//! The JSON Schema catalog: the built-in types' schemas, shipped in the binary, and the
//! compiled form every event's `data` is checked against.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use serde::Serialize;
use serde_json::Value;

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
        "email.delivered",
        "email.deferred",
        "email.opened",
        "email.clicked",
        "email.complained",
        "email.unsubscribed",
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
    use crate::domain::event::BUILTIN_TYPES;

    #[test]
    fn every_builtin_schema_compiles_under_its_listed_name() {
        assert_eq!(BUILTIN.keys().copied().collect::<Vec<_>>(), {
            let mut names = BUILTIN_TYPES.to_vec();
            names.sort();
            names
        });
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
    fn a_schema_with_an_unknown_meta_schema_is_refused_not_panicked_on() {
        let schema = serde_json::json!({"$schema": "https://example.com/mine", "type": "object"});
        assert!(EventSchema::compile(String::new(), schema).is_err());
        let schema = serde_json::json!({"$schema": "https://json-schema.org/draft/2099-01/schema"});
        assert!(EventSchema::compile(String::new(), schema).is_err());
        let schema = serde_json::json!({"type": "no-such-type"});
        assert!(EventSchema::compile(String::new(), schema).is_err());
    }
}
