//! Signing a message in its webhook's dialect: the headers that carry the signature, the
//! timestamp and the id. Standard Webhooks by default: `webhook-signature:
//! v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`, one per active secret,
//! space-separated. Pure: no I/O, no clock.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::HeaderName;
use sha2::Sha256;

use crate::domain::dialect::{Encoding, Part, SignatureDialect, Signatures, SigningKey};
use crate::domain::secret::SigningSecret;

/// The headers signing one message adds to its request.
pub fn signed_headers(
    dialect: &SignatureDialect,
    secrets: &[SigningSecret],
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(HeaderName, String)> {
    let fields = dialect.fields();
    let timestamp_text = timestamp.to_string();
    let signing: &[SigningSecret] = match fields.signatures {
        Signatures::All => secrets,
        // Secrets come newest first.
        Signatures::Oldest => secrets.last().map(std::slice::from_ref).unwrap_or_default(),
    };
    let separator = fields.separator.as_deref().unwrap_or_default();
    let mut value = String::new();
    if let Some(prefix) = &fields.signature_timestamp_prefix {
        value.push_str(prefix);
        value.push_str(&timestamp_text);
    }
    for secret in signing {
        if !value.is_empty() {
            value.push_str(separator);
        }
        let key = match fields.key {
            SigningKey::SecretBytes => secret.key(),
            SigningKey::SecretText => secret.expose().as_bytes(),
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        for part in dialect.signed_parts() {
            mac.update(match part {
                Part::Text(text) => text.as_bytes(),
                Part::Id => message_id.as_bytes(),
                Part::Timestamp => timestamp_text.as_bytes(),
                Part::Body => body,
            });
        }
        let digest = mac.finalize().into_bytes();
        value.push_str(&fields.signature_prefix);
        match fields.encoding {
            Encoding::Hex => value.push_str(&hex::encode(digest)),
            Encoding::Base64 => STANDARD.encode_string(digest, &mut value),
        }
    }
    let mut headers = vec![(dialect.signature_header().clone(), value)];
    if let Some(name) = dialect.timestamp_header() {
        headers.push((name.clone(), timestamp_text));
    }
    if let Some(name) = dialect.id_header() {
        headers.push((name.clone(), message_id.to_owned()));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(
        dialect: &str,
        secrets: &[SigningSecret],
        id: &str,
        ts: i64,
        body: &[u8],
    ) -> String {
        let dialect = SignatureDialect::preset(dialect).unwrap();
        let headers = signed_headers(&dialect, secrets, id, ts, body);
        headers[0].1.clone()
    }

    #[test]
    fn the_standard_webhooks_example_signs_as_published() {
        // The example from the Standard Webhooks specification.
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let dialect = SignatureDialect::default();
        let headers = signed_headers(
            &dialect,
            &[secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
        );
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(
            headers,
            [
                (
                    "webhook-signature",
                    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
                ),
                ("webhook-timestamp", "1614265330"),
                ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ]
        );
    }

    #[test]
    fn each_active_secret_adds_a_signature_where_the_dialect_lists_them() {
        let (a, b) = (SigningSecret::generate(), SigningSecret::generate());
        let both = signature(
            "standard-webhooks",
            &[a.clone(), b.clone()],
            "evt_1",
            1,
            b"{}",
        );
        assert_eq!(both.split(' ').count(), 2);
        assert!(both.starts_with(&signature(
            "standard-webhooks",
            std::slice::from_ref(&a),
            "evt_1",
            1,
            b"{}"
        )));

        let stripe = signature("stripe", &[a.clone(), b.clone()], "evt_1", 7, b"{}");
        assert_eq!(stripe.split(',').count(), 3);
        assert!(stripe.starts_with("t=7,v1="));

        // Secrets come newest first: the oldest is the one a single-value receiver has.
        let github = signature("github", &[a, b.clone()], "evt_1", 1, b"{}");
        assert_eq!(github, signature("github", &[b], "evt_1", 1, b"{}"));
    }
}
