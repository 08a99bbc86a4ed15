//! Sources and their refused posts, as stored.

use sqlx::FromRow;
use uuid::Uuid;

use super::parsed;
use crate::domain::source::{Credential, IdentityFrom, Provider, Refusal, Source};
use crate::id::{SourceId, TenantId};
use crate::store::columns::Timestamp;

#[derive(FromRow)]
pub struct SourceRow {
    #[sqlx(try_from = "Uuid")]
    id: SourceId,
    #[sqlx(try_from = "Uuid")]
    tenant_id: TenantId,
    provider: String,
    credential: String,
    identity_from: String,
    description: String,
    created_at: Timestamp,
}

impl SourceRow {
    pub const COLUMNS: &str =
        "id, tenant_id, provider, credential, identity_from, description, created_at";
}

impl TryFrom<SourceRow> for Source {
    type Error = sqlx::Error;

    fn try_from(row: SourceRow) -> Result<Self, Self::Error> {
        let provider = parsed(
            "provider",
            Provider::parse(&row.provider).ok_or("an unknown provider"),
        )?;
        Ok(Source {
            id: row.id,
            tenant_id: row.tenant_id,
            provider,
            credential: parsed(
                "credential",
                Credential::from_stored(provider, &row.credential),
            )?,
            identity: parsed("identity_from", IdentityFrom::parse(&row.identity_from))?,
            description: row.description,
            created_at: row.created_at.0,
        })
    }
}

#[derive(FromRow)]
pub struct RefusalRow {
    at: Timestamp,
    status: i32,
    code: String,
    message: String,
}

impl RefusalRow {
    pub const COLUMNS: &str = "at, status, code, message";
}

impl TryFrom<RefusalRow> for Refusal {
    type Error = sqlx::Error;

    fn try_from(row: RefusalRow) -> Result<Self, Self::Error> {
        Ok(Refusal {
            at: row.at.0,
            status: parsed("status", u16::try_from(row.status))?,
            code: row.code,
            message: row.message,
        })
    }
}
