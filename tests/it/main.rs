//! seqhook's integration tests: one binary, real PostgreSQL, real HTTP over loopback.

mod api_keys;
mod append;
mod bad_input;
mod concurrency;
mod event_types;
mod identities;
mod long_poll;
mod ops;
mod pull;
mod push;
mod support;
mod tenants;
mod webhooks;
