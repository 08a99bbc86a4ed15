//! Identities: the handle a tenant names a log by, and the identity record the store keeps.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use super::cursor::Seq;

/// A validated identity handle: 1–255 characters of `A–Z a–z 0–9 . _ - + @`.
///
/// Handles travel in URL paths, so anything that could change a path's meaning is refused
/// here, including names made only of dots (`.`/`..`) that clients normalise away.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(
    pattern = "^[A-Za-z0-9._+@-]{1,255}$",
    example = "alice.acme@inboxbase.ai"
)]
pub struct IdentityHandle(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidHandle {
    #[error("an identity handle must be 1 to 255 characters long")]
    Length,
    #[error("an identity handle may only contain A-Z a-z 0-9 . _ - + @")]
    Character,
    #[error("an identity handle cannot be made only of dots")]
    OnlyDots,
}

impl IdentityHandle {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, InvalidHandle> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(InvalidHandle::Length);
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b".-_+@".contains(&b);
        if !raw.bytes().all(allowed) {
            return Err(InvalidHandle::Character);
        }
        if raw.bytes().all(|b| b == b'.') {
            return Err(InvalidHandle::OnlyDots);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdentityHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for IdentityHandle {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// The store's key for an identity. Never leaves the process: the API names identities by
/// handle, within a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityKey(pub i64);

#[derive(Clone, Debug)]
pub struct Identity {
    pub key: IdentityKey,
    pub handle: IdentityHandle,
    pub head_seq: Seq,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn typical_handles_are_accepted() {
        for ok in ["alice.acme@inboxbase.ai", "a", "A-Z_0+9", &"x".repeat(255)] {
            assert!(IdentityHandle::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn handles_that_could_change_a_path_are_refused() {
        assert_eq!(IdentityHandle::parse(""), Err(InvalidHandle::Length));
        assert_eq!(
            IdentityHandle::parse(&"x".repeat(256)),
            Err(InvalidHandle::Length)
        );
        for bad in ["../x", "a/b", "a b", "a%2Fb", "é", "a\0"] {
            assert_eq!(
                IdentityHandle::parse(bad),
                Err(InvalidHandle::Character),
                "{bad}"
            );
        }
        assert_eq!(IdentityHandle::parse(".."), Err(InvalidHandle::OnlyDots));
    }

    proptest! {
        #[test]
        fn every_accepted_handle_is_made_of_allowed_characters(s in "\\PC{0,300}") {
            if let Ok(handle) = IdentityHandle::parse(&s) {
                prop_assert!(handle.as_str().len() <= 255);
                prop_assert!(handle.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b".-_+@".contains(&b)));
            }
        }
    }
}
