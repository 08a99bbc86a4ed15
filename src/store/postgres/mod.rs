//! The PostgreSQL store: the production backend. Several processes may share one database;
//! they meet through row locks and `LISTEN/NOTIFY`.

mod events;
mod notices;
mod outbox;
mod retention;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use super::{Store, StoreResult, portable};
use crate::id::ApiKeyId;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections of the delivery bookkeeping pool (see `PgStore::outbox`).
const OUTBOX_CONNECTIONS: u32 = 4;

pub struct PgStore {
    pool: PgPool,
    /// Claims and attempt records commit without waiting for the WAL flush: losing one in a
    /// crash only means a delivery is sent again (a lost claim's row is due again; a lost
    /// record's lease runs out), which at-least-once allows. Waiting for the flush made
    /// every claim wait for the disk, and the single claim loop with it.
    outbox: PgPool,
    /// Notices go out on a connection of their own: behind the pool's queries, a wake-up
    /// for another process waited for a free connection; and they commit without waiting
    /// for the WAL flush (a NOTIFY's transaction writes a commit record), which only delays
    /// a hint that a lost crash would have lost anyway.
    notifier: PgPool,
    /// The listener opens its own connection, outside the pool, so a busy pool can never
    /// starve wake-ups and the pool never hands out a connection in LISTEN state.
    url: String,
    /// Marks this process's notices, so its listener skips its own echoes.
    origin: notices::Origin,
}

impl PgStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        let options: PgConnectOptions = url.parse()?;
        let outbox = PgPoolOptions::new()
            .max_connections(OUTBOX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            // Its statements take arrays of ids whose length varies from call to call, which
            // made the planner plan most of them afresh; one generic plan serves them all.
            .connect_lazy_with(options.clone().options([
                ("synchronous_commit", "off"),
                ("plan_cache_mode", "force_generic_plan"),
            ]));
        let notifier = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .connect_lazy_with(options.clone().options([("synchronous_commit", "off")]));
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // A ping before every acquire would add a round trip to every query; a dead
            // connection fails its query instead, and the pool replaces it.
            .test_before_acquire(false)
            .connect(url)
            .await?;
        Ok(Self {
            pool,
            outbox,
            notifier,
            url: url.to_owned(),
            origin: notices::Origin::generate(),
        })
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.pool).await
    }
}

/// What the portable statements need of this backend (see `store::portable`).
impl PgStore {
    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// Where autovacuum is off, a plain `VACUUM` (and `ANALYZE`) of the tables the sweep
    /// deletes from, so their dead rows' space becomes reusable; where it is on, it does
    /// that itself (the tables ask it to run early). It takes no lock that reads or writes
    /// wait for, and skips a table another vacuum is working on. Its cost follows the
    /// tables' size, which the retention keeps bounded.
    async fn reclaim_space(&self) -> StoreResult<()> {
        let autovacuum: String = sqlx::query_scalar("SELECT current_setting('autovacuum')")
            .fetch_one(&self.pool)
            .await?;
        if autovacuum == "on" {
            return Ok(());
        }
        sqlx::raw_sql(
            "VACUUM (ANALYZE, SKIP_LOCKED) events, deliveries, delivery_attempts, identities",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The revocation is committed whatever happens to the notice; another process that
    /// misses it keeps the key for its cache's minute at most.
    async fn key_revoked(&self, id: ApiKeyId) {
        if let Err(error) = notices::publish_key_revoked(&self.notifier, id).await {
            tracing::warn!(%error, key = %id, "could not tell other processes of a revoked key");
        }
    }
}

portable::tenant_store!(PgStore, Postgres);
portable::identity_store!(PgStore);
// Removal holds no row an append needs while it deletes: large steps, fewer commits, and a
// fifth of one connection's time.
portable::retention_store!(
    PgStore,
    Postgres,
    "= ANY($1)",
    crate::store::RemovalPace {
        batch: 5_000,
        rest_factor: 4,
    }
);
portable::event_type_store!(PgStore);
portable::webhook_store!(PgStore);
portable::source_store!(PgStore);
portable::delivery_log!(PgStore);
portable::activity_store!(PgStore);

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn database_bytes(&self) -> StoreResult<u64> {
        let bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&self.pool)
            .await?;
        Ok(bytes.max(0) as u64)
    }

    async fn close(&self) {
        self.notifier.close().await;
        self.outbox.close().await;
        self.pool.close().await;
    }
}
