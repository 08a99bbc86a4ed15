//! Resend posts through Svix: Standard Webhooks signatures under `svix-*` headers (the
//! unbranded `webhook-*` ones are taken too), one event per post, `svix-id` stable across
//! retries.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Post, bad_signature, fresh, hmac_sha256, required_header, rfc3339, same, text};
use crate::domain::secret::SigningSecret;
use crate::sources::inbound::{Bounce, InboundEvent, Kind, Refused};

const ID: [&str; 2] = ["svix-id", "webhook-id"];

pub fn authenticate(
    secret: &SigningSecret,
    post: &Post<'_>,
    now: DateTime<Utc>,
) -> Result<Option<String>, Refused> {
    let id = required_header(post, &ID)?;
    let timestamp = required_header(post, &["svix-timestamp", "webhook-timestamp"])?;
    let signatures = required_header(post, &["svix-signature", "webhook-signature"])?;
    fresh(timestamp, now)?;
    let expected = hmac_sha256(
        secret.key(),
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", post.body],
    );
    let matched = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .any(|signature| same(&signature, &expected));
    if !matched {
        return Err(bad_signature());
    }
    // Svix signs each retry afresh; the same id, timestamp and signature again is a replay.
    Ok(Some(format!("{id}.{timestamp}")))
}

pub fn events(post: &Post<'_>, body: Value) -> Result<InboundEvent, Refused> {
    let id = super::header(post, &ID).unwrap_or_default().to_owned();
    let event_type =
        text(&body, "/type").ok_or_else(|| Refused::unmappable("the post has no `type`"))?;
    let what = format!("Resend's `{event_type}` event");
    let kind = match event_type.as_str() {
        "email.sent" => Kind::Sent,
        "email.delivered" => Kind::Delivered,
        "email.delivery_delayed" => Kind::Deferred,
        "email.bounced" => Kind::Bounced {
            bounce: match text(&body, "/data/bounce/type").as_deref() {
                Some("Permanent") => Bounce::Hard,
                Some("Transient") => Bounce::Soft,
                _ => Bounce::Unknown,
            },
            status: None,
        },
        "email.complained" => Kind::Complained,
        "email.opened" => Kind::Opened,
        "email.clicked" => Kind::Clicked {
            url: text(&body, "/data/click/link")
                .ok_or_else(|| Refused::unmappable(format!("{what} has no `data.click.link`")))?,
        },
        _ => {
            return Err(Refused::unmappable(format!(
                "{what} has no seqhook event type (sent, delivered, delivery_delayed, bounced, complained, opened and clicked do)"
            )));
        }
    };
    let recipient = match body.pointer("/data/to") {
        Some(Value::Array(to)) => to.first().and_then(Value::as_str).map(str::to_owned),
        Some(Value::String(to)) => Some(to.clone()),
        _ => None,
    };
    Ok(InboundEvent {
        kind,
        provider_event_id: id,
        message_id: text(&body, "/data/email_id"),
        recipient,
        sender: text(&body, "/data/from"),
        subject: text(&body, "/data/subject"),
        reason: text(&body, "/data/bounce/message"),
        at: Some(rfc3339(&body, "/created_at", &what)?),
        raw: body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(event_type: &str, extra: Value) -> Result<InboundEvent, Refused> {
        let mut headers = http::HeaderMap::new();
        headers.insert("svix-id", "msg_1".parse().unwrap());
        let post = Post {
            headers: &headers,
            body: b"",
        };
        let mut data = json!({
            "created_at": "2026-12-01T10:00:00.000000+00:00",
            "email_id": "e-1", "from": "Ann <ann@acme.io>", "to": ["bo@example.com"],
            "subject": "Hi", "tags": [{ "name": "q4", "value": "1" }],
        });
        for (key, value) in extra.as_object().unwrap() {
            data[key] = value.clone();
        }
        events(
            &post,
            json!({ "type": event_type, "created_at": "2026-12-01T10:00:01.000Z", "data": data }),
        )
    }

    #[test]
    fn every_documented_email_event_has_its_type() {
        let click = json!({ "click": { "link": "https://acme.io", "ipAddress": "192.0.2.1" } });
        let bounce =
            json!({ "bounce": { "type": "Permanent", "subType": "General", "message": "gone" } });
        for (event_type, extra, kind) in [
            ("email.sent", json!({}), Kind::Sent),
            ("email.delivered", json!({}), Kind::Delivered),
            ("email.delivery_delayed", json!({}), Kind::Deferred),
            ("email.complained", json!({}), Kind::Complained),
            ("email.opened", json!({}), Kind::Opened),
            (
                "email.clicked",
                click,
                Kind::Clicked {
                    url: "https://acme.io".into(),
                },
            ),
            (
                "email.bounced",
                bounce,
                Kind::Bounced {
                    bounce: Bounce::Hard,
                    status: None,
                },
            ),
        ] {
            let event = read(event_type, extra).unwrap();
            assert_eq!(event.kind, kind, "{event_type}");
            assert_eq!(event.provider_event_id, "msg_1");
            assert_eq!(event.recipient.as_deref(), Some("bo@example.com"));
            assert_eq!(event.message_id.as_deref(), Some("e-1"));
        }
        assert_eq!(read("email.failed", json!({})).unwrap_err().status, 422);
        assert_eq!(read("email.clicked", json!({})).unwrap_err().status, 422);
    }
}
