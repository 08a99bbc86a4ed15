//! The integration suite on the embedded SQLite backend: a database file per test.

const BACKEND: it::support::Backend = it::support::Backend::Sqlite;

#[path = "it/embedded.rs"]
mod embedded;
mod it;

use it::support;
