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
