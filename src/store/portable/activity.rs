//! `ActivityStore`: counts added by upsert, so that processes sharing the database add to
//! one another's; rows are written in key order, so two processes' batches take their row
//! locks in the same order and cannot deadlock.

/// Rows per statement: well under both databases' limit on bound values.
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

macro_rules! activity_store {
    ($store:ty) => {
        #[::async_trait::async_trait]
        impl $crate::store::ActivityStore for $store {
            async fn add_activity(
                &self,
                batch: &$crate::store::activity::ActivityBatch,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::columns::Timestamp;
                use $crate::store::portable::activity::ROWS_PER_STATEMENT;
                let mut appends = batch.appends.clone();
                appends.sort_unstable_by_key(|count| (count.tenant, count.minute));
                let mut attempts = batch.attempts.clone();
                attempts.sort_unstable_by_key(|count| {
                    (count.webhook, count.minute, count.kind, count.bucket)
                });
                let mut tx = self.begin_write().await?;
                for chunk in appends.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = ::sqlx::QueryBuilder::new(
                        "INSERT INTO append_minutes (tenant_id, minute, events) ",
                    );
                    insert.push_values(chunk, |mut row, count| {
                        row.push_bind(count.tenant.as_uuid())
                            .push_bind(count.minute.0)
                            .push_bind(i64::try_from(count.events).unwrap_or(i64::MAX));
                    });
                    insert.push(
                        " ON CONFLICT (tenant_id, minute)
                          DO UPDATE SET events = append_minutes.events + excluded.events",
                    );
                    insert.build().execute(&mut *tx).await?;
                }
                for chunk in attempts.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = ::sqlx::QueryBuilder::new(
                        "INSERT INTO attempt_minutes (webhook_id, minute, outcome, bucket, attempts) ",
                    );
                    insert.push_values(chunk, |mut row, count| {
                        row.push_bind(count.webhook.as_uuid())
                            .push_bind(count.minute.0)
                            .push_bind(count.kind.as_str())
                            .push_bind(count.bucket)
                            .push_bind(i64::try_from(count.attempts).unwrap_or(i64::MAX));
                    });
                    insert.push(
                        " ON CONFLICT (webhook_id, minute, outcome, bucket)
                          DO UPDATE SET attempts = attempt_minutes.attempts + excluded.attempts",
                    );
                    insert.build().execute(&mut *tx).await?;
                }
                let mut failures: Vec<_> = batch.failures.iter().collect();
                failures.sort_unstable_by_key(|(webhook, _)| *webhook);
                for (webhook, failure) in failures {
                    // A webhook removed since its attempt has nowhere to keep it.
                    ::sqlx::query(
                        "INSERT INTO webhook_last_errors
                             (webhook_id, delivery_id, at, status_code, error, response_body)
                         SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $1)
                         ON CONFLICT (webhook_id) DO UPDATE SET
                             delivery_id = excluded.delivery_id, at = excluded.at,
                             status_code = excluded.status_code, error = excluded.error,
                             response_body = excluded.response_body
                         WHERE excluded.at >= webhook_last_errors.at",
                    )
                    .bind(webhook.as_uuid())
                    .bind(failure.delivery_id.as_uuid())
                    .bind(Timestamp(failure.at))
                    .bind(failure.status_code.map(i32::from))
                    .bind(failure.error.as_deref())
                    .bind(failure.response_body.as_deref())
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::after_sending)?;
                Ok(())
            }

            async fn append_minutes(
                &self,
                tenant: $crate::id::TenantId,
                minutes: ::std::ops::RangeInclusive<$crate::domain::activity::Minute>,
            ) -> $crate::store::StoreResult<Vec<($crate::domain::activity::Minute, u64)>> {
                use $crate::store::rows::activity::AppendMinuteRow;
                let rows: Vec<AppendMinuteRow> = ::sqlx::query_as(
                    "SELECT minute, events FROM append_minutes
                     WHERE tenant_id = $1 AND minute BETWEEN $2 AND $3 ORDER BY minute",
                )
                .bind(tenant.as_uuid())
                .bind(minutes.start().0)
                .bind(minutes.end().0)
                .fetch_all(self.reader())
                .await?;
                Ok(rows.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?)
            }

            async fn attempt_minutes(
                &self,
                tenant: $crate::id::TenantId,
                minutes: ::std::ops::RangeInclusive<$crate::domain::activity::Minute>,
            ) -> $crate::store::StoreResult<
                Vec<(
                    $crate::domain::activity::Minute,
                    $crate::domain::activity::AttemptKind,
                    u64,
                )>,
            > {
                use $crate::store::rows::activity::AttemptMinuteRow;
                let rows: Vec<AttemptMinuteRow> = ::sqlx::query_as(
                    "SELECT m.minute, m.outcome, CAST(SUM(m.attempts) AS bigint) AS attempts
                     FROM attempt_minutes m JOIN webhooks w ON w.id = m.webhook_id
                     WHERE w.tenant_id = $1 AND m.minute BETWEEN $2 AND $3
                     GROUP BY m.minute, m.outcome ORDER BY m.minute",
                )
                .bind(tenant.as_uuid())
                .bind(minutes.start().0)
                .bind(minutes.end().0)
                .fetch_all(self.reader())
                .await?;
                Ok(rows.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?)
            }

            async fn webhook_attempts(
                &self,
                webhooks: &[$crate::id::WebhookId],
                minutes: ::std::ops::RangeInclusive<$crate::domain::activity::Minute>,
            ) -> $crate::store::StoreResult<
                Vec<(
                    $crate::id::WebhookId,
                    $crate::domain::activity::AttemptKind,
                    i16,
                    u64,
                )>,
            > {
                use $crate::store::rows::activity::WebhookAttemptsRow;
                if webhooks.is_empty() {
                    return Ok(Vec::new());
                }
                let mut query = ::sqlx::QueryBuilder::new(
                    "SELECT webhook_id, outcome, bucket, CAST(SUM(attempts) AS bigint) AS attempts
                     FROM attempt_minutes WHERE minute BETWEEN ",
                );
                query
                    .push_bind(minutes.start().0)
                    .push(" AND ")
                    .push_bind(minutes.end().0)
                    .push(" AND webhook_id IN (");
                let mut ids = query.separated(", ");
                for webhook in webhooks {
                    ids.push_bind(webhook.as_uuid());
                }
                query.push(") GROUP BY webhook_id, outcome, bucket");
                let rows: Vec<WebhookAttemptsRow> =
                    query.build_query_as().fetch_all(self.reader()).await?;
                Ok(rows.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?)
            }

            async fn backlogs(
                &self,
                webhooks: &[$crate::id::WebhookId],
                cap: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::activity::Backlog>> {
                use $crate::store::rows::activity::BacklogRow;
                if webhooks.is_empty() {
                    return Ok(Vec::new());
                }
                // Both read the pending deliveries' own index; the count stops one past `cap`,
                // which is enough to tell that there are more.
                let mut query = ::sqlx::QueryBuilder::new(
                    "SELECT w.id AS webhook_id,
                            (SELECT COUNT(*) FROM (SELECT 1 FROM deliveries d
                                 WHERE d.webhook_id = w.id AND d.status = 'pending' LIMIT ",
                );
                query.push_bind(i64::from(cap) + 1).push(
                    ") p) AS pending,
                            (SELECT d.id FROM deliveries d
                                 WHERE d.webhook_id = w.id AND d.status = 'pending'
                                 ORDER BY d.id LIMIT 1) AS oldest
                     FROM webhooks w WHERE w.id IN (",
                );
                let mut ids = query.separated(", ");
                for webhook in webhooks {
                    ids.push_bind(webhook.as_uuid());
                }
                query.push(")");
                let rows: Vec<BacklogRow> = query.build_query_as().fetch_all(self.reader()).await?;
                Ok(rows.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?)
            }

            async fn last_failures(
                &self,
                webhooks: &[$crate::id::WebhookId],
            ) -> $crate::store::StoreResult<
                Vec<($crate::id::WebhookId, $crate::domain::activity::FailedAttempt)>,
            > {
                use $crate::store::rows::activity::FailureRow;
                if webhooks.is_empty() {
                    return Ok(Vec::new());
                }
                let mut query = ::sqlx::QueryBuilder::new(format!(
                    "SELECT {} FROM webhook_last_errors WHERE webhook_id IN (",
                    FailureRow::COLUMNS
                ));
                let mut ids = query.separated(", ");
                for webhook in webhooks {
                    ids.push_bind(webhook.as_uuid());
                }
                query.push(")");
                let rows: Vec<FailureRow> = query.build_query_as().fetch_all(self.reader()).await?;
                Ok(rows.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?)
            }

            async fn forget_activity(
                &self,
                before: $crate::domain::activity::Minute,
            ) -> $crate::store::StoreResult<u64> {
                let mut removed = 0;
                for table in ["append_minutes", "attempt_minutes"] {
                    removed += ::sqlx::query(&format!("DELETE FROM {table} WHERE minute < $1"))
                        .bind(before.0)
                        .execute(self.writer())
                        .await?
                        .rows_affected();
                }
                Ok(removed)
            }
        }
    };
}

pub(crate) use activity_store;
