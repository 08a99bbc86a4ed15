//! TENANCY: who may do what. Creating a tenant with its first key (`provisioning`), the
//! keys its admins mint, list and revoke (`keys`), and turning a presented key into a live
//! one (`keyring`), which also ends the requests of a key revoked while they run.

pub mod keyring;
pub mod keys;
pub mod provisioning;
