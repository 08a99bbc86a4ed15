//! The delivery log: a webhook's deliveries with their attempts, one delivery, a retry now.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, QueryParams, unplussed};
use super::list::{List, Page};
use super::state::AppState;
use crate::domain::delivery::{Delivery, DeliveryStatus};
use crate::domain::identity::IdentityHandle;
use crate::domain::key::Scope;
use crate::id::{DeliveryId, WebhookId};

/// The delivery log's filters. The page (`limit`, `after`) is read from the same query
/// string by `Page`: serde's `flatten` would hand it every value as a string, and
/// `limit=10` would fail as "expected u32".
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    #[param(value_type = Option<DeliveryStatus>, inline)]
    status: Option<String>,
    /// Only this identity's deliveries.
    #[param(value_type = Option<IdentityHandle>, inline)]
    identity: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    operation_id = "listDeliveries",
    tag = "deliveries",
    summary = "List a webhook's deliveries",
    description = "Oldest first, each with its attempts. Needs `webhooks`.",
    params(
        ("id" = inline(WebhookId), Path, description = "The webhook's id"),
        DeliveryFilter,
        Page<DeliveryId>,
    ),
    responses(
        (status = 200, description = "A page of deliveries", body = List<Delivery>),
        (status = 400, description = "Invalid `status`, `identity`, `limit` or `after`", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `webhooks`", body = ErrorBody),
        (status = 404, description = "No such webhook in this tenant", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("apiKey" = [])),
)]
pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
    Path(webhook): Path<String>,
    QueryParams(query): QueryParams<DeliveryFilter>,
    QueryParams(page): QueryParams<Page<DeliveryId>>,
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
            IdentityHandle::parse(&unplussed(raw))
                .map_err(|e| ApiError::bad_request("invalid_handle", e.to_string()))
        })
        .transpose()?;
    let limit = page.limit()?;
    let after = page.after()?;
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

#[utoipa::path(
    get,
    path = "/v1/deliveries/{id}",
    operation_id = "getDelivery",
    tag = "deliveries",
    summary = "Show a delivery",
    description = "One delivery with every attempt. Needs `webhooks`.",
    params(("id" = inline(DeliveryId), Path, description = "The delivery's id")),
    responses(
        (status = 200, description = "The delivery", body = Delivery),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `webhooks`", body = ErrorBody),
        (status = 404, description = "No such delivery in this tenant", body = ErrorBody),
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
    let id = delivery_id(&id)?;
    let delivery = state
        .store
        .find_delivery(auth.0.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("delivery"))?;
    Ok(axum::Json(delivery))
}

#[utoipa::path(
    post,
    path = "/v1/deliveries/{id}/retry",
    operation_id = "retryDelivery",
    tag = "deliveries",
    summary = "Retry a delivery now",
    description = "Makes the delivery due at once, whatever its status. Needs `webhooks`.",
    params(("id" = inline(DeliveryId), Path, description = "The delivery's id")),
    responses(
        (status = 202, description = "Queued for an attempt", body = Delivery),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `webhooks`", body = ErrorBody),
        (status = 404, description = "No such delivery in this tenant", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("apiKey" = [])),
)]
pub async fn retry(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let id = delivery_id(&id)?;
    let delivery = state
        .store
        .retry_delivery(auth.0.tenant_id, id, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound("delivery"))?;
    state.deliveries.wake();
    Ok((StatusCode::ACCEPTED, axum::Json(delivery)))
}

/// A malformed id names no delivery: 404, like another tenant's.
fn delivery_id(raw: &str) -> Result<DeliveryId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("delivery"))
}
