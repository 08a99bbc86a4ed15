//! Activity by the minute: what the stats count, and the window they are read over.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::delivery::AttemptOutcome;
use crate::id::DeliveryId;

/// A minute, as minutes since the Unix epoch: the unit activity is counted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Minute(pub i64);

impl Minute {
    pub fn of(at: DateTime<Utc>) -> Self {
        Self(at.timestamp().div_euclid(60))
    }

    pub fn start(self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.0.saturating_mul(60), 0).unwrap_or_default()
    }
}

/// What an attempt came to, as the stats count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttemptKind {
    Delivered,
    /// Not delivered; the delivery is tried again (also when the receiver answered `410
    /// Gone`, which holds it until the webhook is active again).
    Retrying,
    /// Not delivered, and it was the last attempt: the delivery failed.
    Failed,
}

impl AttemptKind {
    pub const ALL: [AttemptKind; 3] = [
        AttemptKind::Delivered,
        AttemptKind::Retrying,
        AttemptKind::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Delivered => "delivered",
            AttemptKind::Retrying => "retrying",
            AttemptKind::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

impl From<AttemptOutcome> for AttemptKind {
    fn from(outcome: AttemptOutcome) -> Self {
        match outcome {
            AttemptOutcome::Delivered => AttemptKind::Delivered,
            AttemptOutcome::RetryAt(_) | AttemptOutcome::Gone => AttemptKind::Retrying,
            AttemptOutcome::GaveUp => AttemptKind::Failed,
        }
    }
}

/// A webhook's latest attempt that did not deliver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailedAttempt {
    pub delivery_id: DeliveryId,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub at: DateTime<Utc>,
    /// The receiver's status code; null when it did not answer.
    pub status_code: Option<u16>,
    /// Why it failed, when the receiver did not answer or was not called.
    pub error: Option<String>,
    /// The first 1 KiB of the receiver's answer.
    pub response_body: Option<String>,
}
