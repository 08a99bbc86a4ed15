//! Webhook signing secrets: `whsec_` and the base64 of 24 to 64 random bytes, as Standard
//! Webhooks spells them. Parsed once, kept with their key bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

const PREFIX: &str = "whsec_";

/// A webhook signing secret, `whsec_` + base64 of its key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret {
    text: String,
    key: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("a secret is `whsec_` followed by the base64 of 24 to 64 random bytes")]
pub struct InvalidSecret;

impl SigningSecret {
    /// What `parse` accepts, as the API document states it: `whsec_` and the canonical
    /// base64 of 24 to 64 bytes (padded, with no stray bits in the last character).
    pub const PATTERN: &str = "^whsec_(?:(?:[A-Za-z0-9+/]{4}){8,20}(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?|(?:[A-Za-z0-9+/]{4}){21}(?:[A-Za-z0-9+/][AQgw]==)?)$";

    pub fn generate() -> Self {
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self {
            text: format!("{PREFIX}{}", STANDARD.encode(&key)),
            key,
        }
    }

    pub fn parse(text: &str) -> Result<Self, InvalidSecret> {
        let encoded = text.strip_prefix(PREFIX).ok_or(InvalidSecret)?;
        let key = STANDARD.decode(encoded).map_err(|_| InvalidSecret)?;
        if !(24..=64).contains(&key.len()) {
            return Err(InvalidSecret);
        }
        Ok(Self {
            text: text.to_owned(),
            key,
        })
    }

    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The key bytes the HMAC is keyed with.
    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

impl utoipa::PartialSchema for SigningSecret {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let example = "whsec_Hky8yy+tpQ8Y+cHuHiwwyqtkeoCNpc9j+XO3FmIWRAE=";
        crate::schema::text(Self::PATTERN, 38..=94, example)
            .description(Some("`whsec_` and the base64 of 24 to 64 random bytes."))
            .into()
    }
}

impl utoipa::ToSchema for SigningSecret {}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The document's pattern promises this: what matches it is accepted.
        #[test]
        fn every_secret_the_document_allows_is_accepted(
            s in SigningSecret::PATTERN.trim_matches(['^', '$'])
        ) {
            prop_assert!(SigningSecret::parse(&s).is_ok(), "{s}");
        }
    }

    #[test]
    fn generated_secrets_match_the_documented_pattern() {
        let pattern = regex::Regex::new(SigningSecret::PATTERN).unwrap();
        for _ in 0..100 {
            assert!(pattern.is_match(SigningSecret::generate().expose()));
        }
    }

    #[test]
    fn malformed_secrets_are_refused() {
        for bad in [
            "",
            "whsec_",
            "whsec_!!!",
            "sk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_c2hvcnQ=",
        ] {
            assert!(SigningSecret::parse(bad).is_err(), "{bad}");
        }
    }
}
