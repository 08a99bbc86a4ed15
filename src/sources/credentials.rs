//! What checks a source's posts, from what the client gave for its provider: each
//! provider takes its own credential and refuses the others', and what seqhook makes up is
//! handed back once.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;

use super::{Issued, SourceError, invalid, providers};
use crate::domain::key::KeyHash;
use crate::domain::secret::SigningSecret;
use crate::domain::source::{Credential, Provider};

/// The DER of a P-256 SubjectPublicKeyInfo up to its point's coordinates.
const P256_KEY_HEADER: [u8; 27] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
];

/// What checks the provider's posts, from what the client gave for it.
pub(super) fn credential(
    provider: Provider,
    secret: Option<String>,
    public_key: Option<String>,
    username: Option<String>,
    password: Option<String>,
) -> Result<(Credential, Issued), SourceError> {
    let not_for = |field: &str| {
        invalid(
            "invalid_credentials",
            format!("`{field}` is not used by {} sources", provider.as_str()),
        )
    };
    let needs = |field: &str, what: &str| {
        invalid(
            "invalid_credentials",
            format!("{} sources need `{field}`: {what}", provider.as_str()),
        )
    };
    if public_key.is_some() && provider != Provider::Sendgrid {
        return Err(not_for("publicKey"));
    }
    if (username.is_some() || password.is_some()) && provider != Provider::Postmark {
        return Err(not_for(if username.is_some() {
            "username"
        } else {
            "password"
        }));
    }
    if secret.is_some() && matches!(provider, Provider::Sendgrid | Provider::Postmark) {
        return Err(not_for("secret"));
    }
    let mut issued = Issued::default();
    let credential = match provider {
        Provider::Resend => {
            let secret = secret.ok_or_else(|| {
                needs(
                    "secret",
                    "the webhook's signing secret (`whsec_…`) from Resend",
                )
            })?;
            Credential::Standard(
                SigningSecret::parse(&secret)
                    .map_err(|error| invalid("invalid_credentials", error.to_string()))?,
            )
        }
        Provider::Sendgrid => {
            let key = public_key
                .ok_or_else(|| needs("publicKey", "the signed Event Webhook's verification key"))?;
            providers::sendgrid_key(&key).map_err(|why| {
                // A key of the right shape whose point is not on the curve: no pattern can
                // tell it, so it has a code of its own.
                let shaped = STANDARD
                    .decode(key.trim())
                    .is_ok_and(|der| der.len() == 91 && der.starts_with(&P256_KEY_HEADER));
                invalid(
                    if shaped {
                        "invalid_public_key"
                    } else {
                        "invalid_credentials"
                    },
                    why,
                )
            })?;
            Credential::PublicKey(key.trim().to_owned())
        }
        Provider::Mailgun => {
            let key =
                secret.ok_or_else(|| needs("secret", "the domain's HTTP webhook signing key"))?;
            Credential::Hmac(shared_secret(key)?)
        }
        Provider::Generic => match secret {
            Some(key) => Credential::Hmac(shared_secret(key)?),
            None => {
                let key = random_text();
                issued.secret = Some(key.clone());
                Credential::Hmac(key)
            }
        },
        Provider::Postmark => {
            let username = username.unwrap_or_else(|| "seqhook".to_owned());
            let password = password.unwrap_or_else(random_text);
            let fits = |text: &str| {
                (1..=128).contains(&text.len())
                    && text
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
            };
            if !fits(&username) || !fits(&password) {
                return Err(invalid(
                    "invalid_credentials",
                    "`username` and `password` are 1 to 128 of A–Z a–z 0–9 - . _ ~ (they go into a URL)",
                ));
            }
            let hash = KeyHash::of(&format!("{username}:{password}"));
            issued.basic_auth = Some((username, password));
            Credential::BasicAuth(hash)
        }
    };
    Ok((credential, issued))
}

fn shared_secret(key: String) -> Result<String, SourceError> {
    if !(16..=256).contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "invalid_credentials",
            "`secret` is 16 to 256 visible ASCII characters",
        ));
    }
    Ok(key)
}

/// 32 random bytes, URL-safe.
fn random_text() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::source::{BASIC_AUTH_PATTERN, PUBLIC_KEY_PATTERN, SHARED_SECRET_PATTERN};
    use proptest::prelude::*;

    fn code(result: Result<(Credential, Issued), SourceError>) -> Option<&'static str> {
        match result {
            Ok(_) => None,
            Err(SourceError::Invalid { code, .. }) => Some(code),
            Err(other) => panic!("{other}"),
        }
    }

    proptest! {
        /// The document's patterns promise these: what matches them is accepted.
        #[test]
        fn every_shared_secret_the_document_allows_is_accepted(
            secret in SHARED_SECRET_PATTERN.trim_matches(['^', '$'])
        ) {
            prop_assert_eq!(code(credential(Provider::Mailgun, Some(secret.clone()), None, None, None)), None);
            prop_assert_eq!(code(credential(Provider::Generic, Some(secret), None, None, None)), None);
        }

        #[test]
        fn every_basic_auth_the_document_allows_is_accepted(
            user in BASIC_AUTH_PATTERN.trim_matches(['^', '$']),
            password in BASIC_AUTH_PATTERN.trim_matches(['^', '$']),
        ) {
            prop_assert_eq!(code(credential(Provider::Postmark, None, None, Some(user), Some(password))), None);
        }

        /// Of a key the document allows, only its point can be wrong: a code of its own.
        #[test]
        fn a_public_key_the_document_allows_is_refused_only_for_its_point(
            key in PUBLIC_KEY_PATTERN.trim_matches(['^', '$'])
        ) {
            let refused = code(credential(Provider::Sendgrid, None, Some(key), None, None));
            prop_assert!(refused.is_none() || refused == Some("invalid_public_key"), "{refused:?}");
        }
    }

    #[test]
    fn credentials_that_do_not_fit_the_provider_are_refused() {
        assert_eq!(
            code(credential(Provider::Resend, None, None, None, None)),
            Some("invalid_credentials")
        );
        assert_eq!(
            code(credential(
                Provider::Sendgrid,
                None,
                Some("bm90IGEga2V5".into()),
                None,
                None
            )),
            Some("invalid_credentials")
        );
        assert_eq!(
            code(credential(
                Provider::Mailgun,
                Some("short".into()),
                None,
                None,
                None
            )),
            Some("invalid_credentials")
        );
        assert_eq!(
            code(credential(
                Provider::Postmark,
                Some("x".repeat(20)),
                None,
                None,
                None
            )),
            Some("invalid_credentials")
        );
        let generated = credential(Provider::Generic, None, None, None, None)
            .unwrap()
            .1;
        assert_eq!(generated.secret.map(|secret| secret.len()), Some(43));
    }
}
