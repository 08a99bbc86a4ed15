//! seqhook: a multi-tenant event log served over HTTP.
//!
//! Four parts, and wiring around them. One event's path through the tree:
//!
//! `http/events.rs` (extract, check scope) → [`log`] (types, schemas, idempotency) →
//! `log/appender.rs` (group commit) → [`store`] (one transaction: the identity's counter
//! bump, the event rows and their webhook deliveries) → after commit, `log/wakeups.rs`
//! wakes this process's long-polls, `log/broadcast.rs` tells other processes through
//! `NOTIFY`, and `delivery/pool.rs` sends the deliveries the append leased to it.
//!
//! - [`log`]: the event log's rules; no HTTP, no SQL.
//! - [`store`]: persistence; the only module with SQL.
//! - [`http`]: the API; thin handlers over `log` and `store`.
//! - [`bench`]: `seqhook bench`, the load tool.
//! - [`listen`]: `seqhook listen`, a pull client that forwards signed events to a local URL.

pub mod app;
pub mod bench;
pub mod cli;
pub mod cli_tenants;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod http;
pub mod id;
pub mod listen;
pub mod log;
pub mod metrics;
pub mod schema;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod tenancy;
pub mod timestamp;
