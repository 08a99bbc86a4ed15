//! Receivers' own checks, one per signature format, written from each format's published
//! description (or a published library) and sharing nothing with seqhook's signer. Each
//! answers whether a request it received verifies with the secret it was configured with.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::receiver::Received;

/// The receiver's clock may be this far from the request's timestamp, as the formats'
/// libraries default to.
const TOLERANCE_SECS: i64 = 300;

fn header<'a>(request: &'a Received, name: &str) -> Option<&'a str> {
    request.headers.get(name)?.to_str().ok()
}

fn hex_hmac(secret: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

fn fresh(timestamp: &str) -> bool {
    timestamp
        .parse::<i64>()
        .is_ok_and(|at| (chrono::Utc::now().timestamp() - at).abs() <= TOLERANCE_SECS)
}

fn body_text(request: &Received) -> &str {
    std::str::from_utf8(&request.body).unwrap()
}

/// Standard Webhooks, with the `standardwebhooks` crate.
pub fn standard_webhooks(request: &Received, secret: &str) -> bool {
    request.verify(secret)
}

/// Stripe's `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`: HMAC-SHA256 keyed with the
/// endpoint secret as written, over `"{t}.{body}"`; any `v1` may match.
pub fn stripe(request: &Received, secret: &str) -> bool {
    let Some(value) = header(request, "stripe-signature") else {
        return false;
    };
    let items: Vec<(&str, &str)> = value
        .split(',')
        .filter_map(|item| item.split_once('='))
        .collect();
    let Some(&(_, timestamp)) = items.iter().find(|(key, _)| *key == "t") else {
        return false;
    };
    let signed = format!("{timestamp}.{}", body_text(request));
    let expected = hex_hmac(secret.as_bytes(), signed.as_bytes());
    fresh(timestamp)
        && items
            .iter()
            .any(|&(key, value)| key == "v1" && value == expected)
}

/// GitHub's `X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn github(request: &Received, secret: &str) -> bool {
    header(request, "x-hub-signature-256").is_some_and(|value| {
        value == format!("sha256={}", hex_hmac(secret.as_bytes(), &request.body))
    })
}

/// `X-Signature`: hex HMAC-SHA256 of `"{X-Timestamp}.{body}"`; `X-Event-Id` to dedupe.
pub fn x_signature(request: &Received, secret: &str) -> bool {
    let (Some(signature), Some(timestamp), Some(_id)) = (
        header(request, "x-signature"),
        header(request, "x-timestamp"),
        header(request, "x-event-id"),
    ) else {
        return false;
    };
    let signed = format!("{timestamp}.{}", body_text(request));
    fresh(timestamp) && signature == hex_hmac(secret.as_bytes(), signed.as_bytes())
}

/// `X-Webhook-Signature`: hex HMAC-SHA256 of the raw body.
pub fn x_webhook_signature(request: &Received, secret: &str) -> bool {
    header(request, "x-webhook-signature")
        .is_some_and(|signature| signature == hex_hmac(secret.as_bytes(), &request.body))
}

/// `X-Sequenzy-Signature`: a `v1=` digest per active secret, HMAC-SHA256 over
/// `"v1:{X-Sequenzy-Timestamp}:{body}"`; any may match.
pub fn sequenzy(request: &Received, secret: &str) -> bool {
    let (Some(signatures), Some(timestamp)) = (
        header(request, "x-sequenzy-signature"),
        header(request, "x-sequenzy-timestamp"),
    ) else {
        return false;
    };
    let signed = format!("v1:{timestamp}:{}", body_text(request));
    let expected = hex_hmac(secret.as_bytes(), signed.as_bytes());
    fresh(timestamp)
        && signatures
            .split([',', ' '])
            .filter_map(|item| item.strip_prefix("v1="))
            .any(|value| value == expected)
}

/// A receiver's check: whether the request verifies with the secret it was given.
pub type Check = fn(&Received, &str) -> bool;

/// Each preset's name with its receivers' check.
pub const PRESETS: [(&str, Check); 6] = [
    ("standard-webhooks", standard_webhooks),
    ("stripe", stripe),
    ("github", github),
    ("x-signature", x_signature),
    ("x-webhook-signature", x_webhook_signature),
    ("sequenzy", sequenzy),
];
