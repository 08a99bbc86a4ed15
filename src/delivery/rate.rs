//! Per-webhook rate limits (deliveries per second), applied to fresh events, retries and
//! replays alike. Each delivery is given its moment to go when it is handed to a worker, in
//! the order the deliveries were claimed; the workers then wait for their moments. Taking
//! turns at hand-over rather than racing for them when they come is what keeps a backlog
//! going out oldest first: tasks are not scheduled in the order they were spawned.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::id::WebhookId;

#[derive(Default)]
pub struct RateLimits {
    /// Per webhook, the moment the next delivery may go: the previous one's plus one
    /// interval. No burst: deliveries are spaced evenly, so a receiver sees its rate as a
    /// pace.
    next_free: Mutex<HashMap<WebhookId, Instant>>,
}

impl RateLimits {
    /// The moment a delivery to `webhook`, rate-limited at `per_second`, may be sent:
    /// now if the webhook has been quiet, else one interval after the one reserved before.
    pub fn reserve(&self, webhook: WebhookId, per_second: u32) -> Instant {
        let interval = Duration::from_secs(1) / per_second.max(1);
        let now = Instant::now();
        let mut next_free = self.next_free.lock().expect("rate lock");
        let free = next_free.entry(webhook).or_insert(now);
        let slot = (*free).max(now);
        *free = slot + interval;
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn deliveries_are_spaced_evenly_in_the_order_they_were_reserved() {
        let limits = RateLimits::default();
        let webhook = WebhookId::generate();
        let start = Instant::now();
        let slots: Vec<Duration> = (0..4).map(|_| limits.reserve(webhook, 2) - start).collect();
        assert_eq!(
            slots,
            [0, 500, 1000, 1500].map(Duration::from_millis),
            "one every half second"
        );
        let other = limits.reserve(WebhookId::generate(), 2);
        assert_eq!(other, start, "another webhook has its own pace");
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_webhook_may_send_at_once() {
        let limits = RateLimits::default();
        let webhook = WebhookId::generate();
        limits.reserve(webhook, 10);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(limits.reserve(webhook, 10), Instant::now());
    }
}
