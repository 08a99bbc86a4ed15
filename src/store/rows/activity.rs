//! Activity by the minute, as stored and summed.

use sqlx::FromRow;
use uuid::Uuid;

use super::parsed;
use crate::domain::activity::{AttemptKind, FailedAttempt, Minute};
use crate::id::{DeliveryId, WebhookId};
use crate::store::activity::Backlog;
use crate::store::columns::Timestamp;

fn kind(stored: &str) -> Result<AttemptKind, sqlx::Error> {
    parsed(
        "outcome",
        AttemptKind::parse(stored).ok_or("an unknown outcome"),
    )
}

fn total(stored: i64) -> Result<u64, sqlx::Error> {
    parsed("attempts", u64::try_from(stored))
}

#[derive(FromRow)]
pub struct AppendMinuteRow {
    minute: i64,
    events: i64,
}

impl TryFrom<AppendMinuteRow> for (Minute, u64) {
    type Error = sqlx::Error;

    fn try_from(row: AppendMinuteRow) -> Result<Self, Self::Error> {
        Ok((
            Minute(row.minute),
            parsed("events", u64::try_from(row.events))?,
        ))
    }
}

#[derive(FromRow)]
pub struct AttemptMinuteRow {
    minute: i64,
    outcome: String,
    attempts: i64,
}

impl TryFrom<AttemptMinuteRow> for (Minute, AttemptKind, u64) {
    type Error = sqlx::Error;

    fn try_from(row: AttemptMinuteRow) -> Result<Self, Self::Error> {
        Ok((
            Minute(row.minute),
            kind(&row.outcome)?,
            total(row.attempts)?,
        ))
    }
}

#[derive(FromRow)]
pub struct WebhookAttemptsRow {
    #[sqlx(try_from = "Uuid")]
    webhook_id: WebhookId,
    outcome: String,
    bucket: i16,
    attempts: i64,
}

impl TryFrom<WebhookAttemptsRow> for (WebhookId, AttemptKind, i16, u64) {
    type Error = sqlx::Error;

    fn try_from(row: WebhookAttemptsRow) -> Result<Self, Self::Error> {
        Ok((
            row.webhook_id,
            kind(&row.outcome)?,
            row.bucket,
            total(row.attempts)?,
        ))
    }
}

#[derive(FromRow)]
pub struct BacklogRow {
    #[sqlx(try_from = "Uuid")]
    webhook_id: WebhookId,
    pending: i64,
    oldest: Option<Uuid>,
}

impl TryFrom<BacklogRow> for Backlog {
    type Error = sqlx::Error;

    fn try_from(row: BacklogRow) -> Result<Self, Self::Error> {
        Ok(Backlog {
            webhook: row.webhook_id,
            pending: parsed("pending", u64::try_from(row.pending))?,
            oldest: row.oldest.map(DeliveryId::from_uuid),
        })
    }
}

#[derive(FromRow)]
pub struct FailureRow {
    #[sqlx(try_from = "Uuid")]
    webhook_id: WebhookId,
    #[sqlx(try_from = "Uuid")]
    delivery_id: DeliveryId,
    at: Timestamp,
    status_code: Option<i32>,
    error: Option<String>,
    response_body: Option<String>,
}

impl FailureRow {
    pub const COLUMNS: &str = "webhook_id, delivery_id, at, status_code, error, response_body";
}

impl TryFrom<FailureRow> for (WebhookId, FailedAttempt) {
    type Error = sqlx::Error;

    fn try_from(row: FailureRow) -> Result<Self, Self::Error> {
        let status_code = row
            .status_code
            .map(|code| parsed("status_code", u16::try_from(code)))
            .transpose()?;
        Ok((
            row.webhook_id,
            FailedAttempt {
                delivery_id: row.delivery_id,
                at: row.at.0,
                status_code,
                error: row.error,
                response_body: row.response_body,
            },
        ))
    }
}
