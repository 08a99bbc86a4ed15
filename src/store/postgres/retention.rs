//! The sweep's statements that PostgreSQL writes its own way: row locks taken in a fixed
//! order, and ranges of rows removed by a function of the schema's, in one round trip.

use sqlx::{Postgres, Transaction};

use super::PgStore;
use crate::domain::identity::IdentityKey;
use crate::store::StoreResult;
use crate::store::portable::PurgeRange;

impl PgStore {
    pub(super) fn identity_set(identities: &[IdentityKey]) -> Result<Vec<i64>, sqlx::Error> {
        Ok(identities.iter().map(|identity| identity.0).collect())
    }

    /// Locks the identities' rows in id order, the order appends take them in: a
    /// statement that updated them in its own order could deadlock with a group commit.
    pub(super) async fn lock_identities(
        tx: &mut Transaction<'static, Postgres>,
        identities: &[IdentityKey],
    ) -> StoreResult<()> {
        sqlx::query("SELECT 1 FROM identities WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(Self::identity_set(identities)?)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// One round trip for all the ranges: their deliveries (attempts go by cascade) and
    /// events go (`seqhook_purge_ranges`, one log at a time), then each identity's mark
    /// moves to its range's end, with the rows locked in id order only once the deletes are
    /// done. A mark only moves forward: another process may have removed the same rows
    /// meanwhile. Answers the events removed.
    pub(super) async fn purge_ranges(
        tx: &mut Transaction<'static, Postgres>,
        ranges: &[PurgeRange],
    ) -> StoreResult<u64> {
        let identities: Vec<i64> = ranges.iter().map(|range| range.identity).collect();
        let from: Vec<i64> = ranges.iter().map(|range| range.from).collect();
        let to: Vec<i64> = ranges.iter().map(|range| range.to).collect();
        let removed: i64 = sqlx::query_scalar("SELECT seqhook_purge_ranges($1, $2, $3)")
            .bind(&identities)
            .bind(&from)
            .bind(&to)
            .fetch_one(&mut **tx)
            .await?;
        Self::lock_identities(
            tx,
            &identities
                .iter()
                .copied()
                .map(IdentityKey)
                .collect::<Vec<_>>(),
        )
        .await?;
        sqlx::query(
            "UPDATE identities i SET purge_from = r.purge_to
             FROM unnest($1::bigint[], $2::bigint[]) AS r(identity_id, purge_to)
             WHERE i.id = r.identity_id AND i.purge_from < r.purge_to",
        )
        .bind(&identities)
        .bind(&to)
        .execute(&mut **tx)
        .await?;
        Ok(removed as u64)
    }
}
