//! Sending: one signed request per delivery, within three limits. Its webhook's rate (a
//! turn taken when the delivery is handed over, and a pace kept just before it goes), its
//! webhook's cap on requests in flight, and the process's. A delivery whose lease would
//! end before its answer could come is not sent at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::DeliveryConfig;
use super::attempt::{self, Message};
use super::rate::RateLimits;
use super::schedule::Response;
use crate::clock::Clock;
use crate::domain::delivery::Attempt;
use crate::domain::dialect::SignatureDialect;
use crate::domain::event::Envelope;
use crate::domain::secret::SigningSecret;
use crate::domain::target::WebhookUrl;
use crate::id::{EventId, WebhookId};
use crate::store::ClaimedDelivery;

pub struct Sender {
    client: reqwest::Client,
    /// Requests in flight, across all webhooks.
    requests: Semaphore,
    /// The per-webhook cap on requests in flight.
    sending: Mutex<HashMap<WebhookId, Arc<Semaphore>>>,
    per_webhook: usize,
    rate_limits: RateLimits,
    timeout: chrono::Duration,
    allow_private: bool,
}

/// What became of a delivery given to `send`.
pub enum Sent {
    /// Its lease would end before an answer could come: not sent, for the lease to be
    /// handed back and the delivery claimed afresh.
    TooLate,
    Answered {
        record: Attempt,
        response: Response,
    },
}

impl Sender {
    pub fn new(config: &DeliveryConfig) -> Self {
        Self {
            client: super::client::build(config.timeout, config.allow_private),
            requests: Semaphore::new(config.concurrency),
            sending: Mutex::default(),
            per_webhook: config.per_webhook as usize,
            rate_limits: RateLimits::default(),
            timeout: chrono::Duration::from_std(config.timeout).unwrap_or(chrono::Duration::MAX),
            allow_private: config.allow_private,
        }
    }

    /// The delivery's turn under its webhook's rate limit. Taken when the delivery is
    /// handed over, in the order deliveries are, not in the sending tasks, which run in no
    /// particular order: that keeps a backlog going out oldest first.
    pub fn turn(&self, delivery: &ClaimedDelivery) -> Option<Instant> {
        delivery
            .rate_limit
            .map(|per_second| self.rate_limits.reserve(delivery.webhook_id, per_second))
    }

    /// Sends `delivery` once its turn and a request slot come, unless its lease (until
    /// `lease_until`) would end before the answer could.
    pub async fn send(
        &self,
        delivery: &ClaimedDelivery,
        turn: Option<Instant>,
        lease_until: DateTime<Utc>,
        clock: &dyn Clock,
    ) -> Sent {
        if let Some(turn) = turn {
            tokio::time::sleep_until(turn).await;
        }
        let _sending = self
            .webhook_slots(delivery.webhook_id)
            .acquire_owned()
            .await
            .expect("never closed");
        if let Some(per_second) = delivery.rate_limit {
            self.rate_limits.pace(delivery.webhook_id, per_second).await;
        }
        let _request = self.requests.acquire().await.expect("never closed");
        // A request must end before its lease does, or another claim could send it too.
        if clock.now() >= lease_until - self.timeout {
            return Sent::TooLate;
        }
        let body = serde_json::to_vec(&Envelope::new(&delivery.event, &delivery.identity))
            .expect("an envelope serialises");
        let id = delivery.event.id.to_string();
        let message = Message {
            url: delivery.url.as_url(),
            id: &id,
            body,
            secrets: &delivery.secrets,
            dialect: &delivery.dialect,
        };
        let (record, response) =
            attempt::send(&self.client, message, clock.now(), self.allow_private).await;
        Sent::Answered { record, response }
    }

    /// Sends a signed `webhook.ping` now, outside the outbox and its limits.
    pub async fn ping(
        &self,
        url: &WebhookUrl,
        secrets: &[SigningSecret],
        dialect: &SignatureDialect,
        webhook: WebhookId,
        now: DateTime<Utc>,
    ) -> Attempt {
        let id = EventId::generate().to_string();
        let body = serde_json::json!({
            "id": id,
            "type": "webhook.ping",
            "createdAt": crate::timestamp::format(&now),
            "data": { "webhookId": webhook },
        });
        let message = Message {
            url: url.as_url(),
            id: &id,
            body: body.to_string().into_bytes(),
            secrets,
            dialect,
        };
        attempt::send(&self.client, message, now, self.allow_private)
            .await
            .0
    }

    fn webhook_slots(&self, webhook: WebhookId) -> Arc<Semaphore> {
        let mut sending = self.sending.lock().expect("sending lock");
        Arc::clone(
            sending
                .entry(webhook)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_webhook))),
        )
    }
}

/// How long an answer took, as the pace of its webhook's receiver.
pub fn took(record: &Attempt) -> Duration {
    Duration::from_millis(u64::from(record.duration_ms))
}
