//! Liveness and readiness, and the answers for routes that do not exist.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::error::ApiError;
use super::state::AppState;

pub async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Ready when the database answers and the wake-up listener is connected: without the
/// listener, long-polls would only wake on their own process's appends.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.store.ping().await.is_ok();
    let listener = state.health.listening();
    let status = if database && listener {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({ "database": database, "listener": listener })),
    )
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
