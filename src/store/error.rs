//! The store's failures, sorted by what a caller can do about them.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or has no connection to spare: worth a 503 and a retry.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// An event id is already in some log: the caller re-checks idempotency.
    #[error("an event with this id already exists")]
    DuplicateEventId,
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(error),
            sqlx::Error::Database(db) if db.constraint() == Some("events_id_key") => {
                StoreError::DuplicateEventId
            }
            // SQLite names the index's columns, not the index.
            sqlx::Error::Database(db)
                if db.is_unique_violation() && db.message().ends_with(": events.id") =>
            {
                StoreError::DuplicateEventId
            }
            // 57P01..57P03: the server is shutting down or not yet accepting connections.
            sqlx::Error::Database(db) if db.code().is_some_and(|code| code.starts_with("57P")) => {
                StoreError::Unavailable(error)
            }
            sqlx::Error::Database(db) if is_sqlite_busy(&**db) => StoreError::Unavailable(error),
            _ => StoreError::Database(error),
        }
    }
}

/// SQLITE_BUSY in any of its extended forms (the low byte is 5): another process held the
/// database's lock past the busy timeout.
fn is_sqlite_busy(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
        && db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == 5)
}
