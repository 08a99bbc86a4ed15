//! Every timestamp the API shows: RFC 3339, UTC, milliseconds (`2026-04-27T11:55:29.000Z`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

pub fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format(at))
}

pub fn serialize_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, serializer),
        None => serializer.serialize_none(),
    }
}
