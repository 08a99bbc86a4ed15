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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_documented_record_has_its_type_and_a_stable_id() {
        let base = json!({ "MessageID": "m-1", "Recipient": "bo@example.com", "MessageStream": "outbound",
            "Tag": "q4", "Metadata": {} });
        let with = |fields: Value| {
            let mut body = base.clone();
            for (key, value) in fields.as_object().unwrap() {
                body[key] = value.clone();
            }
            events(body)
        };
        let at = "2026-12-01T10:00:00.1234567Z";
        for (fields, kind, id) in [
            (
                json!({ "RecordType": "Delivery", "DeliveredAt": at }),
                Kind::Delivered,
                None,
            ),
            (
                json!({ "RecordType": "Bounce", "ID": 4_323_372_036_854_775_807_i64, "Type": "HardBounce", "Email": "bo@example.com", "BouncedAt": at }),
                Kind::Bounced {
                    bounce: Bounce::Hard,
                    status: None,
                },
                Some("Bounce:4323372036854775807"),
            ),
            (
                json!({ "RecordType": "Bounce", "ID": 7, "Type": "SoftBounce", "BouncedAt": at }),
                Kind::Bounced {
                    bounce: Bounce::Soft,
                    status: None,
                },
                Some("Bounce:7"),
            ),
            (
                json!({ "RecordType": "SpamComplaint", "ID": 42, "BouncedAt": at }),
                Kind::Complained,
                Some("SpamComplaint:42"),
            ),
            (
                json!({ "RecordType": "Open", "FirstOpen": true, "ReceivedAt": at }),
                Kind::Opened,
                None,
            ),
            (
                json!({ "RecordType": "Click", "OriginalLink": "https://acme.io", "ReceivedAt": at }),
                Kind::Clicked {
                    url: "https://acme.io".into(),
                },
                None,
            ),
            (
                json!({ "RecordType": "SubscriptionChange", "SuppressSending": true, "ChangedAt": at, "SuppressionReason": "ManualSuppression" }),
                Kind::Unsubscribed,
                None,
            ),
        ] {
            let first = with(fields.clone()).unwrap();
            assert_eq!(first.kind, kind, "{fields}");
            assert_eq!(first.recipient.as_deref(), Some("bo@example.com"));
            assert_eq!(
                first.provider_event_id,
                with(fields).unwrap().provider_event_id,
                "stable"
            );
            if let Some(id) = id {
                assert_eq!(first.provider_event_id, id);
            }
        }
        let reactivated = json!({ "RecordType": "SubscriptionChange", "SuppressSending": false, "ChangedAt": at });
        assert_eq!(with(reactivated).unwrap_err().status, 422);
        assert_eq!(
            with(json!({ "RecordType": "Delivery" }))
                .unwrap_err()
                .status,
            422,
            "no time"
        );
    }
}
