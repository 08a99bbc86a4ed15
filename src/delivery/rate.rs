//! Per-webhook rate limits (deliveries per second), one token bucket per webhook, applied
//! to fresh events, retries and replays alike.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::id::WebhookId;

#[derive(Default)]
pub struct RateLimits {
    buckets: Mutex<HashMap<WebhookId, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RateLimits {
    /// Waits until `webhook` may send again at `per_second`.
    pub async fn acquire(&self, webhook: WebhookId, per_second: u32) {
        let rate = f64::from(per_second.max(1));
        loop {
            let wait = {
                let mut buckets = self.buckets.lock().expect("rate lock");
                let now = Instant::now();
                let bucket = buckets.entry(webhook).or_insert(Bucket {
                    tokens: rate,
                    refilled: now,
                });
                bucket.tokens = (bucket.tokens
                    + now.duration_since(bucket.refilled).as_secs_f64() * rate)
                    .min(rate);
                bucket.refilled = now;
                if bucket.tokens >= 1.0 {
                    bucket.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - bucket.tokens) / rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_lets_a_burst_through_then_paces() {
        let limits = RateLimits::default();
        let webhook = WebhookId::generate();
        let start = Instant::now();
        for _ in 0..4 {
            limits.acquire(webhook, 2).await;
        }
        // Two at once (the burst), then one every half second.
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }
}
