//! `/v1/webhooks/{id}/…`: what a tenant asks of a webhook besides changing it — its
//! secret and the secret's rotation, a replay of an identity's events, a ping.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, Json, OptionalJson};
use super::responses::{BodyLimit, ExpiredCursor, NoSuchWebhook, WebhooksKey};
use super::state::AppState;
use super::webhooks::webhook_id;
use super::whole::Whole;
use crate::domain::delivery::Attempt;
use crate::domain::identity::IdentityHandle;
use crate::domain::key::Scope;
use crate::domain::secret::SigningSecret;
use crate::id::WebhookId;

/// A signing secret.
#[derive(Serialize, ToSchema)]
pub struct SecretView<'a> {
    #[schema(example = "whsec_Hky8yy+tpQ8Y+cHuHiwwyqtkeoCNpc9j+XO3FmIWRAE=")]
    key: &'a str,
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
        WebhooksKey,
        NoSuchWebhook,
    ),
    security(("apiKey" = [])),
)]
pub async fn secret(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let current = state
        .webhooks
        .current_secret(auth.tenant(), webhook_id(&id)?)
        .await?;
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
        WebhooksKey,
        NoSuchWebhook,
        BodyLimit,
    ),
    security(("apiKey" = [])),
)]
pub async fn rotate_secret(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<RotateSecret>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let body = body.unwrap_or_default();
    let secret = state
        .webhooks
        .rotate_secret(
            auth.tenant(),
            webhook_id(&id)?,
            body.secret.as_deref(),
            body.expire_old_after_secs.map(|Whole(seconds)| seconds),
        )
        .await?;
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
        (status = 404, description = "No such webhook or identity", body = ErrorBody),
        WebhooksKey,
        BodyLimit,
        ExpiredCursor,
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
    let enqueued = state
        .webhooks
        .replay(
            auth.tenant(),
            webhook_id(&id)?,
            &body.identity,
            body.since.0,
        )
        .await?;
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
        WebhooksKey,
        NoSuchWebhook,
    ),
    security(("apiKey" = [])),
)]
pub async fn ping(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let attempt = state.webhooks.ping(auth.tenant(), webhook_id(&id)?).await?;
    let delivered = attempt
        .status_code
        .is_some_and(|code| (200..300).contains(&code));
    Ok(axum::Json(PingOutcome { delivered, attempt }))
}
