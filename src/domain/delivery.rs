//! What the delivery log shows: deliveries, their attempts, and how to ask for them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::cursor::Seq;
use super::identity::IdentityHandle;
use crate::id::{DeliveryId, EventId, WebhookId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Succeeded,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == raw)
    }
}

/// One try at delivering, as recorded.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub at: DateTime<Utc>,
    pub duration_ms: u32,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    /// The first 1 KiB of what the endpoint answered.
    pub response_body: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub identity: IdentityHandle,
    pub seq: Seq,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
}

/// What an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttemptOutcome {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// 410: the endpoint asked never to be called again; the webhook is disabled.
    Gone,
    GaveUp,
}
