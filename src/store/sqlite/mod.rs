//! The SQLite store: the embedded default, for one process. Every write goes through one
//! connection, which serialises writers the way PostgreSQL's row locks do: seqs are
//! gap-free and claims never overlap. Reads use their own connections; in WAL mode they
//! never block the writer, nor it them. Notices stay in the process.

mod encoding;
mod events;
mod fanout;
mod notices;
mod outbox;
mod retention;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{Notice, NoticeSink, Store, StoreResult, portable};
use crate::id::ApiKeyId;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Connections of the read pool: enough for concurrent pulls on a small machine.
const READER_CONNECTIONS: u32 = 4;
/// How long a statement waits for a lock another process holds (`seqhook migrate`, the
/// tenants CLI), and how long a caller waits for a connection, before giving up.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    /// One connection: the single writer. Kept open for the store's life, so the WAL files
    /// and its statement cache stay.
    writer: SqlitePool,
    /// Read-only connections.
    reader: SqlitePool,
    /// Who hears about revoked keys: the app's listener, while it runs.
    sink: Mutex<Option<Arc<dyn NoticeSink>>>,
}

impl SqliteStore {
    /// Opens `sqlite://path`, creating the file if need be.
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .foreign_keys(true)
            .busy_timeout(LOCK_TIMEOUT);
        // Connected before the readers: it creates the file and switches it to WAL, which a
        // read-only connection cannot do. WAL is then a property of the file.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>)
            .acquire_timeout(LOCK_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // An acknowledged append must outlive a power cut, as on PostgreSQL:
                    // NORMAL would lose the last commits then. Appends are committed in
                    // groups, so the wait for the disk is shared.
                    .synchronous(SqliteSynchronous::Full),
            )
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READER_CONNECTIONS)
            .acquire_timeout(LOCK_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            writer,
            reader,
            sink: Mutex::new(None),
        })
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.writer).await
    }
}

/// What the portable statements need of this backend (see `store::portable`).
impl SqliteStore {
    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Starts a write transaction holding the write lock from the start. The writer pool
    /// already serialises this process; IMMEDIATE makes another process (the CLI) wait for
    /// the busy timeout, where a deferred transaction upgrading to write would fail at once.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    /// Nothing to do: SQLite puts a deleted row's pages on its free list, and the next
    /// inserts take them from there, so the file stops growing.
    async fn reclaim_space(&self) -> StoreResult<()> {
        Ok(())
    }

    /// No other process shares the database: this one's listener hears it directly.
    async fn key_revoked(&self, id: ApiKeyId) {
        self.notify(Notice::KeyRevoked(id));
    }
}

portable::tenant_store!(SqliteStore, Sqlite);
portable::identity_store!(SqliteStore);
// Every step holds the one writer: small steps (a few milliseconds), so appends never wait
// long behind one, and a twentieth of the writer's time, so they keep their pace.
portable::retention_store!(
    SqliteStore,
    Sqlite,
    "IN (SELECT value FROM json_each($1))",
    crate::store::RemovalPace {
        batch: 250,
        rest_factor: 19,
    }
);
portable::event_type_store!(SqliteStore);
portable::webhook_store!(SqliteStore);
portable::source_store!(SqliteStore);
portable::delivery_log!(SqliteStore);
portable::activity_store!(SqliteStore);

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// The main file's pages, free ones included: what the file holds, not counting a WAL
    /// that checkpoints keep bounded.
    async fn database_bytes(&self) -> StoreResult<u64> {
        let bytes: i64 = sqlx::query_scalar(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(bytes.max(0) as u64)
    }

    /// Readers first, so the writer's connection is the last to close and checkpoints the
    /// WAL into the database file.
    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}
