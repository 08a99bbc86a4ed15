//! An inbound source: an email provider's event webhook pointed at seqhook. Which provider,
//! what checks its posts (the provider's signing secret or public key, or basic-auth
//! credentials), and where each event's identity is found in it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::key::KeyHash;
use super::secret::SigningSecret;
use crate::id::{SourceId, TenantId};

/// The providers whose posts a source takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Standard Webhooks headers (`svix-id`, `svix-timestamp`, `svix-signature`).
    Resend,
    /// The signed Event Webhook: ECDSA P-256 over the timestamp and the body.
    Sendgrid,
    /// HMAC-SHA256 of the timestamp and token in the body.
    Mailgun,
    /// Basic auth in the URL.
    Postmark,
    /// `{type, email_id, recipient, timestamp}`, hex HMAC-SHA256 of the body in
    /// `X-Webhook-Signature`.
    Generic,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Resend => "resend",
            Provider::Sendgrid => "sendgrid",
            Provider::Mailgun => "mailgun",
            Provider::Postmark => "postmark",
            Provider::Generic => "generic",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Provider::Resend,
            Provider::Sendgrid,
            Provider::Mailgun,
            Provider::Postmark,
            Provider::Generic,
        ]
        .into_iter()
        .find(|provider| provider.as_str() == text)
    }

    /// Whether the provider's events say who sent the message.
    pub fn knows_sender(self) -> bool {
        matches!(
            self,
            Provider::Resend | Provider::Mailgun | Provider::Postmark
        )
    }
}

/// What the document states of a source's fields; `sources::credentials` enforces them.
pub const SHARED_SECRET_PATTERN: &str = "^[!-~]{16,256}$";
/// A base64 DER P-256 public key: the fixed SubjectPublicKeyInfo header, an uncompressed point.
pub const PUBLIC_KEY_PATTERN: &str =
    "^MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE[A-Za-z0-9+/]{84}[A-Za-z0-9+/][AQgw]==$";
pub const BASIC_AUTH_PATTERN: &str = "^[A-Za-z0-9._~-]{1,128}$";
pub const IDENTITY_PATTERN: &str = "^(recipient|sender|/[^\\x00\\n]{0,255})$";
pub const IDENTITY_WITHOUT_SENDER_PATTERN: &str = "^(recipient|/[^\\x00\\n]{0,255})$";

/// Where an event's identity handle is found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityFrom {
    Recipient,
    Sender,
    /// A JSON pointer into the provider's event, as kept under `source`.
    Pointer(String),
}

impl IdentityFrom {
    pub fn parse(text: &str) -> Result<Self, InvalidSource> {
        match text {
            "recipient" => Ok(Self::Recipient),
            "sender" => Ok(Self::Sender),
            pointer
                if pointer.starts_with('/')
                    && pointer.chars().count() <= 256
                    && !pointer.contains(['\0', '\n']) =>
            {
                Ok(Self::Pointer(pointer.to_owned()))
            }
            _ => Err(InvalidSource::new(
                "`identity` is `recipient`, `sender`, or a JSON pointer such as `/custom_args/mailbox` (at most 256 characters, on one line)",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Recipient => "recipient",
            Self::Sender => "sender",
            Self::Pointer(pointer) => pointer,
        }
    }
}

/// What checks a source's posts.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Resend's `whsec_…` secret, keyed as Standard Webhooks keys it.
    Standard(SigningSecret),
    /// An HMAC key as the provider shows it (Mailgun's signing key, the generic secret).
    Hmac(String),
    /// SendGrid's verification key: base64 of a DER P-256 public key.
    PublicKey(String),
    /// Basic auth: the hash of `user:password`.
    BasicAuth(KeyHash),
}

impl Credential {
    /// As stored.
    pub fn stored(&self) -> String {
        match self {
            Credential::Standard(secret) => secret.expose().to_owned(),
            Credential::Hmac(key) | Credential::PublicKey(key) => key.clone(),
            Credential::BasicAuth(hash) => STANDARD.encode(hash.0),
        }
    }

    pub fn from_stored(provider: Provider, text: &str) -> Result<Self, InvalidSource> {
        let corrupt = || InvalidSource::new("a stored credential does not read back");
        Ok(match provider {
            Provider::Resend => {
                Credential::Standard(SigningSecret::parse(text).map_err(|_| corrupt())?)
            }
            Provider::Mailgun | Provider::Generic => Credential::Hmac(text.to_owned()),
            Provider::Sendgrid => Credential::PublicKey(text.to_owned()),
            Provider::Postmark => {
                let bytes = STANDARD.decode(text).map_err(|_| corrupt())?;
                Credential::BasicAuth(KeyHash(bytes.try_into().map_err(|_| corrupt())?))
            }
        })
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(…)")
    }
}

#[derive(Clone, Debug)]
pub struct Source {
    pub id: SourceId,
    pub tenant_id: TenantId,
    pub provider: Provider,
    pub credential: Credential,
    pub identity: IdentityFrom,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

/// A registered source, without what checks its posts.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceView<'a> {
    id: SourceId,
    provider: Provider,
    /// `recipient`, `sender`, or a JSON pointer into the provider's event.
    #[schema(example = "recipient")]
    identity: &'a str,
    description: &'a str,
    /// Where the provider posts (with its basic-auth credentials for Postmark, shown only
    /// when the source is created).
    #[schema(
        format = "uri",
        example = "https://seqhook.example.com/v1/ingest/src_01HF6YJZ4N0K3W2X9CPM7B8DG2"
    )]
    ingest_url: String,
    #[schema(format = DateTime, example = "2026-04-27T11:55:29.000Z")]
    created_at: String,
}

impl Source {
    pub fn view(&self, ingest_url: String) -> SourceView<'_> {
        SourceView {
            id: self.id,
            provider: self.provider,
            identity: self.identity.as_str(),
            description: &self.description,
            ingest_url,
            created_at: crate::timestamp::format(&self.created_at),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSource(pub String);

impl InvalidSource {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A post a source refused, as its log keeps it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    #[schema(format = DateTime, example = "2026-04-27T11:55:29.000Z")]
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub at: DateTime<Utc>,
    /// The status the post was answered with.
    #[schema(example = 401)]
    pub status: u16,
    #[schema(example = "invalid_signature")]
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The document's pattern promises this: what matches it is accepted.
        #[test]
        fn every_identity_the_document_allows_is_accepted(
            identity in IDENTITY_PATTERN.trim_matches(['^', '$'])
        ) {
            prop_assert!(IdentityFrom::parse(&identity).is_ok(), "{identity:?}");
        }
    }

    #[test]
    fn bad_identities_are_refused() {
        for bad in [
            "",
            "to",
            "recipient ",
            "custom_args/mailbox",
            "/a\nb",
            "/a\0b",
        ] {
            assert!(IdentityFrom::parse(bad).is_err(), "{bad:?}");
        }
        assert!(IdentityFrom::parse(&format!("/{}", "é".repeat(255))).is_ok());
        assert!(IdentityFrom::parse(&format!("/{}", "x".repeat(256))).is_err());
    }
}
