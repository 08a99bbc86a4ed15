//! The generic shape email platforms post: `{type, email_id, recipient, timestamp}`, signed
//! with the hex HMAC-SHA256 of the raw body in `X-Webhook-Signature`. Nothing in the
//! signature changes between sends, so the same post again is the sender's retry: taken as
//! one (its events are already in the log), not refused as a replay.

use serde_json::Value;

use super::{Post, bad_signature, hmac_sha256, required_header, rfc3339, same, text};
use crate::sources::inbound::{Bounce, InboundEvent, Kind, Refused};

pub fn authenticate(key: &str, post: &Post<'_>) -> Result<Option<String>, Refused> {
    let signature = required_header(post, &["x-webhook-signature"])?;
    let given = hex::decode(signature).map_err(|_| bad_signature())?;
    if !same(&given, &hmac_sha256(key.as_bytes(), &[post.body])) {
        return Err(bad_signature());
    }
    Ok(None)
}

pub fn events(body: Value) -> Result<InboundEvent, Refused> {
    let event_type =
        text(&body, "/type").ok_or_else(|| Refused::unmappable("the post has no `type`"))?;
    let email_id = text(&body, "/email_id")
        .ok_or_else(|| Refused::unmappable("the post has no `email_id`"))?;
    let what = format!("the `{event_type}` event");
    let kind = match event_type.strip_prefix("email.").unwrap_or(&event_type) {
        "sent" => Kind::Sent,
        "delivered" => Kind::Delivered,
        "deferred" | "delayed" => Kind::Deferred,
        "bounce" | "bounced" => Kind::Bounced {
            bounce: Bounce::Unknown,
            status: None,
        },
        "open" | "opened" => Kind::Opened,
        "click" | "clicked" => Kind::Clicked {
            url: text(&body, "/url")
                .ok_or_else(|| Refused::unmappable(format!("{what} has no `url`")))?,
        },
        "complaint" | "complained" | "spam" => Kind::Complained,
        "unsubscribe" | "unsubscribed" => Kind::Unsubscribed,
        _ => {
            return Err(Refused::unmappable(format!(
                "{what} has no seqhook event type"
            )));
        }
    };
    let at = match body.get("timestamp") {
        Some(_) => Some(rfc3339(&body, "/timestamp", &what)?),
        None => None,
    };
    let recipient = text(&body, "/recipient");
    let provider_event_id = [
        event_type.as_str(),
        &email_id,
        recipient.as_deref().unwrap_or_default(),
        &text(&body, "/timestamp").unwrap_or_default(),
    ]
    .join(":");
    Ok(InboundEvent {
        kind,
        provider_event_id,
        message_id: Some(email_id),
        recipient,
        sender: None,
        subject: None,
        reason: text(&body, "/reason"),
        at,
        raw: body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_shape_reads_with_or_without_the_email_prefix() {
        let read = |fields: Value| events(fields);
        let bounce = read(json!({ "type": "email.bounced", "email_id": "msg_abc123",
            "recipient": "invalid@example.com", "timestamp": "2026-03-03T08:15:00Z" }))
        .unwrap();
        assert_eq!(
            bounce.kind,
            Kind::Bounced {
                bounce: Bounce::Unknown,
                status: None
            }
        );
        assert_eq!(bounce.message_id.as_deref(), Some("msg_abc123"));
        assert!(bounce.at.is_some());
        let open = read(json!({ "type": "open", "email_id": "m" })).unwrap();
        assert_eq!((open.kind, open.at), (Kind::Opened, None));
        assert_eq!(
            read(json!({ "type": "email.click", "email_id": "m" }))
                .unwrap_err()
                .status,
            422
        );
        assert_eq!(
            read(json!({ "type": "email.open" })).unwrap_err().status,
            422
        );
        assert_eq!(
            read(json!({ "type": "email.teleported", "email_id": "m" }))
                .unwrap_err()
                .status,
            422
        );
    }
}
