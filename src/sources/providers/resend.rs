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
