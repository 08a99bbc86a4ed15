//! WEBHOOK PUSH: outbox row → signed HTTP → attempt record.
//!
//! The append transaction writes the outbox rows (`store`), on PostgreSQL already leased to
//! this process's `pool` where it has room (`admission`, each webhook's share in `load`);
//! the pool claims the rest with a lease. The `sender` sends each within its webhook's rate
//! (`rate`) and caps, through the SSRF-guarded `client` (`attempt`, signed by
//! `signature`); `schedule` says what the answer means, and the `recorder` writes it.
//! `signature` and `schedule` are pure.

pub mod admission;
pub mod attempt;
pub mod client;
mod load;
pub mod pool;
pub mod rate;
pub mod recorder;
pub mod schedule;
pub mod sender;
pub mod signature;

use std::time::Duration;

use schedule::RetrySchedule;

/// How the delivery workers behave: the retry schedule, timeouts, caps and the lease.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    pub schedule: RetrySchedule,
    pub timeout: Duration,
    pub concurrency: usize,
    pub per_webhook: u32,
    pub allow_private: bool,
    pub disable_after: Duration,
    pub poll_interval: Duration,
    /// How long a claim is held before another worker may take it: the timeout plus room
    /// for waiting on a rate limit.
    pub lease: Duration,
}
