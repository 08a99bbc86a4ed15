//! The integration suite on PostgreSQL: a throwaway cluster started from the binaries on
//! the machine, or the server `DATABASE_URL` names; a database per test.

const BACKEND: it::support::Backend = it::support::Backend::Postgres;

#[path = "it/faults.rs"]
mod faults;
mod it;
#[path = "it/postgres_only.rs"]
mod postgres_only;

use it::support;
