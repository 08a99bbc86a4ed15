//! `RetentionStore`: sweeping expired events, erasing identities, redacting events. `$lock`
//! is the clause that takes an identity's row lock (`FOR UPDATE`; nothing on SQLite, whose
//! write transaction holds the database's one write lock from its start), and `$pace` how
//! the sweep should pace removal there (`RetentionStore::removal_pace`).

macro_rules! retention_store {
    ($store:ty, $lock:literal, $pace:expr) => {
        impl $store {
            /// Removes at most `batch` events in all below the identities' earliest seqs,
            /// with every delivery below each one's step end (attempts go by cascade): none
            /// may outlive its event. The deletes come first and the marks last, so the
            /// identities' rows are held only from the marks to the commit. `more` carries
            /// on what the caller already knows is left.
            async fn purge_identities(
                &self,
                identities: &[$crate::domain::identity::IdentityKey],
                batch: i64,
                mut more: bool,
            ) -> $crate::store::StoreResult<$crate::store::Swept> {
                let mut tx = self.begin_write().await?;
                let mut budget = batch;
                let mut marks = Vec::new();
                let mut removed = 0;
                for identity in identities {
                    let bounds: Option<(i64, i64)> = ::sqlx::query_as(
                        "SELECT earliest_seq, purge_from FROM identities WHERE id = $1",
                    )
                    .bind(identity.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some((earliest, purge_from)) = bounds else {
                        continue;
                    };
                    if purge_from >= earliest {
                        continue;
                    }
                    if budget <= 0 {
                        more = true;
                        break;
                    }
                    let purge_to = earliest.min(purge_from.saturating_add(budget));
                    more |= purge_to < earliest;
                    ::sqlx::query("DELETE FROM deliveries WHERE identity_id = $1 AND seq < $2")
                        .bind(identity.0)
                        .bind(purge_to)
                        .execute(&mut *tx)
                        .await?;
                    let events = ::sqlx::query(
                        "DELETE FROM events WHERE identity_id = $1 AND seq >= $2 AND seq < $3",
                    )
                    .bind(identity.0)
                    .bind(purge_from)
                    .bind(purge_to)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    removed += events;
                    budget -= $crate::store::retention::step_cost(purge_to - purge_from);
                    marks.push((identity.0, purge_to));
                }
                // Another process may have removed the same rows meanwhile: a mark only
                // moves forward.
                for (identity, purge_to) in marks {
                    ::sqlx::query(
                        "UPDATE identities SET purge_from = $2 WHERE id = $1 AND purge_from < $2",
                    )
                    .bind(identity)
                    .bind(purge_to)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok($crate::store::Swept {
                    events: removed,
                    more,
                })
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

            /// Two short transactions for all the identities, whatever their number. The
            /// first holds their rows (taken in id order, as appends take them) only while
            /// it reads the times of at most `batch` events in all and moves each earliest
            /// seq past the expired ones. The second removes rows below the earliest seqs,
            /// which nothing reads or writes any more: the logs' appends never wait behind
            /// a removal.
            async fn sweep_identities(
                &self,
                identities: &[$crate::domain::identity::IdentityKey],
                cutoff: Option<::chrono::DateTime<::chrono::Utc>>,
                batch: u32,
            ) -> $crate::store::StoreResult<$crate::store::Swept> {
                use $crate::store::columns::Timestamp;
                use $crate::store::rows::SweepStateRow;
                let batch = i64::from(batch.max(1));
                let mut identities = identities.to_vec();
                identities.sort_unstable();
                identities.dedup();
                let mut expired_left = false;
                if let Some(cutoff) = cutoff {
                    let mut budget = batch;
                    let mut tx = self.begin_write().await?;
                    for identity in &identities {
                        if budget <= 0 {
                            expired_left = true;
                            break;
                        }
                        let state: Option<SweepStateRow> = ::sqlx::query_as(concat!(
                            "SELECT head_seq, earliest_seq, erased_at FROM identities WHERE id = $1 ",
                            $lock
                        ))
                        .bind(identity.0)
                        .fetch_optional(&mut *tx)
                        .await?;
                        let Some(state) = state.filter(|state| state.erased_at.is_none()) else {
                            continue;
                        };
                        // Seqs follow time within a log, so the expired events are a prefix.
                        let held: Vec<(i64, Timestamp)> = ::sqlx::query_as(
                            "SELECT seq, created_at FROM events
                             WHERE identity_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
                        )
                        .bind(identity.0)
                        .bind(state.earliest_seq)
                        .bind(budget + 1)
                        .fetch_all(&mut *tx)
                        .await?;
                        let mut earliest = state.earliest_seq;
                        let mut oldest_at = None;
                        for (advanced, (seq, created_at)) in held.into_iter().enumerate() {
                            if (advanced as i64) < budget && created_at.0 < cutoff {
                                earliest = seq + 1;
                            } else {
                                expired_left |= created_at.0 < cutoff;
                                oldest_at = Some(created_at);
                                break;
                            }
                        }
                        if oldest_at.is_none() {
                            // Nothing left after the expired ones: the log holds no event.
                            earliest = earliest.max(state.head_seq + 1);
                        }
                        budget -= $crate::store::retention::step_cost(earliest - state.earliest_seq);
                        ::sqlx::query(
                            "UPDATE identities SET earliest_seq = $2, oldest_at = $3 WHERE id = $1",
                        )
                        .bind(identity.0)
                        .bind(earliest)
                        .bind(oldest_at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                }
                self.purge_identities(&identities, batch, expired_left).await
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
