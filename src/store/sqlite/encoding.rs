//! How the values SQLite has no type for are stored: timestamps as INTEGER microseconds,
//! text lists as JSON arrays, and the lists a statement reads through `json_each`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

/// Microseconds since the Unix epoch: PostgreSQL's precision, and an integer, so stored
/// timestamps sort and compare as numbers.
pub(super) fn to_micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(super) fn from_micros(micros: i64) -> Result<DateTime<Utc>, sqlx::Error> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| decode_error("stored timestamp is out of range"))
}

pub(super) fn timestamp(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    from_micros(row.try_get(column)?)
}

pub(super) fn optional_timestamp(
    row: &SqliteRow,
    column: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    row.try_get::<Option<i64>, _>(column)?
        .map(from_micros)
        .transpose()
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

/// What PostgreSQL keeps in a `text[]`.
pub(super) fn text_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    Value::from(items.into_iter().collect::<Vec<_>>()).to_string()
}

pub(super) fn optional_text_list(
    row: &SqliteRow,
    column: &str,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    row.try_get::<Option<String>, _>(column)?
        .map(|raw| serde_json::from_str(&raw))
        .transpose()
        .map_err(|error| sqlx::Error::Decode(error.into()))
}

pub(super) fn decode_error(message: &'static str) -> sqlx::Error {
    sqlx::Error::Decode(message.into())
}
