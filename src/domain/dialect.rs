//! Signature dialects: how a webhook's deliveries are signed, as data — which string is
//! signed and with which key, how the digest is written, and which headers carry it, the
//! timestamp and the event id. Standard Webhooks is the default; the presets speak the
//! formats receivers in the wild already verify, so those verify seqhook unchanged.

use http::HeaderName;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A piece of the signed string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    /// The event id, as the id header carries it.
    Id,
    /// Unix seconds of the attempt, as the timestamp header (or the signature's `t=`) carries it.
    Timestamp,
    /// The raw request body.
    Body,
}

/// What the HMAC is keyed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SigningKey {
    /// The bytes the secret's base64 stands for (Standard Webhooks).
    SecretBytes,
    /// The secret as written, `whsec_` included, as UTF-8 (most other formats).
    SecretText,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Encoding {
    Hex,
    Base64,
}

/// Which secrets sign while a rotation keeps more than one active.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Signatures {
    /// One signature per active secret, newest first, joined by `separator`.
    #[default]
    All,
    /// Only the oldest active secret: for receivers that compare one value, which keep the
    /// secret they have until the old one expires and the new one takes over.
    Oldest,
}

/// A dialect as the API writes it: every field, nothing derived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DialectFields {
    /// The signed string: text with `{id}`, `{timestamp}` and `{body}` (required) in it.
    pub signed_payload: String,
    pub key: SigningKey,
    pub encoding: Encoding,
    pub signature_header: String,
    /// Written before each signature (`v1,`, `v1=`, `sha256=`).
    #[serde(default)]
    pub signature_prefix: String,
    /// The header carrying the timestamp, if one does.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// Written, with the timestamp after it, first in the signature header (`t=`).
    #[serde(default)]
    pub signature_timestamp_prefix: Option<String>,
    /// The header carrying the event id, if one does.
    #[serde(default)]
    pub id_header: Option<String>,
    #[serde(default)]
    pub signatures: Signatures,
    /// Between the signatures, and after a `t=` timestamp, in the signature header.
    #[serde(default)]
    pub separator: Option<String>,
}

/// A checked dialect, ready to sign with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureDialect {
    fields: DialectFields,
    signed: Vec<Part>,
    signature_header: HeaderName,
    timestamp_header: Option<HeaderName>,
    id_header: Option<HeaderName>,
}

/// Why a dialect is refused: a field the document's patterns already rule out, or fields
/// that do not fit together (which no schema of one field can say).
#[derive(Debug, thiserror::Error)]
pub enum InvalidDialect {
    #[error("{0}")]
    Field(String),
    #[error("{0}")]
    Conflict(String),
}

impl InvalidDialect {
    pub fn code(&self) -> &'static str {
        match self {
            InvalidDialect::Field(_) => "invalid_dialect",
            InvalidDialect::Conflict(_) => "dialect_conflict",
        }
    }
}

fn invalid(message: impl Into<String>) -> InvalidDialect {
    InvalidDialect::Field(message.into())
}

fn conflict(message: impl Into<String>) -> InvalidDialect {
    InvalidDialect::Conflict(message.into())
}

/// What the document states of each field; the parsers below enforce exactly these.
pub const SIGNED_PAYLOAD_PATTERN: &str =
    "^(?:[ -z|~]|\\{(?:id|timestamp|body)\\})*\\{body\\}(?:[ -z|~]|\\{(?:id|timestamp|body)\\})*$";
pub const HEADER_PATTERN: &str = "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$";
pub const PREFIX_PATTERN: &str = "^[!-~]{0,64}$";
pub const TIMESTAMP_PREFIX_PATTERN: &str = "^[!-~]{1,64}$";
pub const SEPARATOR_PATTERN: &str = "^[ ,;|]{1,3}$";

/// The named dialects, the default first.
pub const PRESETS: [&str; 6] = [
    "standard-webhooks",
    "stripe",
    "github",
    "x-signature",
    "x-webhook-signature",
    "sequenzy",
];

const MAX_TEXT: usize = 64;
/// Headers the HTTP client sets itself, or that change how the request is framed.
const RESERVED_HEADERS: [&str; 12] = [
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "user-agent",
];

impl SignatureDialect {
    pub fn standard_webhooks() -> Self {
        Self::preset("standard-webhooks").expect("a preset")
    }

    /// A named dialect.
    pub fn preset(name: &str) -> Option<Self> {
        let fields = preset_fields(name)?;
        Some(Self::check(fields).expect("presets are valid"))
    }

    /// A dialect as a request writes it: a preset's name, or an object of every field.
    pub fn from_json(value: &Value) -> Result<Self, InvalidDialect> {
        match value {
            Value::String(name) => Self::preset(name).ok_or_else(|| {
                invalid(format!(
                    "`{name}` is not a dialect; the presets are {}",
                    PRESETS.join(", ")
                ))
            }),
            Value::Object(_) => {
                let fields = DialectFields::deserialize(value)
                    .map_err(|error| invalid(format!("the dialect is malformed: {error}")))?;
                Self::check(fields)
            }
            _ => Err(invalid(
                "a dialect is a preset's name or an object of its fields",
            )),
        }
    }

    /// A stored dialect, written by `stored`.
    pub fn from_stored(text: &str) -> Result<Self, InvalidDialect> {
        let fields: DialectFields = serde_json::from_str(text)
            .map_err(|error| invalid(format!("a stored dialect does not read back: {error}")))?;
        Self::check(fields)
    }

    /// What a store keeps: `None` for the default.
    pub fn stored(&self) -> Option<String> {
        (self.fields != preset_fields("standard-webhooks").expect("a preset"))
            .then(|| serde_json::to_string(&self.fields).expect("fields serialise"))
    }

    /// The preset this dialect is, if it is one.
    pub fn preset_name(&self) -> Option<&'static str> {
        PRESETS
            .into_iter()
            .find(|name| preset_fields(name).as_ref() == Some(&self.fields))
    }

    fn check(fields: DialectFields) -> Result<Self, InvalidDialect> {
        let signed = parse_payload(&fields.signed_payload)?;
        let signature_header = header("signatureHeader", &fields.signature_header)?;
        let timestamp_header = fields
            .timestamp_header
            .as_deref()
            .map(|name| header("timestampHeader", name))
            .transpose()?;
        let id_header = fields
            .id_header
            .as_deref()
            .map(|name| header("idHeader", name))
            .transpose()?;
        let mut names = vec![&signature_header];
        names.extend(timestamp_header.iter().chain(id_header.iter()));
        if (1..names.len()).any(|i| names[..i].contains(&names[i])) {
            return Err(conflict(
                "the signature, timestamp and id headers must differ",
            ));
        }
        text("signaturePrefix", &fields.signature_prefix, 0)?;
        if let Some(prefix) = &fields.signature_timestamp_prefix {
            text("signatureTimestampPrefix", prefix, 1)?;
        }
        let separator = fields.separator.as_deref();
        if let Some(separator) = separator {
            if separator.is_empty()
                || separator.len() > 3
                || !separator
                    .chars()
                    .all(|c| matches!(c, ' ' | ',' | ';' | '|'))
            {
                return Err(invalid("`separator` is 1 to 3 of space, `,`, `;` and `|`"));
            }
            let prefixes = [
                Some(&fields.signature_prefix),
                fields.signature_timestamp_prefix.as_ref(),
            ];
            if prefixes
                .into_iter()
                .flatten()
                .any(|prefix| prefix.contains(separator))
            {
                return Err(conflict(
                    "`signaturePrefix` and `signatureTimestampPrefix` must not contain the separator",
                ));
            }
        }
        let needs_separator =
            fields.signatures == Signatures::All || fields.signature_timestamp_prefix.is_some();
        if needs_separator && separator.is_none() {
            return Err(conflict(
                "`separator` is needed to list several signatures, or a timestamp before them",
            ));
        }
        if signed.contains(&Part::Timestamp)
            && timestamp_header.is_none()
            && fields.signature_timestamp_prefix.is_none()
        {
            return Err(conflict(
                "the signed payload has `{timestamp}`, so `timestampHeader` or \
                 `signatureTimestampPrefix` must carry it",
            ));
        }
        if signed.contains(&Part::Id) && id_header.is_none() {
            return Err(conflict(
                "the signed payload has `{id}`, so `idHeader` must carry it",
            ));
        }
        Ok(Self {
            fields,
            signed,
            signature_header,
            timestamp_header,
            id_header,
        })
    }

    pub fn fields(&self) -> &DialectFields {
        &self.fields
    }

    pub fn signed_parts(&self) -> &[Part] {
        &self.signed
    }

    pub fn signature_header(&self) -> &HeaderName {
        &self.signature_header
    }

    pub fn timestamp_header(&self) -> Option<&HeaderName> {
        self.timestamp_header.as_ref()
    }

    pub fn id_header(&self) -> Option<&HeaderName> {
        self.id_header.as_ref()
    }
}

impl Default for SignatureDialect {
    fn default() -> Self {
        Self::standard_webhooks()
    }
}

/// A preset by name, or the fields as written.
impl Serialize for SignatureDialect {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.preset_name() {
            Some(name) => serializer.serialize_str(name),
            None => self.fields.serialize(serializer),
        }
    }
}

fn preset_fields(name: &str) -> Option<DialectFields> {
    let hex_hmac = |signed_payload: &str, signature_header: &str| DialectFields {
        signed_payload: signed_payload.to_owned(),
        key: SigningKey::SecretText,
        encoding: Encoding::Hex,
        signature_header: signature_header.to_owned(),
        signature_prefix: String::new(),
        timestamp_header: None,
        signature_timestamp_prefix: None,
        id_header: None,
        signatures: Signatures::Oldest,
        separator: None,
    };
    let fields = match name {
        "standard-webhooks" => DialectFields {
            key: SigningKey::SecretBytes,
            encoding: Encoding::Base64,
            signature_prefix: "v1,".into(),
            timestamp_header: Some("webhook-timestamp".into()),
            id_header: Some("webhook-id".into()),
            signatures: Signatures::All,
            separator: Some(" ".into()),
            ..hex_hmac("{id}.{timestamp}.{body}", "webhook-signature")
        },
        "stripe" => DialectFields {
            signature_prefix: "v1=".into(),
            signature_timestamp_prefix: Some("t=".into()),
            signatures: Signatures::All,
            separator: Some(",".into()),
            ..hex_hmac("{timestamp}.{body}", "stripe-signature")
        },
        "github" => DialectFields {
            signature_prefix: "sha256=".into(),
            id_header: Some("x-github-delivery".into()),
            ..hex_hmac("{body}", "x-hub-signature-256")
        },
        "x-signature" => DialectFields {
            timestamp_header: Some("x-timestamp".into()),
            id_header: Some("x-event-id".into()),
            ..hex_hmac("{timestamp}.{body}", "x-signature")
        },
        "x-webhook-signature" => hex_hmac("{body}", "x-webhook-signature"),
        "sequenzy" => DialectFields {
            signature_prefix: "v1=".into(),
            timestamp_header: Some("x-sequenzy-timestamp".into()),
            signatures: Signatures::All,
            separator: Some(",".into()),
            ..hex_hmac("v1:{timestamp}:{body}", "x-sequenzy-signature")
        },
        _ => return None,
    };
    Some(fields)
}

fn parse_payload(template: &str) -> Result<Vec<Part>, InvalidDialect> {
    if template.len() > 2 * MAX_TEXT || !template.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(invalid(
            "`signedPayload` is at most 128 printable ASCII characters",
        ));
    }
    let mut parts = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let text_end = rest.find(['{', '}']).unwrap_or(rest.len());
        if text_end > 0 {
            parts.push(Part::Text(rest[..text_end].to_owned()));
            rest = &rest[text_end..];
            continue;
        }
        let (part, after) = [
            ("{id}", Part::Id),
            ("{timestamp}", Part::Timestamp),
            ("{body}", Part::Body),
        ]
        .into_iter()
        .find_map(|(name, part)| rest.strip_prefix(name).map(|after| (part, after)))
        .ok_or_else(|| {
            invalid("`signedPayload` may hold only `{id}`, `{timestamp}` and `{body}` in braces")
        })?;
        parts.push(part);
        rest = after;
    }
    if !parts.contains(&Part::Body) {
        return Err(invalid(
            "`signedPayload` must sign the body: put `{body}` in it",
        ));
    }
    Ok(parts)
}

fn header(field: &str, name: &str) -> Result<HeaderName, InvalidDialect> {
    let parsed = HeaderName::from_bytes(name.as_bytes())
        .ok()
        .filter(|_| name.len() <= MAX_TEXT)
        .ok_or_else(|| {
            invalid(format!(
                "`{field}`: `{name}` is not a header name of at most {MAX_TEXT} characters"
            ))
        })?;
    // A rule of the HTTP client's, not of the field's shape.
    if RESERVED_HEADERS.contains(&parsed.as_str()) || parsed.as_str().starts_with("proxy-") {
        return Err(conflict(format!(
            "`{field}`: `{name}` is set by the HTTP client itself"
        )));
    }
    Ok(parsed)
}

/// Text written into a header: visible ASCII, short.
fn text(field: &str, value: &str, min: usize) -> Result<(), InvalidDialect> {
    if value.len() < min || value.len() > MAX_TEXT || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(format!(
            "`{field}` is {min} to {MAX_TEXT} visible ASCII characters"
        )));
    }
    Ok(())
}

impl SignatureDialect {
    /// The document's shape of a dialect: a preset's name, or its fields with the patterns
    /// `check` enforces. The rules across fields (`dialect_conflict`) no schema can state.
    pub fn schema_json() -> Value {
        let text = |pattern: &str| json!({ "type": "string", "pattern": pattern });
        let optional = |pattern: &str| json!({ "type": ["string", "null"], "pattern": pattern });
        let fields = json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["signedPayload", "key", "encoding", "signatureHeader"],
            "properties": {
                "signedPayload": {
                    "type": "string", "pattern": SIGNED_PAYLOAD_PATTERN, "maxLength": 2 * MAX_TEXT,
                    "description": "The signed string: `{body}`, and `{id}`, `{timestamp}` and printable text around it.",
                    "examples": ["{timestamp}.{body}"],
                },
                "key": {
                    "type": "string", "enum": ["secretBytes", "secretText"],
                    "description": "The HMAC key: the bytes the secret's base64 stands for, or the secret as written.",
                },
                "encoding": { "type": "string", "enum": ["hex", "base64"] },
                "signatureHeader": text(HEADER_PATTERN),
                "signaturePrefix": text(PREFIX_PATTERN),
                "timestampHeader": optional(HEADER_PATTERN),
                "signatureTimestampPrefix": optional(TIMESTAMP_PREFIX_PATTERN),
                "idHeader": optional(HEADER_PATTERN),
                "signatures": {
                    "type": "string", "enum": ["all", "oldest"],
                    "description": "Every active secret signs (the default), or only the oldest.",
                },
                "separator": optional(SEPARATOR_PATTERN),
            },
        });
        json!({
            "oneOf": [{ "type": "string", "enum": PRESETS, "description": "A preset's name." }, fields],
            "description": "How deliveries are signed: a preset, or a dialect's fields. `standard-webhooks` unless chosen.",
        })
    }
}

// The shape is written out in `schema_json`, which the document lists by this name.
impl utoipa::PartialSchema for SignatureDialect {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::RefOr::Ref(utoipa::openapi::Ref::from_schema_name("SignatureDialect"))
    }
}

impl utoipa::ToSchema for SignatureDialect {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// A dialect with every carrier set, so only the field under test can fail.
    fn carried(payload: &str, header: &str) -> Result<SignatureDialect, InvalidDialect> {
        SignatureDialect::from_json(&json!({
            "signedPayload": payload,
            "key": "secretText",
            "encoding": "hex",
            "signatureHeader": header,
            "timestampHeader": "x-seqhook-test-timestamp",
            "idHeader": "x-seqhook-test-id",
            "separator": ",",
        }))
    }

    proptest! {
        /// The document's patterns promise this: what matches them is accepted.
        #[test]
        fn every_payload_the_document_allows_is_accepted(
            payload in SIGNED_PAYLOAD_PATTERN.trim_matches(['^', '$'])
        ) {
            if payload.len() <= 2 * MAX_TEXT {
                prop_assert!(carried(&payload, "x-sig").is_ok(), "{payload}");
            }
        }

        #[test]
        fn every_header_the_document_allows_is_a_field_it_accepts(
            header in HEADER_PATTERN.trim_matches(['^', '$'])
        ) {
            // Names the HTTP client sets itself are a conflict, not a malformed field.
            prop_assert!(!matches!(carried("{body}", &header), Err(InvalidDialect::Field(_))), "{header}");
        }

        #[test]
        fn every_prefix_and_separator_the_document_allows_is_accepted(
            prefix in PREFIX_PATTERN.trim_matches(['^', '$']),
            stamp in TIMESTAMP_PREFIX_PATTERN.trim_matches(['^', '$']),
            separator in SEPARATOR_PATTERN.trim_matches(['^', '$']),
        ) {
            let dialect = SignatureDialect::from_json(&json!({
                "signedPayload": "{body}", "key": "secretText", "encoding": "hex",
                "signatureHeader": "x-sig", "signaturePrefix": prefix,
                "signatureTimestampPrefix": stamp, "separator": separator,
            }));
            prop_assert!(!matches!(dialect, Err(InvalidDialect::Field(_))), "{dialect:?}");
        }
    }

    #[test]
    fn every_preset_is_valid_and_names_itself() {
        for name in PRESETS {
            let dialect = SignatureDialect::preset(name).unwrap();
            assert_eq!(dialect.preset_name(), Some(name));
            assert_eq!(serde_json::to_value(&dialect).unwrap(), json!(name));
            let round = SignatureDialect::from_json(&json!(dialect.fields())).unwrap();
            assert_eq!(round, dialect);
        }
        assert_eq!(SignatureDialect::default().stored(), None);
        let stripe = SignatureDialect::preset("stripe").unwrap();
        let stored = stripe.stored().unwrap();
        assert_eq!(SignatureDialect::from_stored(&stored).unwrap(), stripe);
    }

    #[test]
    fn a_custom_dialect_reads_back_as_written() {
        let written = json!({
            "signedPayload": "{timestamp}:{body}",
            "key": "secretText",
            "encoding": "base64",
            "signatureHeader": "X-Acme-Signature",
            "timestampHeader": "X-Acme-Time",
            "signatures": "oldest",
        });
        let dialect = SignatureDialect::from_json(&written).unwrap();
        assert_eq!(dialect.preset_name(), None);
        assert_eq!(
            dialect.signed_parts(),
            [Part::Timestamp, Part::Text(":".into()), Part::Body]
        );
        assert_eq!(dialect.signature_header().as_str(), "x-acme-signature");
        let shown = serde_json::to_value(&dialect).unwrap();
        assert_eq!(shown["signatureHeader"], "X-Acme-Signature");
        assert_eq!(SignatureDialect::from_json(&shown).unwrap(), dialect);
    }

    #[test]
    fn bad_dialects_are_refused_with_the_reason() {
        let base = json!({
            "signedPayload": "{body}",
            "key": "secretText",
            "encoding": "hex",
            "signatureHeader": "x-sig",
            "signatures": "oldest",
        });
        let with = |field: &str, value: Value| {
            let mut dialect = base.clone();
            dialect[field] = value;
            SignatureDialect::from_json(&dialect)
                .unwrap_err()
                .to_string()
        };
        assert!(SignatureDialect::from_json(&base).is_ok());
        assert!(with("signedPayload", json!("{timestamp}")).contains("sign the body"));
        assert!(with("signedPayload", json!("{body}\u{7f}")).contains("printable"));
        assert!(with("signedPayload", json!("{nonce}.{body}")).contains("only"));
        assert!(with("signedPayload", json!("{timestamp}.{body}")).contains("must carry it"));
        assert!(with("signedPayload", json!("{id}.{body}")).contains("idHeader"));
        assert!(with("signatureHeader", json!("bad header")).contains("not a header name"));
        assert!(with("signatureHeader", json!("Content-Type")).contains("HTTP client"));
        assert!(with("timestampHeader", json!("X-SIG")).contains("must differ"));
        assert!(with("signatures", json!("all")).contains("separator"));
        assert!(with("signaturePrefix", json!("v 1")).contains("visible ASCII"));
        assert!(with("encoding", json!("base32")).contains("malformed"));
        assert!(with("nonce", json!(true)).contains("unknown field"));
        assert!(with("signatureHeader", json!("x".repeat(65))).contains("at most 64"));
        for bad in [json!("svix2"), json!(7), json!(null)] {
            assert!(SignatureDialect::from_json(&bad).is_err(), "{bad}");
        }
    }
}
