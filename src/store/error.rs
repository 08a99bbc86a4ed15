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
            // 57P01..57P03: the server is shutting down or not yet accepting connections.
            sqlx::Error::Database(db) if db.code().is_some_and(|code| code.starts_with("57P")) => {
                StoreError::Unavailable(error)
            }
            _ => StoreError::Database(error),
        }
    }
}
