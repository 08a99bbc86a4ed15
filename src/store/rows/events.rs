//! The log's rows: events, located in their logs, and the rows of a page read.

use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::{ColumnIndex, Decode, FromRow, Row, Type};
use uuid::Uuid;

use crate::domain::cursor::Seq;
use crate::domain::event::StoredEvent;
use crate::domain::identity::IdentityKey;
use crate::id::EventId;
use crate::store::columns::Timestamp;

#[derive(FromRow)]
pub struct EventRow {
    #[sqlx(try_from = "Uuid")]
    id: EventId,
    seq: i64,
    #[sqlx(rename = "type")]
    event_type: String,
    data: Json<Box<RawValue>>,
    created_at: Timestamp,
    redacted_at: Option<Timestamp>,
}

impl From<EventRow> for StoredEvent {
    fn from(row: EventRow) -> Self {
        StoredEvent {
            id: row.id,
            seq: Seq(row.seq),
            event_type: row.event_type,
            data: row.data.0,
            created_at: row.created_at.0,
            redacted_at: row.redacted_at.map(|at| at.0),
        }
    }
}

/// An event and the log it is in.
#[derive(FromRow)]
pub struct LocatedEventRow {
    identity_id: i64,
    #[sqlx(flatten)]
    event: EventRow,
}

impl LocatedEventRow {
    pub fn located(self) -> (IdentityKey, StoredEvent) {
        (IdentityKey(self.identity_id), self.event.into())
    }
}

/// One row of a page read: the log's head, and an event unless the page is empty (the
/// event's columns are then NULL).
pub struct PageRow {
    pub head_seq: i64,
    pub earliest_seq: i64,
    pub event: Option<EventRow>,
}

impl<'r, R: Row> FromRow<'r, R> for PageRow
where
    &'r str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    EventRow: FromRow<'r, R>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let seq: Option<i64> = row.try_get("seq")?;
        Ok(PageRow {
            head_seq: row.try_get("head_seq")?,
            earliest_seq: row.try_get("earliest_seq")?,
            event: seq.map(|_| EventRow::from_row(row)).transpose()?,
        })
    }
}
