//! Per-webhook rate limits (deliveries per second), applied to fresh events, retries and
//! replays alike. Each delivery is given its turn when it is handed to a worker, in the
//! order the deliveries were claimed; the workers then wait for their turns. Taking turns
//! at hand-over rather than racing for them when they come is what keeps a backlog going
//! out oldest first: tasks are not scheduled in the order they were spawned. Just before
//! sending, each also keeps its distance from the previous request (`pace`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::id::WebhookId;

#[derive(Default)]
pub struct RateLimits {
    /// Per webhook, the moment the next turn begins: the previous one's plus one interval.
    /// No burst: deliveries are spaced evenly, so a receiver sees its rate as a pace.
    next_turn: Mutex<HashMap<WebhookId, Instant>>,
    /// Per webhook, when the last request went out. Turns order the deliveries; this keeps
    /// the spacing when requests that waited for a free slot all find one at once.
    last_sent: Mutex<HashMap<WebhookId, Instant>>,
}

fn interval(per_second: u32) -> Duration {
    Duration::from_secs(1) / per_second.max(1)
}

impl RateLimits {
    /// The turn of a delivery to `webhook`, rate-limited at `per_second`: now if the
    /// webhook has been quiet, else one interval after the turn reserved before.
    pub fn reserve(&self, webhook: WebhookId, per_second: u32) -> Instant {
        let now = Instant::now();
        let mut next_turn = self.next_turn.lock().expect("rate lock");
        let free = next_turn.entry(webhook).or_insert(now);
        let turn = (*free).max(now);
        *free = turn + interval(per_second);
        turn
    }

    /// Waits, just before a request goes out, until one interval has passed since the
    /// webhook's previous request.
    pub async fn pace(&self, webhook: WebhookId, per_second: u32) {
        let go = {
            let now = Instant::now();
            let mut last_sent = self.last_sent.lock().expect("rate lock");
            let go = last_sent
                .get(&webhook)
                .map_or(now, |last| (*last + interval(per_second)).max(now));
            last_sent.insert(webhook, go);
            go
        };
        tokio::time::sleep_until(go).await;
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
    async fn requests_that_waited_together_still_go_out_one_interval_apart() {
        let limits = RateLimits::default();
        let webhook = WebhookId::generate();
        let start = Instant::now();
        for _ in 0..3 {
            limits.pace(webhook, 4).await;
        }
        assert_eq!(Instant::now() - start, Duration::from_millis(500));
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
