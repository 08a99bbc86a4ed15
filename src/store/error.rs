//! The store's failures, sorted by what a caller can do about them.

use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or has no connection to spare, and nothing was
    /// written: worth a 503 and a retry.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A write reached the database but the connection broke before its commit was
    /// acknowledged: it may or may not have committed. Shared, because one group commit
    /// answers many requests.
    #[error("the database did not acknowledge the commit")]
    OutcomeUnknown(#[source] Arc<sqlx::Error>),
    /// An event id is already in some log: the caller re-checks idempotency.
    #[error("an event with this id already exists")]
    DuplicateEventId,
    /// The database refused a value it cannot store (PostgreSQL text holds no NUL): the
    /// request's fault, which the API's own checks should have caught first.
    #[error("the database cannot store a value of this request")]
    Unstorable(#[source] sqlx::Error),
    /// The identity was erased (or is being erased): it is no longer there to read or
    /// append to.
    #[error("the identity was erased")]
    IdentityGone,
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    /// The error of a write whose statement or commit had been sent: if the connection
    /// failed, nobody knows whether the database committed it.
    pub fn after_sending(error: sqlx::Error) -> Self {
        match Self::from(error) {
            StoreError::Unavailable(error) => StoreError::OutcomeUnknown(Arc::new(error)),
            other => other,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            // A message cut short by a dying connection.
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error),
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
            // 22021 character_not_in_repertoire (a NUL in text), 22P05
            // untranslatable_character (`\u0000` in jsonb).
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|code| code == "22021" || code == "22P05") =>
            {
                StoreError::Unstorable(error)
            }
            // Raised by the append for an identity erased under it (`seqhook_identity_gone`).
            sqlx::Error::Database(db) if db.code().is_some_and(|code| code == "SH404") => {
                StoreError::IdentityGone
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
