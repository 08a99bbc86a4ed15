//! seqhook: a multi-tenant event log served over HTTP.
//!
//! The parts, top to bottom; each imports only the parts below it:
//!
//! - [`http`]: the API. Extracts and checks a request, calls one service, maps the result.
//! - [`log`]: the event log's rules (identities, event types and their schemas, idempotency,
//!   group commit, wake-ups, erasure and redaction); it tells its neighbours of a commit through interfaces of its
//!   own ([`log::hooks`]).
//! - [`sources`]: email providers' event webhooks pointed at seqhook: each post
//!   authenticated by the provider's signature, read into typed events, appended through the
//!   log.
//! - [`webhooks`]: registering webhooks and everything a tenant does with them (changes,
//!   secrets, replays, pings, the delivery log), with their rules; it wakes `delivery`.
//! - [`delivery`]: webhook push, implementing the log's `DeliveryLeases`: claims, signed
//!   attempts, retries, rate limits.
//! - [`activity`]: appends and delivery attempts counted by the minute, in memory, stored
//!   every few seconds, and read back as the stats' report.
//! - [`retention`]: the sweep that removes expired events, and what erasures left, in
//!   bounded, paced steps.
//! - [`tenancy`]: who may do what: provisioning tenants, the keys their admins manage, and
//!   the keyring that turns a presented key into a live one.
//! - [`store`]: persistence, the only part with SQL: one trait per kind of record, each
//!   implemented on PostgreSQL and on the embedded SQLite in files of the same name.
//! - [`domain`]: the nouns every part speaks (events, identities, keys, webhooks,
//!   deliveries), each parsed at the edge.
//!
//! Around them: [`app`] wires the parts into a value that serves; [`config`] and [`cli`]
//! read flags; [`listen`] and [`bench`](mod@bench) are clients of the API; `id`, `clock`, `metrics`,
//! `schema`, `shutdown`, `telemetry` and `timestamp` are small pieces every part may use.
//!
//! One event's path: `http/events.rs` → `log/append.rs` (ids, idempotency) →
//! `log/appender.rs` (group commit) → `store` (one transaction: the identity's counter bump,
//! the event rows and their webhook deliveries) → after commit, `log/wakeups.rs` wakes this
//! process's long-polls, `log/broadcast.rs` tells other processes through `NOTIFY`, and
//! `delivery/pool/` sends the deliveries the append leased to it.

pub mod activity;
pub mod app;
pub mod bench;
pub mod cli;
pub mod cli_tenants;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod http;
pub mod id;
pub mod listen;
pub mod log;
pub mod metrics;
pub mod retention;
pub mod schema;
pub mod shutdown;
pub mod sources;
pub mod store;
pub mod telemetry;
pub mod tenancy;
pub mod timestamp;
pub mod webhooks;
