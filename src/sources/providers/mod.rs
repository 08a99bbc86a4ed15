//! Each provider's post: how it is authenticated (its signature, or basic auth) and how its
//! events are read. What they share is here.

mod generic;
mod mailgun;
mod postmark;
mod resend;
mod sendgrid;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::inbound::{InboundEvent, Refused};
use crate::domain::source::{Credential, Provider, Source};
pub use sendgrid::verifying_key as sendgrid_key;

/// How far a signed post's timestamp may be from the server's clock, either way.
pub const TOLERANCE_SECS: i64 = 300;

/// A post as it arrived.
pub struct Post<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Checks that the post comes from the source's provider. Answers the post's fingerprint
/// where the same post sent again could be told apart from a provider's retry (which
/// signs afresh): a fingerprint already seen is a replay.
pub fn authenticate(
    source: &Source,
    post: &Post<'_>,
    now: DateTime<Utc>,
) -> Result<Option<String>, Refused> {
    match (&source.credential, source.provider) {
        (Credential::Standard(secret), Provider::Resend) => resend::authenticate(secret, post, now),
        (Credential::PublicKey(key), Provider::Sendgrid) => sendgrid::authenticate(key, post, now),
        (Credential::Hmac(key), Provider::Mailgun) => mailgun::authenticate(key, post, now),
        (Credential::BasicAuth(hash), Provider::Postmark) => postmark::authenticate(hash, post),
        (Credential::Hmac(key), Provider::Generic) => generic::authenticate(key, post),
        _ => Err(Refused::unauthenticated(
            "invalid_signature",
            "the source's credential does not fit its provider",
        )),
    }
}

/// The post's events, read.
pub fn events(provider: Provider, post: &Post<'_>) -> Result<Vec<InboundEvent>, Refused> {
    let body: Value = serde_json::from_slice(post.body)
        .map_err(|error| Refused::malformed(format!("the body is not JSON: {error}")))?;
    match provider {
        Provider::Resend => resend::events(post, body).map(|event| vec![event]),
        Provider::Sendgrid => sendgrid::events(body),
        Provider::Mailgun => mailgun::events(body).map(|event| vec![event]),
        Provider::Postmark => postmark::events(body).map(|event| vec![event]),
        Provider::Generic => generic::events(body).map(|event| vec![event]),
    }
}

fn header<'a>(post: &'a Post<'_>, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| post.headers.get(*name)?.to_str().ok())
        .map(str::trim)
}

fn required_header<'a>(post: &'a Post<'_>, names: &[&str]) -> Result<&'a str, Refused> {
    header(post, names).ok_or_else(|| {
        Refused::unauthenticated("missing_signature", format!("no `{}` header", names[0]))
    })
}

/// A timestamp of unix seconds within the tolerance of `now`.
fn fresh(timestamp: &str, now: DateTime<Utc>) -> Result<(), Refused> {
    let at: i64 = timestamp.trim().parse().map_err(|_| {
        Refused::unauthenticated(
            "invalid_signature",
            format!("`{timestamp}` is not a unix timestamp"),
        )
    })?;
    if now.timestamp().abs_diff(at) > TOLERANCE_SECS.unsigned_abs() {
        return Err(Refused::unauthenticated(
            "stale_timestamp",
            format!(
                "the post was signed at {at}, more than {TOLERANCE_SECS} s from now ({}): a replay, or a clock far off",
                now.timestamp()
            ),
        ));
    }
    Ok(())
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Compares without an early exit.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

fn bad_signature() -> Refused {
    Refused::unauthenticated(
        "invalid_signature",
        "the signature does not match the source's secret",
    )
}

/// A string field, or absent.
fn text(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn rfc3339(value: &Value, pointer: &str, what: &str) -> Result<DateTime<Utc>, Refused> {
    let text = text(value, pointer)
        .ok_or_else(|| Refused::unmappable(format!("{what} has no `{pointer}` time")))?;
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| Refused::unmappable(format!("{what}: `{text}` is not an RFC 3339 time")))
}

fn unix_seconds(seconds: f64, what: &str) -> Result<DateTime<Utc>, Refused> {
    DateTime::from_timestamp_millis((seconds * 1000.0) as i64)
        .filter(|_| seconds.is_finite() && seconds >= 0.0)
        .ok_or_else(|| Refused::unmappable(format!("{what}: {seconds} is not a time")))
}
