//! API keys: scopes, identity binding, and the key secret, which is shown once and
//! afterwards known to the service only as a SHA-256 hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::identity::IdentityHandle;
use super::tenant::MAX_NAME;
use crate::id::{ApiKeyId, TenantId};

/// Key names: at most 200 characters, no NUL.
pub const KEY_NAME_PATTERN: &str = "^[^\\x00]*$";

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Scope {
    #[serde(rename = "events:read")]
    EventsRead,
    #[serde(rename = "events:write")]
    EventsWrite,
    #[serde(rename = "webhooks")]
    Webhooks,
    /// Key management within the tenant, and the tenant's custom event types.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::EventsRead,
        Scope::EventsWrite,
        Scope::Webhooks,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EventsRead => "events:read",
            Scope::EventsWrite => "events:write",
            Scope::Webhooks => "webhooks",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == raw)
    }
}

/// An API key as stored and listed: everything but the secret.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: ApiKeyId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub name: Option<String>,
    pub scopes: Vec<Scope>,
    pub identity: Option<IdentityHandle>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
}

impl ApiKey {
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether this key may touch `handle`: an unbound key reaches every identity of its
    /// tenant, a bound key only its own.
    pub fn reaches(&self, handle: &IdentityHandle) -> bool {
        self.identity.as_ref().is_none_or(|own| own == handle)
    }
}

/// A key's secret, `shk_` + 32 random bytes. Never stored, never logged: `Debug` hides it.
pub struct KeySecret(String);

impl KeySecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("shk_{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }
}

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySecret(…)")
    }
}

/// SHA-256 of a presented key. Keys are 256 random bits, so a fast hash is enough: there is
/// nothing to brute-force that a slow hash would protect.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn of(presented: &str) -> Self {
        Self(Sha256::digest(presented.as_bytes()).into())
    }

    /// Compares without an early exit, so timing reveals nothing about how much matched.
    pub fn matches(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHash(…)")
    }
}

/// A key as shown once, at creation: the stored fields plus the secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedKey<'a> {
    #[serde(flatten)]
    stored: &'a ApiKey,
    #[schema(example = "shk_OpLZZ-ozbDuZQ_gFsPqPEyqP4a8c32qUC4Z6Bb13cJs")]
    key: &'a str,
}

impl ApiKey {
    pub fn with_secret<'a>(&'a self, secret: &'a KeySecret) -> IssuedKey<'a> {
        IssuedKey {
            stored: self,
            key: secret.expose(),
        }
    }
}

/// What a new key may do, checked: known scopes, no duplicates, and a binding to one
/// identity only for event scopes (a bound key managing keys or webhooks would reach past
/// its identity).
#[derive(Debug)]
pub struct KeyGrant {
    pub scopes: Vec<Scope>,
    pub identity: Option<IdentityHandle>,
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InvalidGrant {
    #[error("unknown scope `{0}`; scopes are events:read, events:write, webhooks, admin")]
    UnknownScope(String),
    #[error("a key needs at least one scope")]
    NoScopes,
    #[error("a key bound to an identity may only hold events:read and events:write")]
    BoundScope,
    #[error("{0}")]
    Identity(#[from] crate::domain::identity::InvalidHandle),
    #[error("a key name is at most 200 characters, with no NUL (\\u0000)")]
    Name,
}

impl InvalidGrant {
    pub fn code(&self) -> &'static str {
        match self {
            InvalidGrant::UnknownScope(_) | InvalidGrant::NoScopes | InvalidGrant::BoundScope => {
                "invalid_scopes"
            }
            InvalidGrant::Identity(_) => "invalid_handle",
            InvalidGrant::Name => "invalid_name",
        }
    }
}

impl KeyGrant {
    pub fn parse(
        scopes: &[String],
        identity: Option<&str>,
        name: Option<String>,
    ) -> Result<Self, InvalidGrant> {
        let mut parsed = Vec::with_capacity(scopes.len());
        for raw in scopes {
            let scope = Scope::parse(raw).ok_or_else(|| InvalidGrant::UnknownScope(raw.clone()))?;
            if !parsed.contains(&scope) {
                parsed.push(scope);
            }
        }
        if parsed.is_empty() {
            return Err(InvalidGrant::NoScopes);
        }
        parsed.sort();
        let identity = identity.map(IdentityHandle::parse).transpose()?;
        if identity.is_some()
            && parsed
                .iter()
                .any(|scope| matches!(scope, Scope::Webhooks | Scope::Admin))
        {
            return Err(InvalidGrant::BoundScope);
        }
        if name
            .as_ref()
            .is_some_and(|name| name.chars().count() > MAX_NAME || name.contains('\0'))
        {
            return Err(InvalidGrant::Name);
        }
        Ok(Self {
            scopes: parsed,
            identity,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The document's pattern promises this: what matches it is accepted.
        #[test]
        fn every_key_name_the_document_allows_is_accepted(
            name in KEY_NAME_PATTERN.trim_matches(['^', '$']),
        ) {
            if name.chars().count() > MAX_NAME {
                return Ok(()); // longer than the document allows
            }
            let grant = KeyGrant::parse(&["events:read".into()], None, Some(name.clone()));
            prop_assert!(grant.is_ok(), "{name:?}");
        }
    }

    #[test]
    fn a_generated_secret_hashes_to_what_it_is_presented_as() {
        let secret = KeySecret::generate();
        assert!(secret.expose().starts_with("shk_"));
        assert!(secret.hash().matches(&KeyHash::of(secret.expose())));
        assert!(!secret.hash().matches(&KeyHash::of("shk_other")));
        assert_eq!(format!("{secret:?}"), "KeySecret(…)");
    }

    #[test]
    fn a_bound_key_may_only_hold_event_scopes() {
        let scopes = |names: &[&str]| {
            names
                .iter()
                .map(|name| name.to_string())
                .collect::<Vec<_>>()
        };
        let grant = KeyGrant::parse(
            &scopes(&["events:read", "events:read"]),
            Some("a@b.c"),
            None,
        )
        .unwrap();
        assert_eq!(grant.scopes, vec![Scope::EventsRead]);
        assert!(matches!(
            KeyGrant::parse(&scopes(&["admin"]), Some("a@b.c"), None),
            Err(InvalidGrant::BoundScope)
        ));
        assert!(matches!(
            KeyGrant::parse(&[], None, None),
            Err(InvalidGrant::NoScopes)
        ));
        assert!(matches!(
            KeyGrant::parse(&scopes(&["root"]), None, None),
            Err(InvalidGrant::UnknownScope(_))
        ));
    }

    #[test]
    fn scopes_round_trip_through_their_names() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("events"), None);
    }
}
