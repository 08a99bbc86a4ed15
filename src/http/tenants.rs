//! `/v1/admin/tenants`: the operator creates a tenant and receives its first key, and sets
//! how long a tenant's events are held.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Operator};
use super::responses::BodyLimit;
use super::state::AppState;
use crate::domain::key::IssuedKey;
use crate::domain::retention::Retention;
use crate::domain::tenant;
use crate::domain::tenant::{Tenant, parse_tenant_name};
use crate::id::TenantId;
use crate::tenancy::provisioning;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    #[schema(schema_with = tenant_name)]
    name: String,
}

/// 1 to 200 characters, not blank, no control characters.
fn tenant_name() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::schema::text(tenant::TENANT_NAME_PATTERN, 1..=tenant::MAX_NAME, "Acme").into()
}

/// A new tenant with its first key, which holds every scope. The key is shown here only.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantCreated<'a> {
    tenant: &'a Tenant,
    api_key: IssuedKey<'a>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/tenants",
    operation_id = "createTenant",
    tag = "admin",
    summary = "Create a tenant",
    description = "Creates a tenant and its first API key, which holds every scope. The key \
        is shown in this answer only.",
    request_body = CreateTenant,
    responses(
        (status = 201, description = "The tenant and its first key", body = TenantCreated),
        (status = 400, description = "Malformed body or invalid name", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
        BodyLimit,
    ),
    security(("adminToken" = [])),
)]
pub async fn create(
    _: Operator,
    State(state): State<AppState>,
    Json(body): Json<CreateTenant>,
) -> Result<impl IntoResponse, ApiError> {
    let name = parse_tenant_name(&body.name)
        .map_err(|error| ApiError::bad_request("invalid_name", error.to_string()))?;
    let created = provisioning::create_tenant(state.store.as_ref(), name).await?;
    let body = TenantCreated {
        tenant: &created.tenant,
        api_key: created.key.with_secret(&created.secret),
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// A tenant's own retention, or `null` to follow the server's (`SEQHOOK_RETENTION`).
#[derive(serde::Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantRetention {
    /// `forever`, or how long events are held: `90d`, `12h`, `10s` (1 second to 36500
    /// days). `null`: the server's default.
    #[schema(required)]
    #[serde(deserialize_with = "present")]
    retention: Option<Retention>,
}

#[utoipa::path(
    put,
    path = "/v1/admin/tenants/{id}/retention",
    operation_id = "setTenantRetention",
    tag = "admin",
    summary = "Set a tenant's retention",
    description = "How long the tenant's events are held before the sweep removes them (with \
        their deliveries and attempts), instead of the server's default. `null` goes back to \
        the default. A shorter window takes effect within the sweep's next pass.",
    params(("id" = inline(TenantId), Path, description = "The tenant's id")),
    request_body = TenantRetention,
    responses(
        (status = 200, description = "The tenant's retention as set", body = TenantRetention),
        (status = 400, description = "Malformed body or retention, or invalid id", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
        BodyLimit,
    ),
    security(("adminToken" = [])),
)]
pub async fn set_retention(
    _: Operator,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    Json(body): Json<TenantRetention>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(raw) =
        path.map_err(|rejection| ApiError::bad_request("invalid_id", rejection.body_text()))?;
    let tenant: TenantId = raw.parse().map_err(|error: crate::id::InvalidId| {
        ApiError::bad_request("invalid_id", error.to_string())
    })?;
    if !state
        .store
        .set_tenant_retention(tenant, body.retention)
        .await?
    {
        return Err(ApiError::NotFound("tenant"));
    }
    state.sweeper.nudge();
    Ok(axum::Json(body))
}

/// The field must be there, `null` included: a body without it is a mistake, not a reset.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Retention>, D::Error> {
    Option::deserialize(deserializer)
}
