//! `POST /v1/admin/tenants`: the operator creates a tenant and receives its first key.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::extract::{Json, Operator};
use super::state::AppState;
use crate::tenant::{self, parse_tenant_name};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    name: String,
}

pub async fn create(
    _: Operator,
    State(state): State<AppState>,
    Json(body): Json<CreateTenant>,
) -> Result<impl IntoResponse, ApiError> {
    let name = parse_tenant_name(&body.name)
        .map_err(|error| ApiError::bad_request("invalid_name", error.to_string()))?;
    let created = tenant::create_tenant(state.store.as_ref(), name).await?;
    let body =
        json!({ "tenant": created.tenant, "apiKey": created.key.with_secret(&created.secret) });
    Ok((StatusCode::CREATED, axum::Json(body)))
}
