//! The store's methods whose statements both backends run alike, written once. Each file
//! holds a macro that implements one trait for a backend; the backend's `mod.rs` invokes
//! it with its store and database types. The statements number their placeholders `$1`,
//! `$2`…, which both drivers bind by number, and speak the SQL both databases share.
//!
//! What a backend brings, as inherent methods: `reader()` and `writer()` (its pools for
//! reads and for writes; one pool serves both on PostgreSQL), `begin_write()` (a
//! transaction holding the write lock from its start where the database needs that), and
//! `key_revoked(id)` (telling the processes sharing the database of a revoked key), and
//! `reclaim_space()` (what makes removed rows' space reusable, if the database needs it).
//! For the sweep: `identity_set(ids)` (identities bound as one value), `lock_identities`
//! (their rows locked in id order, where other transactions could take them) and
//! `purge_ranges` (ranges of several logs' rows removed in a fixed number of statements).
//!
//! Macros rather than generic code: the same method bodies, type-checked against each
//! backend's concrete driver, with none of the bounds generic executors need.

pub(crate) mod activity;
mod deliveries;
mod event_types;
mod identities;
mod retention;
mod sources;
mod tenants;
mod webhooks;

pub(crate) use activity::activity_store;
pub(crate) use deliveries::delivery_log;
pub(crate) use event_types::event_type_store;
pub(crate) use identities::identity_store;
pub(crate) use retention::{PurgeRange, retention_store};
pub(crate) use sources::source_store;
pub(crate) use tenants::tenant_store;
pub(crate) use webhooks::webhook_store;
