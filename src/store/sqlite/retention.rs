//! The sweep's statements that SQLite writes its own way: ranges read from JSON, and
//! deletes through the rows' keys (its DELETE takes no join).

use sqlx::{Sqlite, Transaction};

use super::{SqliteStore, encoding};
use crate::domain::identity::IdentityKey;
use crate::store::StoreResult;
use crate::store::portable::PurgeRange;

impl SqliteStore {
    pub(super) fn identity_set(identities: &[IdentityKey]) -> Result<String, sqlx::Error> {
        encoding::json_rows(
            &identities
                .iter()
                .map(|identity| identity.0)
                .collect::<Vec<_>>(),
        )
    }

    /// Nothing to lock: the write transaction holds the database's one write lock.
    pub(super) async fn lock_identities(
        _tx: &mut Transaction<'static, Sqlite>,
        _identities: &[IdentityKey],
    ) -> StoreResult<()> {
        Ok(())
    }

    /// The ranges' deliveries (attempts go by cascade) and events, then each identity's
    /// mark moved to its range's end, in three statements whatever their number. Answers
    /// the events removed.
    pub(super) async fn purge_ranges(
        tx: &mut Transaction<'static, Sqlite>,
        ranges: &[PurgeRange],
    ) -> StoreResult<u64> {
        let ranges = encoding::json_rows(
            &ranges
                .iter()
                .map(|range| (range.identity, range.from, range.to))
                .collect::<Vec<_>>(),
        )?;
        sqlx::query(
            "DELETE FROM deliveries WHERE id IN (
                 SELECT d.id FROM json_each($1) r
                 JOIN deliveries d ON d.identity_id = r.value ->> 0 AND d.seq < r.value ->> 2)",
        )
        .bind(&ranges)
        .execute(&mut **tx)
        .await?;
        let removed = sqlx::query(
            "DELETE FROM events WHERE rowid IN (
                 SELECT e.rowid FROM json_each($1) r
                 JOIN events e ON e.identity_id = r.value ->> 0
                     AND e.seq >= r.value ->> 1 AND e.seq < r.value ->> 2)",
        )
        .bind(&ranges)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE identities SET purge_from = r.value ->> 2
             FROM json_each($1) r
             WHERE identities.id = r.value ->> 0 AND identities.purge_from < r.value ->> 2",
        )
        .bind(&ranges)
        .execute(&mut **tx)
        .await?;
        Ok(removed)
    }
}
