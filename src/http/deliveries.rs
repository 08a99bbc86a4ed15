//! The delivery log: a webhook's deliveries with their attempts, one delivery, a retry now.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, QueryParams, unplussed};
use super::list::{List, Page};
use super::responses::{NoSuchDelivery, NoSuchWebhook, WebhooksKey};
use super::state::AppState;
use super::webhooks::webhook_id;
use crate::domain::delivery::{Delivery, DeliveryStatus};
use crate::domain::identity::IdentityHandle;
use crate::domain::key::Scope;
use crate::id::{DeliveryId, WebhookId};
use crate::webhooks::DeliveryFilter;

/// The delivery log's filters. The page (`limit`, `after`) is read from the same query
/// string by `Page`: serde's `flatten` would hand it every value as a string, and
/// `limit=10` would fail as "expected u32".
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
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
        DeliveryQuery,
        Page<DeliveryId>,
    ),
    responses(
        (status = 200, description = "A page of deliveries", body = List<Delivery>),
        (status = 400, description = "Invalid `status`, `identity`, `limit` or `after`", body = ErrorBody),
        WebhooksKey,
        NoSuchWebhook,
    ),
    security(("apiKey" = [])),
)]
pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
    Path(webhook): Path<String>,
    QueryParams(query): QueryParams<DeliveryQuery>,
    QueryParams(page): QueryParams<Page<DeliveryId>>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let webhook = webhook_id(&webhook)?;
    let filter = DeliveryFilter {
        status: query.status,
        identity: query
            .identity
            .as_deref()
            .map(|raw| unplussed(raw).into_owned()),
    };
    page.respond(
        async |after, limit| {
            let tenant = auth.tenant();
            state
                .webhooks
                .deliveries(tenant, webhook, &filter, after, limit)
                .await
        },
        |delivery| delivery.id.to_string(),
    )
    .await
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
        WebhooksKey,
        NoSuchDelivery,
    ),
    security(("apiKey" = [])),
)]
pub async fn show(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let delivery = state
        .webhooks
        .delivery(auth.tenant(), delivery_id(&id)?)
        .await?;
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
        WebhooksKey,
        NoSuchDelivery,
    ),
    security(("apiKey" = [])),
)]
pub async fn retry(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Webhooks)?;
    let delivery = state
        .webhooks
        .retry(auth.tenant(), delivery_id(&id)?)
        .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(delivery)))
}

/// A malformed id names no delivery: 404, like another tenant's.
fn delivery_id(raw: &str) -> Result<DeliveryId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("delivery"))
}
