//! Liveness and readiness, and the answers for routes that do not exist.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::error::ApiError;
use super::state::AppState;

/// How long readiness waits for the database's answer.
const READY_CHECK: Duration = Duration::from_millis(800);

#[derive(Serialize, ToSchema)]
pub struct Liveness {
    #[schema(example = "ok")]
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// The database answered a round trip.
    database: bool,
    /// The wake-up listener is connected.
    listener: bool,
}

#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    summary = "Liveness",
    description = "Answers while the process serves requests; checks nothing else.",
    responses((status = 200, description = "Alive", body = Liveness)),
    security(()),
)]
pub async fn healthz() -> impl IntoResponse {
    axum::Json(Liveness { status: "ok" })
}

/// Ready when the database answers and the wake-up listener is connected: without the
/// listener, long-polls would only wake on their own process's appends.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    summary = "Readiness",
    description = "Ready when the database answers (within 800 ms) and the wake-up listener is \
        connected. Answers within about a second even when the database is down.",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready; the body says which part is down", body = Readiness),
    ),
    security(()),
)]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    // A database that does not answer is as down as one that refuses: probes commonly give
    // up after a second, and must see a 503 rather than their own timeout.
    let database = matches!(
        tokio::time::timeout(READY_CHECK, state.store.ping()).await,
        Ok(Ok(()))
    );
    let listener = state.health.listening();
    let status = if database && listener {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(Readiness { database, listener }))
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

pub async fn method_not_allowed() -> impl IntoResponse {
    let body = json!({ "error": {
        "code": "method_not_allowed",
        "message": "this route does not take that method",
        "details": {},
    }});
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body))
}
