//! How statements take their input rows: as JSON read through `json_each`, with uuids as
//! hex and timestamps as the INTEGER microseconds they are stored as.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// Microseconds since the Unix epoch: PostgreSQL's precision, and an integer, so stored
/// timestamps sort and compare as numbers.
pub(super) fn to_micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// A uuid as `unhex()` turns it back into the 16-byte BLOB: JSON has no bytes.
pub(super) fn hex(id: Uuid) -> String {
    format!("{:032x}", id.as_u128())
}

/// Input rows for a statement that reads them with `json_each`: one bind and one cached
/// statement however many rows there are.
pub(super) fn json_rows<T: Serialize>(rows: &[T]) -> Result<String, sqlx::Error> {
    serde_json::to_string(rows).map_err(|error| sqlx::Error::Encode(error.into()))
}

/// Ids for `id IN (SELECT unhex(value) FROM json_each(?))`.
pub(super) fn id_list(ids: impl IntoIterator<Item = Uuid>) -> Result<String, sqlx::Error> {
    json_rows(&ids.into_iter().map(hex).collect::<Vec<_>>())
}
