//! `WebhookStore`: webhooks and their signing secrets.

macro_rules! webhook_store {
    ($store:ty) => {
        #[::async_trait::async_trait]
        impl $crate::store::WebhookStore for $store {
            async fn create_webhook(
                &self,
                webhook: &$crate::domain::webhook::Webhook,
                secret: &$crate::domain::secret::SigningSecret,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::columns::{TextList, Timestamp};
                let mut tx = self.begin_write().await?;
                ::sqlx::query(
                    "INSERT INTO webhooks (id, tenant_id, url, event_names, event_prefixes, identities,
                                           description, ordered, rate_limit, active, created_at, updated_at,
                                           signature_dialect)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)",
                )
                .bind(webhook.id.as_uuid())
                .bind(webhook.tenant_id.as_uuid())
                .bind(webhook.url.as_str())
                .bind(webhook.events.names.clone().map(TextList))
                .bind(webhook.events.prefixes.clone().map(TextList))
                .bind(webhook.identities.as_deref().map(TextList::handles))
                .bind(&webhook.description)
                .bind(webhook.ordered)
                .bind(webhook.rate_limit.map(|limit| limit.min(i32::MAX as u32) as i32))
                .bind(webhook.active)
                .bind(Timestamp(webhook.created_at))
                .bind(webhook.dialect.stored())
                .execute(&mut *tx)
                .await?;
                ::sqlx::query(
                    "INSERT INTO webhook_secrets (webhook_id, secret, created_at) VALUES ($1, $2, $3)",
                )
                .bind(webhook.id.as_uuid())
                .bind(secret.expose())
                .bind(Timestamp(webhook.created_at))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn find_webhook(
                &self,
                tenant: $crate::id::TenantId,
                id: $crate::id::WebhookId,
            ) -> $crate::store::StoreResult<Option<$crate::domain::webhook::Webhook>> {
                use $crate::store::rows::WebhookRow;
                let row: Option<WebhookRow> = ::sqlx::query_as(&format!(
                    "SELECT {} FROM webhooks WHERE tenant_id = $1 AND id = $2",
                    WebhookRow::COLUMNS
                ))
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(TryInto::try_into).transpose()?)
            }

            async fn list_webhooks(
                &self,
                tenant: $crate::id::TenantId,
                after: Option<$crate::id::WebhookId>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::webhook::Webhook>> {
                use $crate::store::rows::WebhookRow;
                let rows: Vec<WebhookRow> = ::sqlx::query_as(&format!(
                    "SELECT {} FROM webhooks WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2)
                     ORDER BY id LIMIT $3",
                    WebhookRow::COLUMNS
                ))
                .bind(tenant.as_uuid())
                .bind(after.map(|id| id.as_uuid()))
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await?;
                Ok($crate::store::rows::decoded(rows)?)
            }

            /// One transaction. Re-activating clears the reason and the failure streak, and
            /// makes the held deliveries due at once, each as of when it was made, so the
            /// claims take them oldest first: a row that was waiting out a retry delay goes
            /// in its event's place, not last. Only a webhook that was inactive has held
            /// rows: on an active one, rows due later are leased or waiting out a retry
            /// delay, and stay so.
            async fn update_webhook(
                &self,
                tenant: $crate::id::TenantId,
                id: $crate::id::WebhookId,
                patch: &$crate::store::WebhookPatch,
                now: ::chrono::DateTime<::chrono::Utc>,
            ) -> $crate::store::StoreResult<Option<$crate::domain::webhook::Webhook>> {
                use $crate::store::columns::Timestamp;
                use $crate::store::rows::WebhookRow;
                let mut tx = self.begin_write().await?;
                let was_active: Option<bool> =
                    ::sqlx::query_scalar("SELECT active FROM webhooks WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.as_uuid())
                        .bind(id.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await?;
                let mut update = ::sqlx::QueryBuilder::new("UPDATE webhooks SET ");
                patch.push_assignments(&mut update, Timestamp(now));
                update
                    .push(" WHERE tenant_id = ")
                    .push_bind(tenant.as_uuid())
                    .push(" AND id = ")
                    .push_bind(id.as_uuid())
                    .push(" RETURNING ")
                    .push(WebhookRow::COLUMNS);
                let row: Option<WebhookRow> = update.build_query_as().fetch_optional(&mut *tx).await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                if patch.active == Some(true) && was_active == Some(false) {
                    ::sqlx::query(
                        "UPDATE deliveries
                         SET next_attempt_at = CASE WHEN created_at < $2 THEN created_at ELSE $2 END
                         WHERE webhook_id = $1 AND status = 'pending' AND next_attempt_at > $2",
                    )
                    .bind(id.as_uuid())
                    .bind(Timestamp(now))
                    .execute(&mut *tx)
                    .await?;
                }
                let webhook = row.try_into()?;
                tx.commit().await?;
                Ok(Some(webhook))
            }

            /// Deletes the webhook; its secrets and outbox rows go with it (ON DELETE
            /// CASCADE).
            async fn delete_webhook(
                &self,
                tenant: $crate::id::TenantId,
                id: $crate::id::WebhookId,
            ) -> $crate::store::StoreResult<bool> {
                let result = ::sqlx::query("DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.as_uuid())
                    .bind(id.as_uuid())
                    .execute(self.writer())
                    .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn webhook_secrets(
                &self,
                tenant: $crate::id::TenantId,
                id: $crate::id::WebhookId,
                now: ::chrono::DateTime<::chrono::Utc>,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::secret::SigningSecret>> {
                let secrets: Vec<String> = ::sqlx::query_scalar(
                    "SELECT s.secret FROM webhook_secrets s JOIN webhooks w ON w.id = s.webhook_id
                     WHERE w.tenant_id = $1 AND w.id = $2 AND (s.expires_at IS NULL OR s.expires_at > $3)
                     ORDER BY s.created_at DESC",
                )
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .bind($crate::store::columns::Timestamp(now))
                .fetch_all(self.reader())
                .await?;
                Ok($crate::store::rows::signing_secrets(&secrets)?)
            }

            /// One transaction, which starts by touching the webhook's row: rotations of
            /// one webhook queue behind each other, so each retires what the last added.
            async fn rotate_webhook_secret(
                &self,
                tenant: $crate::id::TenantId,
                id: $crate::id::WebhookId,
                secret: &$crate::domain::secret::SigningSecret,
                now: ::chrono::DateTime<::chrono::Utc>,
                retire_at: ::chrono::DateTime<::chrono::Utc>,
            ) -> $crate::store::StoreResult<bool> {
                use $crate::store::columns::Timestamp;
                let mut tx = self.begin_write().await?;
                let found = ::sqlx::query(
                    "UPDATE webhooks SET updated_at = $3 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .bind(Timestamp(now))
                .execute(&mut *tx)
                .await?;
                if found.rows_affected() == 0 {
                    return Ok(false);
                }
                ::sqlx::query(
                    "UPDATE webhook_secrets
                     SET expires_at = CASE WHEN expires_at IS NOT NULL AND expires_at < $2
                                           THEN expires_at ELSE $2 END
                     WHERE webhook_id = $1",
                )
                .bind(id.as_uuid())
                .bind(Timestamp(retire_at))
                .execute(&mut *tx)
                .await?;
                ::sqlx::query(
                    "INSERT INTO webhook_secrets (webhook_id, secret, created_at) VALUES ($1, $2, $3)",
                )
                .bind(id.as_uuid())
                .bind(secret.expose())
                .bind(Timestamp(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

pub(crate) use webhook_store;
