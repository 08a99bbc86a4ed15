//! Email providers, as the tests play them: each signs its posts as its documentation says
//! (the test holds the secret or its own key pair), in the shapes its documentation shows,
//! with the test's own values. None shares code with seqhook's checks.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use reqwest::{RequestBuilder, Response};
use serde_json::{Value, json};
use sha2::Sha256;

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn hex_hmac(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Sends `body` to an ingest URL with the headers a provider adds.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Response {
    let mut request: RequestBuilder = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.expect("request")
}

/// Resend signs through Svix: Standard Webhooks under `svix-*` headers, made here with the
/// `standardwebhooks` crate.
pub fn resend_headers(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let signature = standardwebhooks::Webhook::new(secret)
        .unwrap()
        .sign(id, timestamp, body)
        .unwrap();
    vec![
        ("svix-id", id.to_owned()),
        ("svix-timestamp", timestamp.to_string()),
        ("svix-signature", signature),
    ]
}

/// A Resend event in its documented shape.
pub fn resend_event(event_type: &str, to: &str, extra: Value) -> Value {
    let mut data = json!({
        "created_at": "2026-12-01T10:00:00.000000+00:00",
        "email_id": "0d3e1f9a-5b6c-4d7e-8f90-a1b2c3d4e5f6",
        "from": "Ann Lee <ann@acme.io>",
        "to": [to],
        "subject": "Quick intro",
        "tags": { "campaign": "q4" },
    });
    for (key, value) in extra.as_object().unwrap() {
        data[key] = value.clone();
    }
    json!({ "type": event_type, "created_at": "2026-12-01T10:00:05.000Z", "data": data })
}

/// SendGrid's signed Event Webhook, with a key pair of the test's own.
pub struct SendGrid {
    key: SigningKey,
}

impl SendGrid {
    pub fn new(seed: u8) -> Self {
        let scalar = [seed; 32];
        Self {
            key: SigningKey::from_bytes(&scalar.into()).unwrap(),
        }
    }

    /// The verification key as SendGrid shows it: base64 of the DER public key (a P-256
    /// SubjectPublicKeyInfo: its fixed header, then the uncompressed point).
    pub fn public_key(&self) -> String {
        let mut der = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
        der.extend_from_slice(self.key.verifying_key().to_encoded_point(false).as_bytes());
        STANDARD.encode(der)
    }

    /// ECDSA P-256 / SHA-256 over the timestamp followed by the body, base64 of its DER.
    pub fn headers(&self, timestamp: i64, body: &[u8]) -> Vec<(&'static str, String)> {
        let mut signed = timestamp.to_string().into_bytes();
        signed.extend_from_slice(body);
        let signature: Signature = self.key.sign(&signed);
        vec![
            (
                "x-twilio-email-event-webhook-signature",
                STANDARD.encode(signature.to_der().as_bytes()),
            ),
            (
                "x-twilio-email-event-webhook-timestamp",
                timestamp.to_string(),
            ),
        ]
    }
}

/// A SendGrid event in its documented shape; a batch joins them with `\r\n`, as SendGrid
/// does.
pub fn sendgrid_event(event: &str, email: &str, id: &str, extra: Value) -> Value {
    let mut value = json!({
        "email": email,
        "timestamp": 1_764_583_200,
        "smtp-id": "<4f1c2a@ismtpd-1>",
        "event": event,
        "category": ["q4"],
        "sg_event_id": id,
        "sg_message_id": "4f1c2a.filter-1.1234.5",
    });
    for (key, field) in extra.as_object().unwrap() {
        value[key] = field.clone();
    }
    value
}

pub fn sendgrid_batch(events: &[Value]) -> Vec<u8> {
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    format!("[{}]\r\n", lines.join(",\r\n")).into_bytes()
}

/// A Mailgun post: its `signature` (hex HMAC-SHA256 of timestamp and token under the
/// signing key) beside the `event-data`.
pub fn mailgun_post(key: &str, timestamp: i64, token: &str, event_data: Value) -> Vec<u8> {
    let timestamp = timestamp.to_string();
    let signature = hex_hmac(key.as_bytes(), format!("{timestamp}{token}").as_bytes());
    json!({
        "signature": { "timestamp": timestamp, "token": token, "signature": signature },
        "event-data": event_data,
    })
    .to_string()
    .into_bytes()
}

pub fn mailgun_event(event: &str, recipient: &str, id: &str, extra: Value) -> Value {
    let mut value = json!({
        "event": event,
        "id": id,
        "timestamp": 1_764_583_200.512_3,
        "log-level": "info",
        "recipient": recipient,
        "recipient-domain": "northwind.example",
        "envelope": { "sender": "ann@acme.io", "targets": recipient, "transport": "smtp" },
        "message": { "headers": {
            "message-id": "20261201100000.abc123@acme.io",
            "from": "Ann Lee <ann@acme.io>",
            "to": recipient,
            "subject": "Quick intro",
        } },
        "tags": ["q4"],
        "user-variables": [],
    });
    for (key, field) in extra.as_object().unwrap() {
        value[key] = field.clone();
    }
    value
}

/// The generic shape, signed with the hex HMAC-SHA256 of the body in `X-Webhook-Signature`.
pub fn generic_headers(secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![("x-webhook-signature", hex_hmac(secret.as_bytes(), body))]
}

/// Basic auth as Postmark sends it, from the credentials in the ingest URL.
pub fn postmark_headers(ingest_url: &str) -> (String, Vec<(&'static str, String)>) {
    let url = reqwest::Url::parse(ingest_url).unwrap();
    let credentials = format!("{}:{}", url.username(), url.password().unwrap());
    let mut bare = url.clone();
    bare.set_username("").unwrap();
    bare.set_password(None).unwrap();
    let header = format!("Basic {}", STANDARD.encode(credentials));
    (bare.to_string(), vec![("authorization", header)])
}
