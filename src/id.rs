//! Prefixed ULID identifiers (`evt_…`, `ten_…`, `key_…`): parsed once at the edge, so inner
//! code never handles a raw string that might not be an id.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Ulid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(Ulid::new())
            }

            /// Below every id made at `at` or later, above every id made before: ids made
            /// by seqhook are ordered by the time they were made.
            pub fn floor(at: chrono::DateTime<chrono::Utc>) -> Self {
                let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
                Self(Ulid::from_parts(millis, 0))
            }

            /// An id made of a time and 80 bits chosen by the caller: for an id derived from
            /// something else, which the same input always gives again.
            pub fn from_parts(millis: u64, random: u128) -> Self {
                Self(Ulid::from_parts(millis, random))
            }

            /// The 128 bits as a UUID: the database stores ids in 16 bytes, and a ULID's
            /// time-ordered bits keep its index append-mostly.
            pub fn as_uuid(&self) -> uuid::Uuid {
                uuid::Uuid::from_u128(self.0.0)
            }

            pub fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(Ulid(uuid.as_u128()))
            }

            /// When the id was made, to the millisecond.
            pub fn made_at(&self) -> chrono::DateTime<chrono::Utc> {
                let millis = i64::try_from(self.0.timestamp_ms()).unwrap_or(i64::MAX);
                chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default()
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(uuid: uuid::Uuid) -> Self {
                Self::from_uuid(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let body = s
                    .strip_prefix($prefix)
                    .ok_or(InvalidId { prefix: $prefix })?;
                // Ulid::from_string accepts lower case too; the canonical form is upper case,
                // and accepting both would make two spellings of one id.
                if body.len() != 26 || body.bytes().any(|b| b.is_ascii_lowercase()) {
                    return Err(InvalidId { prefix: $prefix });
                }
                Ulid::from_string(body)
                    .map(Self)
                    .map_err(|_| InvalidId { prefix: $prefix })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "[0-7][0-9A-HJKMNP-TV-Z]{25}$")))
                    .examples([concat!($prefix, "01HF6YJZ4N0K3W2X9CPM7B8DG2")])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}

prefixed_id!(EventId, "evt_");
prefixed_id!(TenantId, "ten_");
prefixed_id!(ApiKeyId, "key_");
prefixed_id!(WebhookId, "wh_");
prefixed_id!(DeliveryId, "dlv_");
prefixed_id!(SourceId, "src_");
prefixed_id!(RefusalId, "rfs_");

#[derive(Debug, thiserror::Error)]
#[error("expected `{prefix}` followed by a 26-character upper-case ULID")]
pub struct InvalidId {
    prefix: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_id_round_trips_through_its_text_and_uuid_forms() {
        let id = EventId::generate();
        assert_eq!(id.to_string().parse::<EventId>().unwrap(), id);
        assert_eq!(EventId::from_uuid(id.as_uuid()), id);
    }

    #[test]
    fn ids_with_the_wrong_prefix_or_case_are_refused() {
        let body = Ulid::new().to_string();
        assert!(format!("key_{body}").parse::<EventId>().is_err());
        assert!(
            format!("evt_{}", body.to_lowercase())
                .parse::<EventId>()
                .is_err()
        );
        assert!("evt_".parse::<EventId>().is_err());
        assert!(format!("evt_{body}X").parse::<EventId>().is_err());
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_text_never_panics(s in "\\PC*") {
            let _ = s.parse::<EventId>();
        }
    }
}
