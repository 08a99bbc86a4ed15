//! Tenants: the organisations seqhook serves, each with identities, keys and webhooks of
//! its own that no other tenant can see.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::id::TenantId;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: TenantId,
    #[schema(example = "Acme")]
    pub name: String,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
#[error("a tenant name is 1 to 200 characters and not blank")]
pub struct InvalidTenantName;

/// Tenant names as the document states them: at most 200 characters, no control
/// characters, not blank. (The server trims the ends, so it accepts a little more.)
pub const TENANT_NAME_PATTERN: &str =
    "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$";
/// The longest tenant or key name, in characters.
pub const MAX_NAME: usize = 200;

pub fn parse_tenant_name(raw: &str) -> Result<String, InvalidTenantName> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(InvalidTenantName);
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The document's pattern promises this: what matches it is accepted.
        #[test]
        fn every_name_the_document_allows_is_accepted(
            name in TENANT_NAME_PATTERN.trim_matches(['^', '$']),
        ) {
            if name.chars().count() > MAX_NAME {
                return Ok(()); // longer than the document allows
            }
            prop_assert!(parse_tenant_name(&name).is_ok(), "{name:?}");
        }
    }
}
