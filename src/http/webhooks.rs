//! `/v1/webhooks`: register, inspect, change and remove webhooks; secrets, replay and ping.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, Json, QueryParams};
use super::list::{List, Page};
use super::shapes;
use super::state::AppState;
use super::whole::Whole;
use crate::domain::cursor::Seq;
use crate::domain::delivery::Attempt;
use crate::domain::identity::IdentityHandle;
use crate::domain::key::Scope;
use crate::domain::secret::SigningSecret;
use crate::domain::target::WebhookUrl;
use crate::domain::webhook::{EventFilter, Webhook};
use crate::id::WebhookId;
use crate::store::WebhookPatch;

const DEFAULT_RETIRE_AFTER_SECS: u64 = 86_400;
const MAX_RETIRE_AFTER_SECS: u64 = 30 * 86_400;
const MAX_RATE_LIMIT: u32 = 100_000;

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
}

/// A new webhook, with the secret its deliveries are signed with.
#[derive(Serialize, ToSchema)]
pub struct WebhookCreated<'a> {
    #[serde(flatten)]
    webhook: &'a Webhook,
    #[schema(example = "whsec_Hky8yy+tpQ8Y+cHuHiwwyqtkeoCNpc9j+XO3FmIWRAE=")]
    secret: &'a str,
}

/// A signing secret.
#[derive(Serialize, ToSchema)]
pub struct SecretView<'a> {
    #[schema(example = "whsec_Hky8yy+tpQ8Y+cHuHiwwyqtkeoCNpc9j+XO3FmIWRAE=")]
    key: &'a str,
}

#[utoipa::path(
    post,
    path = "/v1/webhooks",
    operation_id = "createWebhook",
    tag = "webhooks",
    summary = "Register a webhook",
    description = "Every matching event is POSTed to `url`, signed as Standard Webhooks, and \
        retried with backoff until accepted. Needs `webhooks`.",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "The webhook, with its secret", body = WebhookCreated),
        (status = 400, description = "Malformed body, refused URL or invalid filter", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `webhooks`", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("apiKey" = [])),
)]
pub async fn create(
    auth: Auth,
    State(state): State<AppState>,
    Json(body): Json<CreateWebhook>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let secret = match &body.secret {
        Some(secret) => SigningSecret::parse(secret)
            .map_err(|e| ApiError::bad_request("invalid_secret", e.to_string()))?,
        None => SigningSecret::generate(),
    };
    let webhook = Webhook {
        id: WebhookId::generate(),
        tenant_id: auth.0.tenant_id,
        url: url(&state, &body.url).await?,
        events: filter(body.events.as_deref())?,
        identities: identities(body.identities.as_deref())?,
        description: description(body.description)?.unwrap_or_default(),
        ordered: body.ordered.unwrap_or(false),
        rate_limit: rate_limit(body.rate_limit.map(|Whole(limit)| limit))?,
        active: true,
        disabled_reason: None,
        created_at: state.clock.now(),
    };
    state.store.create_webhook(&webhook, &secret).await?;
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
        (status = 400, description = "Invalid `limit` or `after`", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `webhooks`", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("apiKey" = [])),
)]
pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<Page<WebhookId>>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let limit = query.limit()?;
    let after = query.after()?;
    let webhooks = state
        .store
        .list_webhooks(auth.0.tenant_id, after, limit + 1)
        .await?;
    Ok(axum::Json(List::from_overfetch(
        webhooks,
        limit,
        |webhook| webhook.id.to_string(),
    )))
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
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `webhooks`", body = ErrorBody),
        (status = 404, description = "No such webhook in this tenant", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("apiKey" = [])),
)]
pub async fn show(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    Ok(axum::Json(find(&state, &auth, &id).await?))
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
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `webhooks`", body = ErrorBody),
        (status = 404, description = "No such webhook in this tenant", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
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
    let patch = WebhookPatch {
        url: match &body.url {
            Some(raw) => Some(url(&state, raw).await?),
            None => None,
        },
        events: body
            .events
            .as_ref()
            .map(|events| filter(events.as_deref()))
            .transpose()?,
        identities: body
            .identities
            .as_ref()
            .map(|handles| identities(handles.as_deref()))
            .transpose()?,
        description: description(body.description)?,
        ordered: body.ordered,
        rate_limit: body
            .rate_limit
            .map(|limit| rate_limit(limit.map(|Whole(limit)| limit)))
            .transpose()?,
        active: body.active,
    };
    let updated = state
        .store
        .update_webhook(auth.0.tenant_id, id, &patch, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound("webhook"))?;
    if body.active == Some(true) {
        state.deliveries.wake();
    }
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
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `webhooks`", body = ErrorBody),
        (status = 404, description = "No such webhook in this tenant", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("apiKey" = [])),
)]
pub async fn delete(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    if state
        .store
        .delete_webhook(auth.0.tenant_id, webhook_id(&id)?)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("webhook"))
    }
}

#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/secret",
    operation_id = "getWebhookSecret",
    tag = "webhooks",
    summary = "Show a webhook's secret",
    description = "The current signing secret. Needs `webhooks`.",
    params(("id" = inline(WebhookId), Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The current secret", body = SecretView),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `webhooks`", body = ErrorBody),
        (status = 404, description = "No such webhook in this tenant", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("apiKey" = [])),
)]
pub async fn secret(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    // Every webhook has a current secret, so none means no such webhook for this tenant.
    let secrets = state
        .store
        .webhook_secrets(auth.0.tenant_id, webhook_id(&id)?, state.clock.now())
        .await?;
    let current = secrets.first().ok_or(ApiError::NotFound("webhook"))?;
    Ok(axum::Json(SecretView {
        key: current.expose(),
    })
    .into_response())
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RotateSecret {
    /// How long the old secrets keep signing, in seconds (at most 30 days).
    #[schema(value_type = Option<u64>, default = 86400, minimum = 0, maximum = 2592000)]
    expire_old_after_secs: Option<Whole<u64>>,
    /// The new secret; generated when left out.
    #[schema(value_type = Option<SigningSecret>)]
    secret: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/secrets/rotate",
    operation_id = "rotateWebhookSecret",
    tag = "webhooks",
    summary = "Rotate a webhook's secret",
    description = "Adds a new current secret; until `expireOldAfterSecs` pass, deliveries carry \
        one signature per active secret. The body may be empty. Needs `webhooks`.",
    params(("id" = inline(WebhookId), Path, description = "The webhook's id")),
    request_body(content = Option<RotateSecret>, description = "Optional"),
    responses(
        (status = 200, description = "The new secret", body = SecretView),
        (status = 400, description = "Malformed body, invalid secret or expiry", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `webhooks`", body = ErrorBody),
        (status = 404, description = "No such webhook in this tenant", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("apiKey" = [])),
)]
pub async fn rotate_secret(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    super::extract::OptionalJson(body): super::extract::OptionalJson<RotateSecret>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let body = body.unwrap_or_default();
    let id = webhook_id(&id)?;
    let secret = match &body.secret {
        Some(secret) => SigningSecret::parse(secret)
            .map_err(|e| ApiError::bad_request("invalid_secret", e.to_string()))?,
        None => SigningSecret::generate(),
    };
    let keep = body
        .expire_old_after_secs
        .map_or(DEFAULT_RETIRE_AFTER_SECS, |Whole(secs)| secs);
    if keep > MAX_RETIRE_AFTER_SECS {
        return Err(ApiError::bad_request(
            "invalid_expiry",
            "`expireOldAfterSecs` is at most 30 days",
        ));
    }
    let now = state.clock.now();
    let retire_at = now + chrono::Duration::seconds(keep as i64);
    if !state
        .store
        .rotate_webhook_secret(auth.0.tenant_id, id, &secret, now, retire_at)
        .await?
    {
        return Err(ApiError::NotFound("webhook"));
    }
    Ok(axum::Json(SecretView {
        key: secret.expose(),
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    #[schema(value_type = IdentityHandle)]
    identity: String,
    /// Re-enqueue the identity's events after this seq.
    #[serde(default)]
    #[schema(value_type = u64, default = 0, minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    since: Whole<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct ReplayEnqueued {
    /// How many deliveries were enqueued.
    enqueued: u64,
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/replay",
    operation_id = "replayWebhook",
    tag = "webhooks",
    summary = "Replay an identity's events",
    description = "Re-enqueues deliveries of the identity's events after `since` to this \
        webhook. Needs `webhooks`.",
    params(("id" = inline(WebhookId), Path, description = "The webhook's id")),
    request_body = Replay,
    responses(
        (status = 202, description = "Enqueued", body = ReplayEnqueued),
        (status = 400, description = "Malformed body or invalid handle", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `webhooks`", body = ErrorBody),
        (status = 404, description = "No such webhook or identity", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("apiKey" = [])),
)]
pub async fn replay(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<Replay>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let webhook = find(&state, &auth, &id).await?;
    let identity = IdentityHandle::parse(&body.identity)
        .map_err(|e| ApiError::bad_request("invalid_handle", e.to_string()))?;
    let since = i64::try_from(body.since.0)
        .map_err(|_| ApiError::bad_request("invalid_since", "`since` is too large"))?;
    let enqueued = state
        .store
        .replay(
            auth.0.tenant_id,
            webhook.id,
            &identity,
            Seq(since),
            state.clock.now(),
        )
        .await?
        .ok_or(ApiError::NotFound("identity"))?;
    state.deliveries.wake();
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(ReplayEnqueued { enqueued }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct PingOutcome {
    /// The endpoint answered 2xx.
    delivered: bool,
    attempt: Attempt,
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/ping",
    operation_id = "pingWebhook",
    tag = "webhooks",
    summary = "Ping a webhook",
    description = "Sends a signed `webhook.ping` event now and reports how the endpoint \
        answered. Needs `webhooks`.",
    params(("id" = inline(WebhookId), Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The attempt", body = PingOutcome),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `webhooks`", body = ErrorBody),
        (status = 404, description = "No such webhook in this tenant", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("apiKey" = [])),
)]
pub async fn ping(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let webhook = find(&state, &auth, &id).await?;
    let secrets = state
        .store
        .webhook_secrets(auth.0.tenant_id, webhook.id, state.clock.now())
        .await?;
    let attempt = state
        .deliveries
        .ping(&webhook.url, &secrets, webhook.id)
        .await;
    let delivered = attempt
        .status_code
        .is_some_and(|code| (200..300).contains(&code));
    Ok(axum::Json(PingOutcome { delivered, attempt }))
}

async fn find(state: &AppState, auth: &Auth, id: &str) -> Result<Webhook, ApiError> {
    state
        .store
        .find_webhook(auth.0.tenant_id, webhook_id(id)?)
        .await?
        .ok_or(ApiError::NotFound("webhook"))
}

/// A malformed id names no webhook: 404, like another tenant's.
fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("webhook"))
}

async fn url(state: &AppState, raw: &str) -> Result<WebhookUrl, ApiError> {
    WebhookUrl::parse(raw, state.settings.allow_private_webhooks)
        .await
        .map_err(|e| ApiError::bad_request("invalid_url", e.to_string()))
}

fn filter(events: Option<&[String]>) -> Result<EventFilter, ApiError> {
    EventFilter::parse(events).map_err(|e| ApiError::bad_request("invalid_events", e.to_string()))
}

fn identities(handles: Option<&[String]>) -> Result<Option<Vec<IdentityHandle>>, ApiError> {
    let Some(handles) = handles else {
        return Ok(None);
    };
    if handles.is_empty() || handles.len() > shapes::MAX_IDENTITIES {
        return Err(ApiError::bad_request(
            "invalid_identities",
            format!(
                "`identities` holds 1 to {} handles; leave it out for all",
                shapes::MAX_IDENTITIES
            ),
        ));
    }
    handles
        .iter()
        .map(|handle| {
            IdentityHandle::parse(handle)
                .map_err(|e| ApiError::bad_request("invalid_identities", e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn description(description: Option<String>) -> Result<Option<String>, ApiError> {
    match description {
        Some(text) if text.chars().count() > shapes::MAX_DESCRIPTION || text.contains('\0') => {
            Err(ApiError::bad_request(
                "invalid_description",
                format!(
                    "a description is at most {} characters, with no NUL (\\u0000)",
                    shapes::MAX_DESCRIPTION
                ),
            ))
        }
        other => Ok(other),
    }
}

fn rate_limit(limit: Option<u32>) -> Result<Option<u32>, ApiError> {
    match limit {
        Some(limit) if limit == 0 || limit > MAX_RATE_LIMIT => Err(ApiError::bad_request(
            "invalid_rate_limit",
            "`rateLimit` is 1 to 100,000 deliveries per second",
        )),
        other => Ok(other),
    }
}
