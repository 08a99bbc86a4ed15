//! `POST /v1/admin/tenants`: the operator creates a tenant and receives its first key.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Operator};
use super::responses::BodyLimit;
use super::state::AppState;
use crate::domain::key::IssuedKey;
use crate::domain::tenant;
use crate::domain::tenant::{Tenant, parse_tenant_name};
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
