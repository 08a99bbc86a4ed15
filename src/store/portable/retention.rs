//! `RetentionStore`: sweeping expired events, erasing identities, redacting events.
//! `$identities_in` matches `id` against the set bound as `$1` from `Self::identity_set`,
//! and `$pace` is how the sweep should pace removal there (`RetentionStore::removal_pace`).
//! The backend locks identities (`Self::lock_identities`) and removes ranges of rows
//! (`Self::purge_ranges`), where the two databases need different statements.

/// Rows `[from, to)` of one identity's log to remove in a sweep step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PurgeRange {
    pub identity: i64,
    pub from: i64,
    pub to: i64,
}

macro_rules! retention_store {
    ($store:ty, $db:ty, $identities_in:literal, $pace:expr) => {
        impl $store {
            /// Moves the identities' earliest seqs past their expired events, at most `cap`
            /// events each, in one statement whatever their number. Seqs follow time within
            /// a log, so the expired events are a prefix: each log's new earliest seq is its
            /// first event at or after the cutoff, or its head + 1 when none is. The rows
            /// must be locked first, so that this statement's snapshot holds every append
            /// to them. Answers whether any log still holds expired events.
            async fn advance_earliest(
                tx: &mut ::sqlx::Transaction<'static, $db>,
                identities: &[$crate::domain::identity::IdentityKey],
                cutoff: ::chrono::DateTime<::chrono::Utc>,
                cap: i64,
            ) -> $crate::store::StoreResult<bool> {
                use $crate::store::columns::Timestamp;
                let oldest: Vec<Option<Timestamp>> = ::sqlx::query_scalar(concat!(
                    "UPDATE identities AS i SET
                         earliest_seq = moved.earliest_seq,
                         oldest_at = (SELECT e.created_at FROM events e
                                      WHERE e.identity_id = i.id AND e.seq = moved.earliest_seq)
                     FROM (
                         SELECT l.id, coalesce(
                             (SELECT e.seq FROM events e
                              WHERE e.identity_id = l.id AND e.seq >= l.earliest_seq
                                AND e.seq < l.earliest_seq + $3 AND e.created_at >= $2
                              ORDER BY e.seq LIMIT 1),
                             CASE WHEN l.head_seq + 1 < l.earliest_seq + $3
                                  THEN l.head_seq + 1 ELSE l.earliest_seq + $3 END
                         ) AS earliest_seq
                         FROM identities l
                         WHERE l.id ",
                    $identities_in,
                    " AND l.erased_at IS NULL AND l.oldest_at < $2
                     ) AS moved
                     WHERE i.id = moved.id
                     RETURNING oldest_at"
                ))
                .bind(Self::identity_set(identities)?)
                .bind(Timestamp(cutoff))
                .bind(cap)
                .fetch_all(&mut **tx)
                .await?;
                Ok(oldest.into_iter().flatten().any(|at| at.0 < cutoff))
            }

            /// Removes at most `batch` events in all below the identities' earliest seqs,
            /// shared evenly among the logs with rows to remove, with every delivery below
            /// each one's step end (attempts go by cascade): none may outlive its event.
            /// A fixed number of statements whatever the number of logs. `more` carries on
            /// what the caller already knows is left.
            async fn purge_identities(
                &self,
                identities: &[$crate::domain::identity::IdentityKey],
                batch: i64,
                mut more: bool,
                mut held: ::std::time::Duration,
            ) -> $crate::store::StoreResult<$crate::store::Swept> {
                let mut tx = self.begin_write().await?;
                let started = ::std::time::Instant::now();
                let unpurged: Vec<(i64, i64, i64)> = ::sqlx::query_as(concat!(
                    "SELECT id, purge_from, earliest_seq FROM identities WHERE id ",
                    $identities_in,
                    " AND purge_from < earliest_seq ORDER BY id"
                ))
                .bind(Self::identity_set(identities)?)
                .fetch_all(&mut *tx)
                .await?;
                if unpurged.is_empty() {
                    tx.commit().await?;
                    return Ok($crate::store::Swept {
                        events: 0,
                        more,
                        held: held + started.elapsed(),
                    });
                }
                let cap = (batch / unpurged.len() as i64).max(1);
                let ranges: Vec<$crate::store::portable::PurgeRange> = unpurged
                    .into_iter()
                    .map(|(identity, from, earliest)| {
                        let to = earliest.min(from.saturating_add(cap));
                        more |= to < earliest;
                        $crate::store::portable::PurgeRange { identity, from, to }
                    })
                    .collect();
                let events = Self::purge_ranges(&mut tx, &ranges).await?;
                tx.commit().await?;
                held += started.elapsed();
                Ok($crate::store::Swept { events, more, held })
            }
        }

        #[::async_trait::async_trait]
        impl $crate::store::RetentionStore for $store {
            async fn tenant_retentions(
                &self,
            ) -> $crate::store::StoreResult<
                Vec<(
                    $crate::id::TenantId,
                    Option<$crate::domain::retention::Retention>,
                )>,
            > {
                use $crate::store::rows::TenantRetentionRow;
                let rows: Vec<TenantRetentionRow> =
                    ::sqlx::query_as("SELECT id, retention_secs FROM tenants")
                        .fetch_all(self.reader())
                        .await?;
                Ok(rows.into_iter().map(TenantRetentionRow::retention).collect())
            }

            async fn set_tenant_retention(
                &self,
                tenant: $crate::id::TenantId,
                retention: Option<$crate::domain::retention::Retention>,
            ) -> $crate::store::StoreResult<bool> {
                let secs = retention.map(|retention| retention.as_secs() as i64);
                let result = ::sqlx::query("UPDATE tenants SET retention_secs = $2 WHERE id = $1")
                    .bind(tenant.as_uuid())
                    .bind(secs)
                    .execute(self.writer())
                    .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn expired_identities(
                &self,
                tenant: $crate::id::TenantId,
                cutoff: ::chrono::DateTime<::chrono::Utc>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::identity::IdentityKey>> {
                let ids: Vec<i64> = ::sqlx::query_scalar(
                    "SELECT id FROM identities
                     WHERE tenant_id = $1 AND oldest_at IS NOT NULL AND oldest_at < $2
                     ORDER BY oldest_at LIMIT $3",
                )
                .bind(tenant.as_uuid())
                .bind($crate::store::columns::Timestamp(cutoff))
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await?;
                Ok(ids
                    .into_iter()
                    .map($crate::domain::identity::IdentityKey)
                    .collect())
            }

            async fn unpurged_identities(
                &self,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::identity::IdentityKey>> {
                let ids: Vec<i64> = ::sqlx::query_scalar(
                    "SELECT id FROM identities WHERE purge_from < earliest_seq ORDER BY id LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await?;
                Ok(ids
                    .into_iter()
                    .map($crate::domain::identity::IdentityKey)
                    .collect())
            }

            /// Two short transactions for all the identities, a fixed number of statements
            /// whatever their number. The first holds their rows (locked in id order, as
            /// appends take them) only while it moves each earliest seq past at most an
            /// even share of `batch` expired events. The second removes rows below the
            /// earliest seqs, which nothing reads or writes any more: the logs' appends
            /// never wait behind a removal.
            async fn sweep_identities(
                &self,
                identities: &[$crate::domain::identity::IdentityKey],
                cutoff: Option<::chrono::DateTime<::chrono::Utc>>,
                batch: u32,
            ) -> $crate::store::StoreResult<$crate::store::Swept> {
                let batch = i64::from(batch.max(1));
                let mut identities = identities.to_vec();
                identities.sort_unstable();
                identities.dedup();
                let mut expired_left = false;
                let mut held = ::std::time::Duration::ZERO;
                if let Some(cutoff) = cutoff {
                    if !identities.is_empty() {
                        let cap = (batch / identities.len() as i64).max(1);
                        let mut tx = self.begin_write().await?;
                        let started = ::std::time::Instant::now();
                        Self::lock_identities(&mut tx, &identities).await?;
                        expired_left =
                            Self::advance_earliest(&mut tx, &identities, cutoff, cap).await?;
                        tx.commit().await?;
                        held = started.elapsed();
                    }
                }
                self.purge_identities(&identities, batch, expired_left, held)
                    .await
            }

            async fn erase_identity(
                &self,
                tenant: $crate::id::TenantId,
                handle: &$crate::domain::identity::IdentityHandle,
                now: ::chrono::DateTime<::chrono::Utc>,
            ) -> $crate::store::StoreResult<Option<$crate::store::Erased>> {
                let mut tx = self.begin_write().await?;
                let erased: Option<(i64, i64)> = ::sqlx::query_as(
                    "UPDATE identities SET erased_at = $3, earliest_seq = head_seq + 1, oldest_at = NULL
                     WHERE tenant_id = $1 AND handle = $2 AND erased_at IS NULL
                     RETURNING id, head_seq",
                )
                .bind(tenant.as_uuid())
                .bind(handle.as_str())
                .bind($crate::store::columns::Timestamp(now))
                .fetch_optional(&mut *tx)
                .await?;
                let Some((id, head)) = erased else {
                    return Ok(None);
                };
                let keys: Vec<::uuid::Uuid> = ::sqlx::query_scalar(
                    "DELETE FROM api_keys WHERE tenant_id = $1 AND identity = $2 RETURNING id",
                )
                .bind(tenant.as_uuid())
                .bind(handle.as_str())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                let keys: Vec<$crate::id::ApiKeyId> = keys
                    .into_iter()
                    .map($crate::id::ApiKeyId::from_uuid)
                    .collect();
                for key in &keys {
                    self.key_revoked(*key).await;
                }
                Ok(Some($crate::store::Erased {
                    identity: $crate::domain::identity::IdentityKey(id),
                    head: $crate::domain::cursor::Seq(head),
                    keys,
                }))
            }

            async fn redact_event(
                &self,
                identity: $crate::domain::identity::IdentityKey,
                id: $crate::id::EventId,
                now: ::chrono::DateTime<::chrono::Utc>,
            ) -> $crate::store::StoreResult<Option<$crate::domain::event::StoredEvent>> {
                use $crate::store::rows::EventRow;
                let row: Option<EventRow> = ::sqlx::query_as(&format!(
                    "UPDATE events SET data = '{}', redacted_at = coalesce(redacted_at, $3)
                     WHERE identity_id = $1 AND id = $2 AND seq >= (
                         SELECT earliest_seq FROM identities WHERE id = $1 AND erased_at IS NULL)
                     RETURNING seq, id, type, data, created_at, redacted_at",
                    $crate::domain::event::StoredEvent::TOMBSTONE
                ))
                .bind(identity.0)
                .bind(id.as_uuid())
                .bind($crate::store::columns::Timestamp(now))
                .fetch_optional(self.writer())
                .await?;
                Ok(row.map(Into::into))
            }

            fn removal_pace(&self) -> $crate::store::RemovalPace {
                $pace
            }

            async fn trim_delivery_log(
                &self,
                before: ::chrono::DateTime<::chrono::Utc>,
                batch: u32,
            ) -> $crate::store::StoreResult<u64> {
                let removed = ::sqlx::query(
                    "DELETE FROM deliveries WHERE id IN (
                         SELECT id FROM deliveries WHERE id < $1 AND status <> 'pending'
                         ORDER BY id LIMIT $2)",
                )
                .bind($crate::id::DeliveryId::floor(before).as_uuid())
                .bind(i64::from(batch))
                .execute(self.writer())
                .await?
                .rows_affected();
                Ok(removed)
            }

            async fn reclaim(&self) -> $crate::store::StoreResult<()> {
                self.reclaim_space().await
            }

            async fn oldest_event_at(
                &self,
            ) -> $crate::store::StoreResult<Option<::chrono::DateTime<::chrono::Utc>>> {
                // Each tenant's oldest through the index the sweep uses: a look-up per
                // tenant rather than a scan of every identity.
                let oldest: Option<$crate::store::columns::Timestamp> = ::sqlx::query_scalar(
                    "SELECT min((SELECT min(i.oldest_at) FROM identities i
                                 WHERE i.tenant_id = t.id AND i.oldest_at IS NOT NULL))
                     FROM tenants t",
                )
                .fetch_one(self.reader())
                .await?;
                Ok(oldest.map(|at| at.0))
            }
        }
    };
}

pub(crate) use retention_store;
