//! The delivery log: a webhook's deliveries with their attempts, one delivery, a retry now.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{Auth, QueryParams};
use super::list::{List, ListQuery};
use super::state::AppState;
use crate::delivery::record::DeliveryStatus;
use crate::id::{DeliveryId, WebhookId};
use crate::log::identity::IdentityHandle;
use crate::tenant::Scope;

#[derive(Deserialize)]
pub struct DeliveryQuery {
    status: Option<String>,
    identity: Option<String>,
    #[serde(flatten)]
    page: ListQuery,
}

pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
    Path(webhook): Path<String>,
    QueryParams(query): QueryParams<DeliveryQuery>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let webhook: WebhookId = webhook.parse().map_err(|_| ApiError::NotFound("webhook"))?;
    if state
        .store
        .find_webhook(auth.0.tenant_id, webhook)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound("webhook"));
    }
    let status = query
        .status
        .as_deref()
        .map(|raw| {
            DeliveryStatus::parse(raw).ok_or_else(|| {
                ApiError::bad_request("invalid_status", "`status` is pending, succeeded or failed")
            })
        })
        .transpose()?;
    let identity = query
        .identity
        .as_deref()
        .map(|raw| {
            IdentityHandle::parse(raw)
                .map_err(|e| ApiError::bad_request("invalid_handle", e.to_string()))
        })
        .transpose()?;
    let limit = query.page.limit()?;
    let after = query.page.after(|id| id.parse::<DeliveryId>().ok())?;
    let deliveries = state
        .store
        .list_deliveries(
            auth.0.tenant_id,
            webhook,
            status,
            identity.as_ref(),
            after,
            limit + 1,
        )
        .await?;
    Ok(axum::Json(List::from_overfetch(
        deliveries,
        limit,
        |delivery| delivery.id.to_string(),
    )))
}

pub async fn show(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let id = delivery_id(&id)?;
    let delivery = state
        .store
        .find_delivery(auth.0.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("delivery"))?;
    Ok(axum::Json(delivery))
}

pub async fn retry(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let id = delivery_id(&id)?;
    let delivery = state
        .store
        .retry_delivery(auth.0.tenant_id, id, state.deliveries.now())
        .await?
        .ok_or(ApiError::NotFound("delivery"))?;
    state.deliveries.wake();
    Ok((StatusCode::ACCEPTED, axum::Json(delivery)))
}

/// A malformed id names no delivery: 404, like another tenant's.
fn delivery_id(raw: &str) -> Result<DeliveryId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("delivery"))
}
