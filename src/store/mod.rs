//! PERSISTENCE: the only part that speaks SQL. The contract is a set of traits, one per
//! kind of record, each in the file of its name (`events`, `outbox`, `deliveries`,
//! `webhooks`, `sources`, `tenants`, `identities`, `event_types`, `retention`, `notices`,
//! `activity`); `Store` is all of them.
//! The traits whose statements both databases run alike are implemented once, in
//! `portable/`; the rest (appends, claims, notices) by each backend in the file of the same
//! name: `postgres/` for production, `sqlite/` for the embedded default. Rows are decoded
//! by name, once, in `rows/`. Everything above sees domain types only.

pub mod activity;
mod columns;
pub mod deliveries;
pub mod error;
pub mod event_types;
pub mod events;
pub mod identities;
pub mod notices;
pub mod outbox;
mod portable;
pub mod postgres;
pub mod retention;
mod rows;
pub mod sources;
pub mod sqlite;
pub mod tenants;
pub mod webhooks;

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

pub use activity::ActivityStore;
pub use deliveries::{DeliveryLog, DeliveryQuery};
pub use error::StoreError;
pub use event_types::{CustomEventType, EventTypeStore};
pub use events::{AppendLease, AppendRequest, AppendedGroup, EventStore, ReadRequest};
pub use identities::IdentityStore;
pub use notices::{Notice, NoticeSink, Notices};
pub use outbox::{
    AttemptResult, ClaimRequest, Claimed, ClaimedDelivery, OutboxStore, ReplayRequest, Success,
    Unsendable,
};
pub use retention::{Erased, RemovalPace, RetentionStore, Swept};
pub use sources::SourceStore;
pub use tenants::TenantStore;
pub use webhooks::{WebhookPatch, WebhookStore};

pub type StoreResult<T> = Result<T, StoreError>;

/// The database a `DATABASE_URL` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    Postgres(String),
    Sqlite(String),
}

/// Everything the store does, on one backend.
#[async_trait]
pub trait Store:
    TenantStore
    + IdentityStore
    + EventTypeStore
    + EventStore
    + WebhookStore
    + SourceStore
    + OutboxStore
    + DeliveryLog
    + ActivityStore
    + RetentionStore
    + Notices
    + Send
    + Sync
    + 'static
{
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> StoreResult<()>;
    /// The database's size on disk in bytes, tables and indexes (and free pages) together.
    async fn database_bytes(&self) -> StoreResult<u64>;
    /// Closes the connections, once nothing uses the store any more.
    async fn close(&self);
}

/// Opens the database `database` names, creating an embedded one if need be, and brings
/// its schema up to date.
pub async fn open(database: &Database, pool_size: u32) -> anyhow::Result<Arc<dyn Store>> {
    match database {
        Database::Postgres(url) => {
            let store = postgres::PgStore::connect(url, pool_size)
                .await
                .context("connecting to PostgreSQL")?;
            store.migrate().await.context("migrating the database")?;
            Ok(Arc::new(store))
        }
        Database::Sqlite(url) => {
            let store = sqlite::SqliteStore::open(url)
                .await
                .with_context(|| format!("opening the SQLite database {url}"))?;
            store.migrate().await.context("migrating the database")?;
            Ok(Arc::new(store))
        }
    }
}
