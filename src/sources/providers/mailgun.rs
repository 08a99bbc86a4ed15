//! Mailgun: the post carries its own signature, `signature: {timestamp, token,
//! signature}`, the hex HMAC-SHA256 of the timestamp and token under the domain's webhook
//! signing key, beside `event-data`. The signature covers no body, so a token is taken once.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Post, bad_signature, fresh, hmac_sha256, same, text, unix_seconds};
use crate::sources::inbound::{Bounce, InboundEvent, Kind, Refused};

pub fn authenticate(
    key: &str,
    post: &Post<'_>,
    now: DateTime<Utc>,
) -> Result<Option<String>, Refused> {
    let body: Value = serde_json::from_slice(post.body).map_err(|_| {
        Refused::unauthenticated(
            "missing_signature",
            "the body is not JSON carrying a `signature`",
        )
    })?;
    let field = |name: &str| {
        text(&body, &format!("/signature/{name}")).ok_or_else(|| {
            Refused::unauthenticated("missing_signature", format!("no `signature.{name}`"))
        })
    };
    let (timestamp, token, signature) = (field("timestamp")?, field("token")?, field("signature")?);
    fresh(&timestamp, now)?;
    let expected = hmac_sha256(key.as_bytes(), &[timestamp.as_bytes(), token.as_bytes()]);
    let given = hex::decode(&signature).map_err(|_| bad_signature())?;
    if !same(&given, &expected) {
        return Err(bad_signature());
    }
    Ok(Some(token))
}

pub fn events(body: Value) -> Result<InboundEvent, Refused> {
    let Some(raw) = body.get("event-data").cloned() else {
        return Err(Refused::malformed("a Mailgun post has `event-data`"));
    };
    let event_type =
        text(&raw, "/event").ok_or_else(|| Refused::unmappable("the event has no `event`"))?;
    let what = format!("Mailgun's `{event_type}` event");
    let kind = match event_type.as_str() {
        "accepted" => Kind::Sent,
        "delivered" => Kind::Delivered,
        "failed" if text(&raw, "/severity").as_deref() == Some("temporary") => Kind::Deferred,
        "failed" => Kind::Bounced {
            bounce: match text(&raw, "/delivery-status/bounce-type").as_deref() {
                Some("soft") => Bounce::Soft,
                Some("hard") => Bounce::Hard,
                _ => Bounce::Unknown,
            },
            status: text(&raw, "/delivery-status/enhanced-code"),
        },
        "opened" => Kind::Opened,
        "clicked" => Kind::Clicked {
            url: text(&raw, "/url")
                .ok_or_else(|| Refused::unmappable(format!("{what} has no `url`")))?,
        },
        "complained" => Kind::Complained,
        "unsubscribed" => Kind::Unsubscribed,
        _ => {
            return Err(Refused::unmappable(format!(
                "{what} has no seqhook event type"
            )));
        }
    };
    let seconds = raw
        .get("timestamp")
        .and_then(Value::as_f64)
        .ok_or_else(|| Refused::unmappable(format!("{what} has no numeric `timestamp`")))?;
    let at = unix_seconds(seconds, &what)?;
    let id = text(&raw, "/id").ok_or_else(|| Refused::unmappable(format!("{what} has no `id`")))?;
    Ok(InboundEvent {
        kind,
        // Mailgun's event ids are unique within a day.
        provider_event_id: format!("{id}:{}", at.format("%Y-%m-%d")),
        message_id: text(&raw, "/message/headers/message-id"),
        recipient: text(&raw, "/recipient"),
        sender: text(&raw, "/envelope/sender").or_else(|| text(&raw, "/message/headers/from")),
        subject: text(&raw, "/message/headers/subject"),
        reason: text(&raw, "/delivery-status/message").or_else(|| text(&raw, "/reason")),
        at: Some(at),
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mailgun's published example (its PHP SDK's test).
    #[test]
    fn mailguns_published_example_verifies() {
        let body = serde_json::json!({
            "signature": {
                "timestamp": "1403645220",
                "token": "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6",
                "signature": "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33",
            },
            "event-data": {},
        })
        .to_string();
        let headers = http::HeaderMap::new();
        let post = Post {
            headers: &headers,
            body: body.as_bytes(),
        };
        let then = DateTime::from_timestamp(1403645220, 0).unwrap();
        let key = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
        assert!(authenticate(key, &post, then).is_ok());
        assert_eq!(
            authenticate("key-other", &post, then).unwrap_err().code,
            "invalid_signature"
        );
    }

    #[test]
    fn every_documented_event_has_its_type() {
        use serde_json::json;
        let event = |name: &str, extra: Value| {
            let mut data = json!({ "event": name, "id": "ev-1", "timestamp": 1_764_583_200.5,
                "recipient": "bo@example.com", "envelope": { "sender": "ann@acme.io" },
                "message": { "headers": { "message-id": "m-1@acme.io", "subject": "Hi" } } });
            for (key, value) in extra.as_object().unwrap() {
                data[key] = value.clone();
            }
            events(json!({ "signature": {}, "event-data": data }))
        };
        for (name, extra, kind) in [
            ("accepted", json!({}), Kind::Sent),
            ("delivered", json!({}), Kind::Delivered),
            ("failed", json!({ "severity": "temporary" }), Kind::Deferred),
            (
                "failed",
                json!({ "severity": "permanent", "delivery-status": { "bounce-type": "hard", "enhanced-code": "5.1.1" } }),
                Kind::Bounced {
                    bounce: Bounce::Hard,
                    status: Some("5.1.1".into()),
                },
            ),
            ("opened", json!({}), Kind::Opened),
            (
                "clicked",
                json!({ "url": "https://acme.io" }),
                Kind::Clicked {
                    url: "https://acme.io".into(),
                },
            ),
            ("complained", json!({}), Kind::Complained),
            ("unsubscribed", json!({}), Kind::Unsubscribed),
        ] {
            let read = event(name, extra).unwrap();
            assert_eq!(read.kind, kind, "{name}");
            assert_eq!(read.provider_event_id, "ev-1:2025-12-01");
            assert_eq!(read.sender.as_deref(), Some("ann@acme.io"));
        }
        assert_eq!(event("stored", json!({})).unwrap_err().status, 422);
        assert_eq!(events(json!({ "signature": {} })).unwrap_err().status, 400);
    }
}
