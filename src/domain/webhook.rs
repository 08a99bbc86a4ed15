//! A webhook: where to push, which events, how.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use super::dialect::SignatureDialect;
use super::event::EventType;
use super::identity::IdentityHandle;
use super::target::WebhookUrl;
use crate::id::{TenantId, WebhookId};

#[derive(Clone, Debug)]
pub struct Webhook {
    pub id: WebhookId,
    pub tenant_id: TenantId,
    pub url: WebhookUrl,
    pub events: EventFilter,
    pub identities: Option<Vec<IdentityHandle>>,
    pub description: String,
    pub ordered: bool,
    pub rate_limit: Option<u32>,
    pub dialect: SignatureDialect,
    pub active: bool,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

// The serialised shape doubles as the OpenAPI schema, so the document cannot drift from
// what clients receive.
/// A registered webhook.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct View<'a> {
    id: WebhookId,
    #[schema(format = "uri", example = "https://example.com/hooks/seqhook")]
    url: &'a str,
    /// Event types and `prefix.*` patterns; null for every type.
    #[schema(example = json!(["email.replied", "mailbox.*"]))]
    events: Option<Vec<String>>,
    /// Null for every identity.
    identities: &'a Option<Vec<IdentityHandle>>,
    description: &'a str,
    ordered: bool,
    /// Deliveries per second; null for no limit.
    rate_limit: Option<u32>,
    /// How deliveries are signed.
    dialect: &'a SignatureDialect,
    active: bool,
    disabled_reason: &'a Option<String>,
    #[schema(format = DateTime, example = "2026-04-27T11:55:29.000Z")]
    created_at: String,
}

impl utoipa::PartialSchema for Webhook {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <View<'static> as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for Webhook {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Webhook")
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <View<'static> as utoipa::ToSchema>::schemas(schemas);
    }
}

impl Serialize for Webhook {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        View {
            id: self.id,
            url: self.url.as_str(),
            events: self.events.to_strings(),
            identities: &self.identities,
            description: &self.description,
            ordered: self.ordered,
            rate_limit: self.rate_limit,
            dialect: &self.dialect,
            active: self.active,
            disabled_reason: &self.disabled_reason,
            created_at: crate::timestamp::format(&self.created_at),
        }
        .serialize(serializer)
    }
}

/// Which event types a webhook receives: exact names and `prefix.*` patterns, or all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// `None`: every type.
    pub names: Option<Vec<String>>,
    /// Each ends with the dot: `email.` for `email.*`.
    pub prefixes: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum InvalidFilter {
    #[error("`events` must not be empty: leave it out to receive every event")]
    Empty,
    #[error("`{0}` is neither an event type nor a `prefix.*` pattern")]
    Pattern(String),
}

impl EventFilter {
    /// One entry of a filter as the document states it: `*`, a type name, or a type name's
    /// prefix followed by `.*`.
    pub const ENTRY_PATTERN: &str = "^(\\*|[a-z0-9_-]+(\\.[a-z0-9_-]+)*(\\.\\*)?)$";

    pub fn parse(patterns: Option<&[String]>) -> Result<Self, InvalidFilter> {
        let Some(patterns) = patterns else {
            return Ok(Self::default());
        };
        if patterns.is_empty() {
            return Err(InvalidFilter::Empty);
        }
        if patterns.iter().any(|pattern| pattern == "*") {
            return Ok(Self::default());
        }
        let (mut names, mut prefixes) = (Vec::new(), Vec::new());
        for pattern in patterns {
            let bad = || InvalidFilter::Pattern(pattern.clone());
            match pattern.strip_suffix(".*") {
                Some(prefix) => {
                    EventType::parse(prefix).map_err(|_| bad())?;
                    prefixes.push(format!("{prefix}."));
                }
                None => names.push(
                    EventType::parse(pattern)
                        .map_err(|_| bad())?
                        .as_str()
                        .to_owned(),
                ),
            }
        }
        names.sort();
        names.dedup();
        prefixes.sort();
        prefixes.dedup();
        Ok(Self {
            names: Some(names),
            prefixes: Some(prefixes),
        })
    }

    /// The filter as the client wrote it (`None` for all).
    pub fn to_strings(&self) -> Option<Vec<String>> {
        if self.names.is_none() && self.prefixes.is_none() {
            return None;
        }
        let names = self.names.iter().flatten().cloned();
        let prefixes = self
            .prefixes
            .iter()
            .flatten()
            .map(|prefix| format!("{prefix}*"));
        Some(names.chain(prefixes).collect())
    }

    pub fn matches(&self, event_type: &str) -> bool {
        if self.names.is_none() && self.prefixes.is_none() {
            return true;
        }
        self.names.iter().flatten().any(|name| name == event_type)
            || self
                .prefixes
                .iter()
                .flatten()
                .any(|prefix| event_type.starts_with(prefix.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(patterns: &[&str]) -> Result<EventFilter, InvalidFilter> {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        EventFilter::parse(Some(&patterns))
    }

    #[test]
    fn names_and_prefixes_match_as_written() {
        let f = filter(&["email.*", "mailbox.replaced"]).unwrap();
        assert!(
            f.matches("email.sent") && f.matches("email.no_reply") && f.matches("mailbox.replaced")
        );
        assert!(!f.matches("mailbox.other") && !f.matches("emailx.sent"));
        assert_eq!(f.to_strings().unwrap(), ["mailbox.replaced", "email.*"]);
        assert!(EventFilter::parse(None).unwrap().matches("anything"));
        assert_eq!(filter(&["*"]).unwrap(), EventFilter::default());
    }

    proptest::proptest! {
        /// The document's pattern promises this: what matches it is accepted.
        #[test]
        fn every_entry_the_document_allows_is_accepted(
            entry in EventFilter::ENTRY_PATTERN.trim_matches(['^', '$'])
        ) {
            if entry.len() > EventType::MAX_LEN {
                return Ok(()); // longer than the document allows
            }
            proptest::prop_assert!(filter(&[&entry]).is_ok(), "{entry}");
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(matches!(filter(&[]), Err(InvalidFilter::Empty)));
        for bad in ["email*", "*.sent", "Email.sent", ".*", "email.**"] {
            assert!(
                matches!(filter(&[bad]), Err(InvalidFilter::Pattern(_))),
                "{bad}"
            );
        }
    }
}
