//! What a provider's post becomes once read: events in one shape whatever the provider, and
//! the typed seqhook event each one is appended as.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::domain::identity::IdentityHandle;
use crate::domain::source::{IdentityFrom, Provider};
use crate::id::{EventId, SourceId};

/// What a provider says happened to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Sent,
    Delivered,
    Deferred,
    Bounced {
        bounce: Bounce,
        status: Option<String>,
    },
    Opened,
    Clicked {
        url: String,
    },
    Complained,
    Unsubscribed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bounce {
    Hard,
    Soft,
    Unknown,
}

/// One provider event, read.
#[derive(Clone, Debug)]
pub struct InboundEvent {
    pub kind: Kind,
    /// Stable across the provider's retries of the same event.
    pub provider_event_id: String,
    pub message_id: Option<String>,
    pub recipient: Option<String>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub reason: Option<String>,
    /// When the provider says it happened, if it says.
    pub at: Option<DateTime<Utc>>,
    /// The event as the provider sent it; kept under `source`, and what a JSON pointer
    /// finding the identity points into.
    pub raw: Value,
}

/// Why a post is refused, with the status it is answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Refused {
    pub fn unauthenticated(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: 401,
            code,
            message: message.into(),
        }
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code: "invalid_body",
            message: message.into(),
        }
    }

    pub fn unmappable(message: impl Into<String>) -> Self {
        Self {
            status: 422,
            code: "unmappable_event",
            message: message.into(),
        }
    }
}

impl InboundEvent {
    /// The identity the event belongs to, found where the source says.
    pub fn identity(&self, from: &IdentityFrom) -> Result<IdentityHandle, Refused> {
        let (found, what) = match from {
            IdentityFrom::Recipient => (self.recipient.as_deref(), "a recipient".to_owned()),
            IdentityFrom::Sender => (self.sender.as_deref(), "a sender".to_owned()),
            IdentityFrom::Pointer(pointer) => (
                self.raw.pointer(pointer).and_then(Value::as_str),
                format!("a string at `{pointer}`"),
            ),
        };
        let found = found.ok_or_else(|| {
            Refused::unmappable(format!(
                "event {} has no {what} to find its identity by",
                self.provider_event_id
            ))
        })?;
        let address = bare_address(found);
        IdentityHandle::parse(address).map_err(|error| {
            Refused::unmappable(format!(
                "event {}: `{address}` is not an identity handle: {error}",
                self.provider_event_id
            ))
        })
    }

    /// The seqhook event's id: the same for the same provider event on the same source, so
    /// a provider's retry is an idempotent re-send.
    pub fn event_id(&self, source: SourceId) -> EventId {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(source.to_string())
            .chain_update([0])
            .chain_update(&self.provider_event_id)
            .finalize();
        let mut random = [0u8; 16];
        random[6..].copy_from_slice(&digest[..10]);
        // A ULID's time is 48 bits; a provider's time outside it is clamped, not refused.
        let at = self.at.map_or(0, |at| at.timestamp_millis());
        let millis = u64::try_from(at).unwrap_or(0).min((1 << 48) - 1);
        EventId::from_parts(millis, u128::from_be_bytes(random))
    }

    /// The event's type and `data`, as seqhook's catalog has them. With no time from the
    /// provider, `ts` is 0: the time it arrived would differ on the provider's retry, which
    /// must be the same event to be recognised as one.
    pub fn typed(
        &self,
        identity: &IdentityHandle,
        provider: Provider,
        source: SourceId,
    ) -> (&'static str, Value) {
        let ts = self.at.map_or(0, |at| at.timestamp_millis().max(0));
        let recipient = self.recipient.clone().unwrap_or_default();
        let from = self.sender.as_deref().map(bare_address);
        let message_id = self.message_id.clone();
        let (event_type, mut data) = match &self.kind {
            // A provider knows no conversation: its message id stands in for one.
            Kind::Sent => (
                "email.sent",
                json!({
                    "convId": message_id.clone().unwrap_or_else(|| self.provider_event_id.clone()),
                    "identity": identity.as_str(),
                    "message": {
                        "id": message_id.clone().unwrap_or_default(),
                        "messageIdHeader": message_id.clone().unwrap_or_default(),
                        "from": from.unwrap_or_default(),
                        "to": recipient,
                        "subject": self.subject.clone().unwrap_or_default(),
                        "snippet": "",
                        "ts": ts,
                    },
                    "account": { "id": source.to_string(), "email": from.unwrap_or_default() },
                }),
            ),
            Kind::Bounced { bounce, status } => (
                "email.bounced",
                json!({
                    "convId": null,
                    "linkedVia": null,
                    "identity": identity.as_str(),
                    "originalMessageId": message_id.clone().unwrap_or_default(),
                    "originalRecipient": self.recipient,
                    "bounceKind": match bounce {
                        Bounce::Hard => "hard",
                        Bounce::Soft => "soft",
                        Bounce::Unknown => "unknown",
                    },
                    "bounceStatus": status,
                    "softBounceCount": null,
                    "escalatedToDoNotContact": false,
                    "from": from.unwrap_or_default(),
                    "subject": self.subject.clone().unwrap_or_default(),
                    "snippet": self.reason.clone().unwrap_or_default(),
                    "ts": ts,
                }),
            ),
            kind => {
                let event_type = match kind {
                    Kind::Delivered => "email.delivered",
                    Kind::Deferred => "email.deferred",
                    Kind::Opened => "email.opened",
                    Kind::Clicked { .. } => "email.clicked",
                    Kind::Complained => "email.complained",
                    _ => "email.unsubscribed",
                };
                let mut data = json!({
                    "identity": identity.as_str(),
                    "messageId": message_id,
                    "recipient": recipient,
                    "from": from,
                    "subject": self.subject,
                    "ts": ts,
                });
                if let Kind::Clicked { url } = kind {
                    data["url"] = json!(url);
                }
                if matches!(kind, Kind::Deferred | Kind::Unsubscribed) {
                    data["reason"] = json!(self.reason);
                }
                (event_type, data)
            }
        };
        data["provider"] = json!(provider.as_str());
        data["providerEventId"] = json!(self.provider_event_id);
        data["source"] = self.raw.clone();
        (event_type, data)
    }
}

/// `Ann <ann@example.com>` → `ann@example.com`.
pub fn bare_address(text: &str) -> &str {
    let text = text.trim();
    match (text.rfind('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => text[open + 1..close].trim(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(raw: Value) -> InboundEvent {
        InboundEvent {
            kind: Kind::Delivered,
            provider_event_id: "e1".into(),
            message_id: Some("m1".into()),
            recipient: Some("Bo <bo@example.com>".into()),
            sender: None,
            subject: None,
            reason: None,
            at: DateTime::from_timestamp(1_700_000_000, 0),
            raw,
        }
    }

    #[test]
    fn the_identity_is_found_where_the_source_says() {
        let event = event(json!({ "custom_args": { "mailbox": "ann@acme.io" } }));
        assert_eq!(
            event.identity(&IdentityFrom::Recipient).unwrap().as_str(),
            "bo@example.com"
        );
        let pointer = IdentityFrom::Pointer("/custom_args/mailbox".into());
        assert_eq!(event.identity(&pointer).unwrap().as_str(), "ann@acme.io");
        let missing = event.identity(&IdentityFrom::Sender).unwrap_err();
        assert_eq!((missing.status, missing.code), (422, "unmappable_event"));
        assert!(
            event
                .identity(&IdentityFrom::Pointer("/nope".into()))
                .is_err()
        );
    }

    #[test]
    fn a_provider_events_id_is_stable_per_source_and_time_ordered() {
        let (a, b) = (SourceId::generate(), SourceId::generate());
        let delivered = event(json!({}));
        assert_eq!(delivered.event_id(a), delivered.event_id(a));
        assert_ne!(delivered.event_id(a), delivered.event_id(b));
        let mut other = delivered.clone();
        other.provider_event_id = "e2".into();
        assert_ne!(other.event_id(a), delivered.event_id(a));
        assert!(delivered.event_id(a).to_string().starts_with("evt_01HF"));
    }
}
