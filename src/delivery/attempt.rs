//! One HTTP attempt: sign, POST, read at most 1 KiB of the answer, time it. Never inside a
//! database transaction.

use std::time::Instant;

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use super::schedule::{Response, parse_retry_after};
use super::signature::signed_headers;
use crate::domain::delivery::Attempt;
use crate::domain::dialect::SignatureDialect;
use crate::domain::secret::SigningSecret;
use crate::domain::target::is_public;

const KEPT_BODY: usize = 1024;

/// A signed message ready to send.
pub struct Message<'a> {
    pub url: &'a reqwest::Url,
    pub id: &'a str,
    pub body: Vec<u8>,
    pub secrets: &'a [SigningSecret],
    pub dialect: &'a SignatureDialect,
}

pub async fn send(
    client: &reqwest::Client,
    message: Message<'_>,
    now: DateTime<Utc>,
    allow_private: bool,
) -> (Attempt, Response) {
    let started = Instant::now();
    // Receivers check the timestamp against their own clock, so it is the wall clock's even
    // when the scheduling clock is a test's.
    let timestamp = Utc::now().timestamp();
    let failed = |error: String| {
        let attempt = Attempt {
            at: now,
            duration_ms: elapsed_ms(started),
            status_code: None,
            error: Some(error),
            response_body: None,
        };
        (attempt, Response::NoResponse)
    };
    // The resolver screens host names at connect time; an address written into the URL
    // never reaches it, so it is screened here.
    if !allow_private {
        let literal = match message.url.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if literal.is_some_and(|ip| !is_public(ip)) {
            return failed("the URL points at a private address".into());
        }
    }
    let mut request = client
        .post(message.url.clone())
        .header(CONTENT_TYPE, "application/json");
    for (name, value) in signed_headers(
        message.dialect,
        message.secrets,
        message.id,
        timestamp,
        &message.body,
    ) {
        request = request.header(name, value);
    }
    let sent = request.body(message.body).send().await;
    let mut response = match sent {
        Ok(response) => response,
        Err(error) => return failed(describe(&error)),
    };
    let code = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, now));
    let mut body = Vec::new();
    while body.len() < KEPT_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(KEPT_BODY - body.len())])
            }
            Ok(None) | Err(_) => break,
        }
    }
    let attempt = Attempt {
        at: now,
        duration_ms: elapsed_ms(started),
        status_code: Some(code),
        error: None,
        response_body: (!body.is_empty()).then(|| storable(&body)),
    };
    (attempt, Response::Status { code, retry_after })
}

/// A receiver's answer as text the delivery log can keep on either database: invalid UTF-8
/// and NUL (which PostgreSQL text cannot hold, and which would fail the whole batch of
/// records it is written in) become U+FFFD.
fn storable(body: &[u8]) -> String {
    String::from_utf8_lossy(body).replace('\0', "\u{FFFD}")
}

fn elapsed_ms(started: Instant) -> u32 {
    started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32
}

fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_kept_as_text_either_database_can_store() {
        assert_eq!(storable(b"ok"), "ok");
        assert_eq!(storable(b"a\0b"), "a\u{FFFD}b");
        assert_eq!(storable(&[0x61, 0xff]), "a\u{FFFD}");
    }
}
