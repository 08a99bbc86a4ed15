//! Free text a user attaches to a record (a webhook's or an event type's description):
//! bounded, and with no NUL, which PostgreSQL text cannot hold.

/// At most this many characters.
pub const MAX_DESCRIPTION: usize = 1_000;

#[derive(Debug, thiserror::Error)]
#[error("a description is at most 1,000 characters, with no NUL (\\u0000)")]
pub struct InvalidDescription;

pub fn parse_description(text: String) -> Result<String, InvalidDescription> {
    if text.chars().count() > MAX_DESCRIPTION || text.contains('\0') {
        return Err(InvalidDescription);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_is_bounded_and_holds_no_nul() {
        assert!(parse_description("x".repeat(MAX_DESCRIPTION)).is_ok());
        assert!(
            parse_description("é".repeat(MAX_DESCRIPTION)).is_ok(),
            "characters, not bytes"
        );
        assert!(parse_description("x".repeat(MAX_DESCRIPTION + 1)).is_err());
        assert!(parse_description("a\0b".into()).is_err());
    }
}
