//! `/v1/webhooks`: register, inspect, change and remove webhooks (their secrets, replays and
//! pings are in `webhook_actions`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, Json, QueryParams};
use super::list::{List, Page};
use super::responses::{BodyLimit, ListQuery, NoSuchWebhook, WebhooksKey};
use super::shapes;
use super::state::AppState;
use super::whole::Whole;
use crate::domain::dialect::SignatureDialect;
use crate::domain::key::Scope;
use crate::domain::secret::SigningSecret;
use crate::domain::target::WebhookUrl;
use crate::domain::webhook::Webhook;
use crate::id::WebhookId;
use crate::webhooks::rules::{WebhookChanges, WebhookDraft};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateWebhook {
    /// An `https` or `http` URL; private addresses are refused unless the server allows them.
    #[schema(value_type = WebhookUrl)]
    url: String,
    /// Event types and `prefix.*` patterns; leave out for every type.
    #[schema(schema_with = shapes::event_filter)]
    events: Option<Vec<String>>,
    /// Handles; leave out for every identity.
    #[schema(schema_with = shapes::identity_filter)]
    identities: Option<Vec<String>>,
    #[schema(schema_with = shapes::optional_description)]
    description: Option<String>,
    /// Deliver one identity's events one at a time, in seq order.
    #[schema(default = false)]
    ordered: Option<bool>,
    /// Deliveries per second.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 100000)]
    rate_limit: Option<Whole<u32>>,
    /// The signing secret; generated when left out.
    #[schema(value_type = Option<SigningSecret>)]
    secret: Option<String>,
    /// How deliveries are signed: a preset's name or a dialect's fields.
    #[schema(value_type = Option<SignatureDialect>)]
    dialect: Option<serde_json::Value>,
}

/// A new webhook, with the secret its deliveries are signed with.
#[derive(Serialize, ToSchema)]
pub struct WebhookCreated<'a> {
    #[serde(flatten)]
    webhook: &'a Webhook,
    #[schema(example = "whsec_Hky8yy+tpQ8Y+cHuHiwwyqtkeoCNpc9j+XO3FmIWRAE=")]
    secret: &'a str,
}

#[utoipa::path(
    post,
    path = "/v1/webhooks",
    operation_id = "createWebhook",
    tag = "webhooks",
    summary = "Register a webhook",
    description = "Every matching event is POSTed to `url`, signed as Standard Webhooks unless \
        `dialect` names another format, and retried with backoff until accepted. Needs `webhooks`.",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "The webhook, with its secret", body = WebhookCreated),
        (status = 400, description = "Malformed body, refused URL or invalid filter", body = ErrorBody),
        WebhooksKey,
        BodyLimit,
    ),
    security(("apiKey" = [])),
)]
pub async fn create(
    auth: Auth,
    State(state): State<AppState>,
    Json(body): Json<CreateWebhook>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let (webhook, secret) = state.webhooks.create(auth.tenant(), body.into()).await?;
    let view = WebhookCreated {
        webhook: &webhook,
        secret: secret.expose(),
    };
    Ok((StatusCode::CREATED, axum::Json(view)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/webhooks",
    operation_id = "listWebhooks",
    tag = "webhooks",
    summary = "List webhooks",
    description = "The tenant's webhooks, without secrets. Needs `webhooks`.",
    params(Page<WebhookId>),
    responses(
        (status = 200, description = "A page of webhooks", body = List<Webhook>),
        ListQuery,
        WebhooksKey,
    ),
    security(("apiKey" = [])),
)]
pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
    QueryParams(page): QueryParams<Page<WebhookId>>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    page.respond(
        async |after, limit| state.webhooks.list(auth.tenant(), after, limit).await,
        |webhook| webhook.id.to_string(),
    )
    .await
}

#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    operation_id = "getWebhook",
    tag = "webhooks",
    summary = "Show a webhook",
    description = "Needs `webhooks`.",
    params(("id" = inline(WebhookId), Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook", body = Webhook),
        WebhooksKey,
        NoSuchWebhook,
    ),
    security(("apiKey" = [])),
)]
pub async fn show(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let webhook = state.webhooks.find(auth.tenant(), webhook_id(&id)?).await?;
    Ok(axum::Json(webhook))
}

/// The fields to change; a field left out stays as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateWebhook {
    #[schema(value_type = Option<WebhookUrl>)]
    url: Option<String>,
    /// Null receives every type again.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = shapes::event_filter)]
    events: Option<Option<Vec<String>>>,
    /// Null receives every identity again.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = shapes::identity_filter)]
    identities: Option<Option<Vec<String>>>,
    #[schema(schema_with = shapes::optional_description)]
    description: Option<String>,
    ordered: Option<bool>,
    /// Null removes the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 100000)]
    rate_limit: Option<Option<Whole<u32>>>,
    /// Null goes back to `standard-webhooks`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<SignatureDialect>)]
    dialect: Option<Option<serde_json::Value>>,
    /// Re-activating delivers what was held meanwhile, oldest first.
    active: Option<bool>,
}

/// Tells `"field": null` (clear it) from a missing field (leave it).
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

#[utoipa::path(
    patch,
    path = "/v1/webhooks/{id}",
    operation_id = "updateWebhook",
    tag = "webhooks",
    summary = "Change a webhook",
    description = "Changes the given fields; `active: true` resumes a disabled webhook. Needs \
        `webhooks`.",
    params(("id" = inline(WebhookId), Path, description = "The webhook's id")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The changed webhook", body = Webhook),
        (status = 400, description = "Malformed body, refused URL or invalid filter", body = ErrorBody),
        WebhooksKey,
        NoSuchWebhook,
        BodyLimit,
    ),
    security(("apiKey" = [])),
)]
pub async fn update(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<UpdateWebhook>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let id = webhook_id(&id)?;
    let updated = state
        .webhooks
        .update(auth.tenant(), id, body.into())
        .await?;
    Ok(axum::Json(updated))
}

#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    operation_id = "deleteWebhook",
    tag = "webhooks",
    summary = "Delete a webhook",
    description = "Needs `webhooks`.",
    params(("id" = inline(WebhookId), Path, description = "The webhook's id")),
    responses(
        (status = 204, description = "Deleted"),
        WebhooksKey,
        NoSuchWebhook,
    ),
    security(("apiKey" = [])),
)]
pub async fn delete(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    state
        .webhooks
        .delete(auth.tenant(), webhook_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A malformed id names no webhook: 404, like another tenant's.
pub(super) fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("webhook"))
}

impl From<CreateWebhook> for WebhookDraft {
    fn from(body: CreateWebhook) -> Self {
        WebhookDraft {
            url: body.url,
            events: body.events,
            identities: body.identities,
            description: body.description,
            ordered: body.ordered,
            rate_limit: body.rate_limit.map(|Whole(limit)| limit),
            secret: body.secret,
            dialect: body.dialect,
        }
    }
}

impl From<UpdateWebhook> for WebhookChanges {
    fn from(body: UpdateWebhook) -> Self {
        WebhookChanges {
            url: body.url,
            events: body.events,
            identities: body.identities,
            description: body.description,
            ordered: body.ordered,
            rate_limit: body.rate_limit.map(|limit| limit.map(|Whole(limit)| limit)),
            dialect: body.dialect,
            active: body.active,
        }
    }
}
