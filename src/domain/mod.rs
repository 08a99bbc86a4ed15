//! THE DOMAIN: the nouns every other part speaks, with the rules that make a value one of
//! them (parse, don't validate). Events and their positions, identities, tenants and keys,
//! webhooks, their secrets and URLs, deliveries. No I/O but the DNS look-up a webhook URL's
//! safety takes; no part of seqhook below it but ids.

pub mod activity;
pub mod cursor;
pub mod delivery;
pub mod description;
pub mod dialect;
pub mod event;
pub mod identity;
pub mod key;
pub mod page;
pub mod retention;
pub mod secret;
pub mod source;
pub mod target;
pub mod tenant;
pub mod webhook;
