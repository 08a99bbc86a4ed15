//! SendGrid's signed Event Webhook: an ECDSA P-256 signature (base64 DER) over the
//! timestamp followed by the raw body, checked with the account's verification key (base64
//! DER). A post is a batch: a JSON array of events, each with its `sg_event_id`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::Value;

use super::{Post, bad_signature, fresh, required_header, text, unix_seconds};
use crate::sources::inbound::{Bounce, InboundEvent, Kind, Refused};

const SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
const TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";

/// The verification key as SendGrid shows it, checked when a source is registered.
pub fn verifying_key(text: &str) -> Result<VerifyingKey, String> {
    let der = STANDARD
        .decode(text.trim())
        .map_err(|_| "`publicKey` is not base64".to_owned())?;
    VerifyingKey::from_public_key_der(&der)
        .map_err(|_| "`publicKey` is not a DER-encoded P-256 public key".to_owned())
}

pub fn authenticate(
    key: &str,
    post: &Post<'_>,
    now: DateTime<Utc>,
) -> Result<Option<String>, Refused> {
    let signature = required_header(post, &[SIGNATURE])?;
    let timestamp = required_header(post, &[TIMESTAMP])?;
    fresh(timestamp, now)?;
    let key = verifying_key(key).map_err(|why| {
        Refused::unauthenticated("invalid_signature", format!("the source's {why}"))
    })?;
    let signature = STANDARD
        .decode(signature)
        .ok()
        .and_then(|der| Signature::from_der(&der).ok())
        .ok_or_else(bad_signature)?;
    let mut signed = Vec::with_capacity(timestamp.len() + post.body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(post.body);
    key.verify(&signed, &signature)
        .map_err(|_| bad_signature())?;
    // Both (r, s) and (r, n − s) verify: the low-S form names the signature, so its mirror
    // is the same post, not a new one.
    let signature = signature.normalize_s().unwrap_or(signature);
    Ok(Some(format!(
        "{timestamp}.{}",
        STANDARD.encode(signature.to_bytes())
    )))
}

pub fn events(body: Value) -> Result<Vec<InboundEvent>, Refused> {
    let Value::Array(events) = body else {
        return Err(Refused::malformed(
            "a SendGrid post is a JSON array of events",
        ));
    };
    events
        .into_iter()
        .enumerate()
        .map(|(i, raw)| event(i, raw))
        .collect()
}

fn event(index: usize, raw: Value) -> Result<InboundEvent, Refused> {
    let what = format!("SendGrid event {index}");
    let id = text(&raw, "/sg_event_id")
        .ok_or_else(|| Refused::unmappable(format!("{what} has no `sg_event_id`")))?;
    let event_type = text(&raw, "/event")
        .ok_or_else(|| Refused::unmappable(format!("{what} has no `event`")))?;
    let kind = match event_type.as_str() {
        "processed" => Kind::Sent,
        "delivered" => Kind::Delivered,
        "deferred" => Kind::Deferred,
        // Dropped: SendGrid would not send to the address (it bounced or was suppressed
        // before), which a sequencer treats as a hard bounce.
        "bounce" | "dropped" => Kind::Bounced {
            bounce: match text(&raw, "/type").as_deref() {
                Some("blocked") => Bounce::Soft,
                _ => Bounce::Hard,
            },
            status: text(&raw, "/status"),
        },
        "open" => Kind::Opened,
        "click" => Kind::Clicked {
            url: text(&raw, "/url")
                .ok_or_else(|| Refused::unmappable(format!("{what} is a click with no `url`")))?,
        },
        "spamreport" => Kind::Complained,
        "unsubscribe" | "group_unsubscribe" => Kind::Unsubscribed,
        other => {
            return Err(Refused::unmappable(format!(
                "{what}: `{other}` has no seqhook event type"
            )));
        }
    };
    let seconds = raw
        .get("timestamp")
        .and_then(Value::as_f64)
        .ok_or_else(|| Refused::unmappable(format!("{what} has no numeric `timestamp`")))?;
    Ok(InboundEvent {
        kind,
        provider_event_id: id,
        message_id: text(&raw, "/sg_message_id"),
        recipient: text(&raw, "/email"),
        sender: None,
        subject: None,
        reason: text(&raw, "/reason").or_else(|| text(&raw, "/response")),
        at: Some(unix_seconds(seconds, &what)?),
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SendGrid's own published example (its SDKs' tests): a high-S signature, which a
    /// verifier insisting on low-S would refuse although SendGrid sends such.
    #[test]
    fn sendgrids_published_example_verifies() {
        let key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
        let signature = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
        let body = concat!(
            r#"[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]"#,
            "\r\n"
        );
        let mut headers = http::HeaderMap::new();
        headers.insert(SIGNATURE, signature.parse().unwrap());
        headers.insert(TIMESTAMP, "1600112502".parse().unwrap());
        let post = Post {
            headers: &headers,
            body: body.as_bytes(),
        };
        let then = DateTime::from_timestamp(1600112502, 0).unwrap();
        assert!(authenticate(key, &post, then).is_ok());
        let tampered = Post {
            headers: &headers,
            body: &body.as_bytes()[..body.len() - 2],
        };
        assert_eq!(
            authenticate(key, &tampered, then).unwrap_err().code,
            "invalid_signature"
        );
        let later = then + chrono::Duration::minutes(6);
        assert_eq!(
            authenticate(key, &post, later).unwrap_err().code,
            "stale_timestamp"
        );
    }

    #[test]
    fn every_documented_event_has_its_type() {
        use serde_json::json;
        let batch: Vec<Value> = [
            ("processed", json!({})),
            (
                "dropped",
                json!({ "reason": "Bounced Address", "status": "5.0.0" }),
            ),
            ("delivered", json!({ "response": "250 OK" })),
            (
                "deferred",
                json!({ "response": "400 try again later", "attempt": "5" }),
            ),
            (
                "bounce",
                json!({ "reason": "500 unknown recipient", "status": "5.0.0", "type": "bounce" }),
            ),
            (
                "bounce",
                json!({ "reason": "blocked", "status": "4.0.0", "type": "blocked" }),
            ),
            (
                "open",
                json!({ "useragent": "Mozilla/5.0", "ip": "192.0.2.1" }),
            ),
            (
                "click",
                json!({ "url": "https://acme.io", "url_offset": { "index": 0, "type": "html" } }),
            ),
            ("spamreport", json!({})),
            ("unsubscribe", json!({})),
            ("group_unsubscribe", json!({ "asm_group_id": 10 })),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (name, extra))| {
            let mut event = json!({ "email": "bo@example.com", "timestamp": 1_513_299_569,
                "smtp-id": "<x@ismtpd>", "event": name, "category": "cat facts",
                "sg_event_id": format!("id-{i}"), "sg_message_id": "m-1" });
            for (key, value) in extra.as_object().unwrap() {
                event[key] = value.clone();
            }
            event
        })
        .collect();
        let hard = |status: &str| Kind::Bounced {
            bounce: Bounce::Hard,
            status: Some(status.into()),
        };
        let kinds: Vec<Kind> = events(Value::Array(batch))
            .unwrap()
            .into_iter()
            .map(|event| event.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                Kind::Sent,
                hard("5.0.0"),
                Kind::Delivered,
                Kind::Deferred,
                hard("5.0.0"),
                Kind::Bounced {
                    bounce: Bounce::Soft,
                    status: Some("4.0.0".into())
                },
                Kind::Opened,
                Kind::Clicked {
                    url: "https://acme.io".into()
                },
                Kind::Complained,
                Kind::Unsubscribed,
                Kind::Unsubscribed,
            ]
        );
        let resubscribe = json!([{ "email": "bo@example.com", "timestamp": 1, "event": "group_resubscribe", "sg_event_id": "x" }]);
        assert_eq!(events(resubscribe).unwrap_err().status, 422);
        assert_eq!(events(json!({ "event": "open" })).unwrap_err().status, 400);
    }
}
