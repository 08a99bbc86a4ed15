//! Identities: the handle a tenant names a log by, and the identity record the store keeps.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use super::cursor::Seq;

/// A validated identity handle: 1–255 characters of `A–Z a–z 0–9 . _ - + @`.
///
/// Handles travel in URL paths, so anything that could change a path's meaning is refused
/// here, including names made only of dots (`.`/`..`) that clients normalise away.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// What `parse` accepts, as the API document states it (with 1 to 255 characters).
    pub const PATTERN: &str = "^[A-Za-z0-9._+@-]*[A-Za-z0-9_+@-][A-Za-z0-9._+@-]*$";

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

impl utoipa::PartialSchema for IdentityHandle {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::text(Self::PATTERN, 1..=Self::MAX_LEN, "alice.acme@inboxbase.ai").into()
    }
}

impl utoipa::ToSchema for IdentityHandle {}

impl std::str::FromStr for IdentityHandle {
    type Err = InvalidHandle;

    fn from_str(raw: &str) -> Result<Self, InvalidHandle> {
        Self::parse(raw)
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
    /// The first seq still held; the head + 1 when none is.
    pub earliest_seq: Seq,
    pub created_at: DateTime<Utc>,
    /// When the head event was appended, where it was read (not on a row just written), and
    /// while the log still holds it.
    pub last_event_at: Option<DateTime<Utc>>,
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
        /// The document's pattern promises this: what matches it is accepted.
        #[test]
        fn every_handle_the_document_allows_is_accepted(
            s in IdentityHandle::PATTERN.trim_matches(['^', '$'])
        ) {
            if s.len() > IdentityHandle::MAX_LEN {
                return Ok(()); // longer than the document allows
            }
            prop_assert!(IdentityHandle::parse(&s).is_ok());
        }

        #[test]
        fn every_accepted_handle_is_made_of_allowed_characters(s in "\\PC{0,300}") {
            if let Ok(handle) = IdentityHandle::parse(&s) {
                prop_assert!(handle.as_str().len() <= 255);
                prop_assert!(handle.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b".-_+@".contains(&b)));
            }
        }
    }
}
