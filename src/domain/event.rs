//! Events: type names, and the shapes an event takes on its way in (`NewEvent`), as the
//! log holds it (`StoredEvent`), and as every consumer sees it (`Envelope`).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::cursor::Seq;
use super::identity::IdentityHandle;
use crate::id::EventId;

/// The built-in event types, shipped in the binary with a JSON Schema each (the log's
/// `schema` catalog).
pub const BUILTIN_TYPES: [&str; 15] = [
    "email.queued",
    "email.sent",
    "email.cancelled",
    "email.received",
    "email.replied",
    "email.no_reply",
    "email.bounced",
    "email.send_failed_permanently",
    "mailbox.replaced",
    // `PROVIDER_TYPES`.
    "email.delivered",
    "email.deferred",
    "email.opened",
    "email.clicked",
    "email.complained",
    "email.unsubscribed",
];

/// What email providers report about a message after it was sent, as inbound sources
/// append it.
pub const PROVIDER_TYPES: [&str; 6] = [
    "email.delivered",
    "email.deferred",
    "email.opened",
    "email.clicked",
    "email.complained",
    "email.unsubscribed",
];

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
        BUILTIN_TYPES.contains(&self.as_str())
    }

    /// Names no tenant may define: the built-ins and the service's own `webhook.*` events.
    /// Built in since inbound sources, after tenants could define types of these names: a
    /// tenant's own from before keeps precedence, so its appends are checked as before.
    pub fn yields_to_tenants(&self) -> bool {
        PROVIDER_TYPES.contains(&self.as_str())
    }

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
    /// When its data was replaced by the tombstone, if it was.
    pub redacted_at: Option<DateTime<Utc>>,
}

impl StoredEvent {
    /// What a redacted event's data becomes.
    pub const TOMBSTONE: &str = r#"{"redacted":true}"#;

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
    /// Present once the event is redacted: `data` is then `{"redacted": true}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime, example = "2026-04-28T09:00:00.000Z")]
    redacted_at: Option<String>,
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
            redacted_at: event.redacted_at.as_ref().map(crate::timestamp::format),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
