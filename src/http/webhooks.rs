//! `/v1/webhooks`: register, inspect, change and remove webhooks; secrets, replay and ping.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::extract::{Auth, Json, QueryParams};
use super::list::{List, ListQuery};
use super::state::AppState;
use crate::delivery::signature::SigningSecret;
use crate::delivery::target::WebhookUrl;
use crate::delivery::webhook::{EventFilter, Webhook};
use crate::id::WebhookId;
use crate::log::cursor::Seq;
use crate::log::identity::IdentityHandle;
use crate::store::WebhookPatch;
use crate::tenant::Scope;

const DEFAULT_RETIRE_AFTER_SECS: u64 = 86_400;
const MAX_DESCRIPTION: usize = 1_000;
const MAX_IDENTITIES: usize = 1_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateWebhook {
    url: String,
    events: Option<Vec<String>>,
    identities: Option<Vec<String>>,
    description: Option<String>,
    ordered: Option<bool>,
    rate_limit: Option<u32>,
    secret: Option<String>,
}

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
        rate_limit: rate_limit(body.rate_limit)?,
        active: true,
        disabled_reason: None,
        created_at: state.deliveries.now(),
    };
    state.store.create_webhook(&webhook, &secret).await?;
    let mut view = serde_json::to_value(&webhook).map_err(|e| ApiError::Internal(e.to_string()))?;
    view["secret"] = json!(secret.expose());
    Ok((StatusCode::CREATED, axum::Json(view)))
}

pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let limit = query.limit()?;
    let after = query.after(|id| id.parse::<WebhookId>().ok())?;
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

pub async fn show(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    Ok(axum::Json(find(&state, &auth, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateWebhook {
    url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    events: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    identities: Option<Option<Vec<String>>>,
    description: Option<String>,
    ordered: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    rate_limit: Option<Option<u32>>,
    active: Option<bool>,
}

/// Tells `"field": null` (clear it) from a missing field (leave it).
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

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
        rate_limit: body.rate_limit.map(rate_limit).transpose()?,
        active: body.active,
    };
    let updated = state
        .store
        .update_webhook(auth.0.tenant_id, id, &patch, state.deliveries.now())
        .await?
        .ok_or(ApiError::NotFound("webhook"))?;
    if body.active == Some(true) {
        state.deliveries.wake();
    }
    Ok(axum::Json(updated))
}

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

pub async fn secret(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    // Every webhook has a current secret, so none means no such webhook for this tenant.
    let secrets = state
        .store
        .webhook_secrets(auth.0.tenant_id, webhook_id(&id)?, state.deliveries.now())
        .await?;
    let current = secrets.first().ok_or(ApiError::NotFound("webhook"))?;
    Ok(axum::Json(json!({ "key": current })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RotateSecret {
    expire_old_after_secs: Option<u64>,
    secret: Option<String>,
}

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
        .unwrap_or(DEFAULT_RETIRE_AFTER_SECS);
    if keep > 30 * 86_400 {
        return Err(ApiError::bad_request(
            "invalid_expiry",
            "`expireOldAfterSecs` is at most 30 days",
        ));
    }
    let now = state.deliveries.now();
    let retire_at = now + chrono::Duration::seconds(keep as i64);
    if !state
        .store
        .rotate_webhook_secret(auth.0.tenant_id, id, &secret, now, retire_at)
        .await?
    {
        return Err(ApiError::NotFound("webhook"));
    }
    Ok(axum::Json(json!({ "key": secret.expose() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    identity: String,
    #[serde(default)]
    since: u64,
}

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
    let since = i64::try_from(body.since)
        .map_err(|_| ApiError::bad_request("invalid_since", "`since` is too large"))?;
    let enqueued = state
        .store
        .replay(
            auth.0.tenant_id,
            webhook.id,
            &identity,
            Seq(since),
            state.deliveries.now(),
        )
        .await?
        .ok_or(ApiError::NotFound("identity"))?;
    state.deliveries.wake();
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "enqueued": enqueued })),
    ))
}

pub async fn ping(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let webhook = find(&state, &auth, &id).await?;
    let secrets = state
        .store
        .webhook_secrets(auth.0.tenant_id, webhook.id, state.deliveries.now())
        .await?;
    let attempt = state
        .deliveries
        .ping(webhook.url.as_str(), &secrets, webhook.id)
        .await;
    let delivered = attempt
        .status_code
        .is_some_and(|code| (200..300).contains(&code));
    Ok(axum::Json(
        json!({ "delivered": delivered, "attempt": attempt }),
    ))
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
    if handles.is_empty() || handles.len() > MAX_IDENTITIES {
        return Err(ApiError::bad_request(
            "invalid_identities",
            format!("`identities` holds 1 to {MAX_IDENTITIES} handles; leave it out for all"),
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
        Some(text) if text.chars().count() > MAX_DESCRIPTION => Err(ApiError::bad_request(
            "invalid_description",
            format!("a description is at most {MAX_DESCRIPTION} characters"),
        )),
        other => Ok(other),
    }
}

fn rate_limit(limit: Option<u32>) -> Result<Option<u32>, ApiError> {
    match limit {
        Some(0) | Some(100_001..) => Err(ApiError::bad_request(
            "invalid_rate_limit",
            "`rateLimit` is 1 to 100,000 deliveries per second",
        )),
        other => Ok(other),
    }
}
