//! `/v1/api-keys`: a tenant's admins mint, list and revoke keys. Only unbound keys can hold
//! `admin`, so these routes never need an identity check.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, Json, QueryParams};
use super::list::{List, Page};
use super::responses::{AdminKey, BodyLimit, ListQuery, NoSuchKey};
use super::state::AppState;
use crate::domain::key::{ApiKey, IssuedKey, Scope};
use crate::id::ApiKeyId;
use crate::tenancy::keys::KeyRequest;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    scopes: Vec<String>,
    /// Binds the key to one identity; such a key may hold only the `events:*` scopes.
    identity: Option<String>,
    name: Option<String>,
}

// Two shapes, an unbound key and a bound one, which the derive cannot say.
impl utoipa::PartialSchema for CreateKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::shapes::create_key()
    }
}

impl ToSchema for CreateKey {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            Scope::name().into_owned(),
            <Scope as utoipa::PartialSchema>::schema(),
        ));
    }
}

#[utoipa::path(
    post,
    path = "/v1/api-keys",
    operation_id = "createApiKey",
    tag = "api-keys",
    summary = "Create an API key",
    description = "Mints a key with the given scopes, optionally bound to one identity. The \
        secret `key` is shown in this answer only. Needs the `admin` scope.",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key, with its secret", body = IssuedKey),
        (status = 400, description = "Malformed body, unknown scope or invalid handle", body = ErrorBody),
        AdminKey,
        BodyLimit,
    ),
    security(("apiKey" = [])),
)]
pub async fn create(
    auth: Auth,
    State(state): State<AppState>,
    Json(body): Json<CreateKey>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Admin)?;
    let request = KeyRequest {
        scopes: &body.scopes,
        identity: body.identity.as_deref(),
        name: body.name,
    };
    let (key, secret) = state.keyring.issue(auth.tenant(), request).await?;
    Ok((StatusCode::CREATED, axum::Json(key.with_secret(&secret))).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/api-keys",
    operation_id = "listApiKeys",
    tag = "api-keys",
    summary = "List API keys",
    description = "The tenant's live keys, without their secrets. Needs the `admin` scope.",
    params(Page<ApiKeyId>),
    responses(
        (status = 200, description = "A page of keys", body = List<ApiKey>),
        ListQuery,
        AdminKey,
    ),
    security(("apiKey" = [])),
)]
pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
    QueryParams(page): QueryParams<Page<ApiKeyId>>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Admin)?;
    page.respond(
        async |after, limit| state.keyring.list(auth.tenant(), after, limit).await,
        |key| key.id.to_string(),
    )
    .await
}

#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    operation_id = "revokeApiKey",
    tag = "api-keys",
    summary = "Revoke an API key",
    description = "The key stops working at once. Needs the `admin` scope.",
    params(("id" = inline(ApiKeyId), Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        AdminKey,
        NoSuchKey,
    ),
    security(("apiKey" = [])),
)]
pub async fn revoke(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Admin)?;
    // A malformed id names no key: 404, like another tenant's.
    let id: ApiKeyId = id.parse().map_err(|_| ApiError::NotFound("api key"))?;
    state.keyring.revoke(auth.tenant(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
