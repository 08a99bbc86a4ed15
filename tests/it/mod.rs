//! seqhook's integration suite: real databases, real HTTP over loopback, real receivers.
//! One suite, two drivers: `tests/postgres.rs` runs it on PostgreSQL and `tests/sqlite.rs`
//! on the embedded backend, so the two cannot drift apart.

mod api_keys;
mod append;
mod bad_input;
mod browser;
mod concurrency;
mod console;
mod dialects;
mod event_types;
mod identities;
mod listen;
mod lists;
mod long_poll;
mod metrics;
mod openapi;
mod ops;
mod pull;
mod push;
mod retention;
mod slow_clients;
mod socket;
mod sources;
mod stats;
pub mod store;
mod stream;
pub mod support;
mod tenants;
mod webhooks;
