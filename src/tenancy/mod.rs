//! TENANCY: who may do what. Tenants (`tenant`), their API keys (`key`), creating both
//! (`provisioning`), and turning a presented key into a live one (`keyring`), which also
//! ends the requests of a key revoked while they run.

pub mod keyring;
pub mod provisioning;
