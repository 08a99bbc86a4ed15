//! WEBHOOK PUSH: outbox row → signed HTTP → attempt record.
//!
//! The append transaction writes the outbox rows (`store`), on PostgreSQL already leased to
//! this process's `pool` where it has room (`load`); the pool claims the rest with a lease,
//! sends each with `attempt` through the SSRF-guarded `client`, asks `schedule` what the
//! answer means, and records it. `signature` and `schedule` are pure.

pub mod attempt;
pub mod client;
mod load;
pub mod pool;
pub mod rate;
pub mod schedule;
pub mod signature;
