//! Postmark signs nothing: its webhook URL carries basic-auth credentials, checked here
//! against their hash. One event per post; only bounces and complaints have an event id,
//! so the others are known by what makes them one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::{Post, header, rfc3339, text};
use crate::domain::key::KeyHash;
use crate::sources::inbound::{Bounce, InboundEvent, Kind, Refused};

pub fn authenticate(hash: &KeyHash, post: &Post<'_>) -> Result<Option<String>, Refused> {
    let presented = header(post, &["authorization"])
        .and_then(|value| {
            value
                .strip_prefix("Basic ")
                .or_else(|| value.strip_prefix("basic "))
        })
        .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .ok_or_else(|| {
            Refused::unauthenticated(
                "missing_credentials",
                "no basic-auth credentials: use the ingest URL with its user and password",
            )
        })?;
    if !hash.matches(&KeyHash::of(&presented)) {
        return Err(Refused::unauthenticated(
            "invalid_credentials",
            "the basic-auth credentials are not the source's",
        ));
    }
    Ok(None)
}

pub fn events(body: Value) -> Result<InboundEvent, Refused> {
    let record = text(&body, "/RecordType")
        .ok_or_else(|| Refused::unmappable("the post has no `RecordType`"))?;
    let what = format!("Postmark's `{record}` record");
    let (kind, at) = match record.as_str() {
        "Delivery" => (Kind::Delivered, "/DeliveredAt"),
        "Bounce" => (
            Kind::Bounced {
                bounce: match text(&body, "/Type").as_deref() {
                    Some("HardBounce" | "BadEmailAddress") => Bounce::Hard,
                    Some("SoftBounce" | "Transient" | "DnsError") => Bounce::Soft,
                    _ => Bounce::Unknown,
                },
                status: None,
            },
            "/BouncedAt",
        ),
        "SpamComplaint" => (Kind::Complained, "/BouncedAt"),
        "Open" => (Kind::Opened, "/ReceivedAt"),
        "Click" => (
            Kind::Clicked {
                url: text(&body, "/OriginalLink")
                    .ok_or_else(|| Refused::unmappable(format!("{what} has no `OriginalLink`")))?,
            },
            "/ReceivedAt",
        ),
        "SubscriptionChange" if body.get("SuppressSending") == Some(&Value::Bool(true)) => {
            (Kind::Unsubscribed, "/ChangedAt")
        }
        _ => {
            return Err(Refused::unmappable(format!(
                "{what} has no seqhook event type (a reactivation, or an unknown record)"
            )));
        }
    };
    let at = rfc3339(&body, at, &what)?;
    let recipient = text(&body, "/Recipient").or_else(|| text(&body, "/Email"));
    let message_id = text(&body, "/MessageID");
    let provider_event_id = match text(&body, "/ID") {
        Some(id) => format!("{record}:{id}"),
        None => [
            record.as_str(),
            message_id.as_deref().unwrap_or_default(),
            recipient.as_deref().unwrap_or_default(),
            &at.to_rfc3339(),
            &text(&body, "/OriginalLink").unwrap_or_default(),
        ]
        .join(":"),
    };
    Ok(InboundEvent {
        kind,
        provider_event_id,
        message_id,
        recipient,
        sender: text(&body, "/From"),
        subject: text(&body, "/Subject"),
        reason: text(&body, "/Description")
            .or_else(|| text(&body, "/Details"))
            .or_else(|| text(&body, "/SuppressionReason")),
        at: Some(at),
        raw: body,
    })
}
