//! `/v1/api-keys`: a tenant's admins mint, list and revoke keys. Only unbound keys can hold
//! `admin`, so these routes never need an identity check.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{Auth, Json, QueryParams};
use super::list::{List, ListQuery};
use super::state::AppState;
use crate::id::ApiKeyId;
use crate::tenant::{self, KeyGrant, Scope};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    scopes: Vec<String>,
    identity: Option<String>,
    name: Option<String>,
}

pub async fn create(
    auth: Auth,
    State(state): State<AppState>,
    Json(body): Json<CreateKey>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Admin)?;
    let grant = KeyGrant::parse(&body.scopes, body.identity.as_deref(), body.name)
        .map_err(|error| ApiError::bad_request(error.code(), error.to_string()))?;
    let (key, secret) = tenant::issue_key(state.store.as_ref(), auth.0.tenant_id, grant).await?;
    let body = serde_json::to_value(key.with_secret(&secret))
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok((StatusCode::CREATED, axum::Json(body)))
}

pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Admin)?;
    let limit = query.limit()?;
    let after = query.after(|key| key.parse::<ApiKeyId>().ok())?;
    let keys = state
        .store
        .list_api_keys(auth.0.tenant_id, after, limit + 1)
        .await?;
    Ok(axum::Json(List::from_overfetch(keys, limit, |key| {
        key.id.to_string()
    })))
}

pub async fn revoke(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Admin)?;
    let id: ApiKeyId = id.parse().map_err(|_| ApiError::NotFound("api key"))?;
    if state.keyring.revoke(auth.0.tenant_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("api key"))
    }
}
