//! `GET /metrics`: the Prometheus text format.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::state::AppState;

#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    description = "Appends, pulls, held long-polls, open streams, webhook deliveries by \
        outcome, delivery duration and lag histograms, the outbox depth, the retention \
        sweep's removals and the age of the oldest event held, and the database's size.",
    responses(
        (status = 200, description = "The Prometheus text format", content_type = "text/plain", body = String),
    ),
    security(()),
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Gauges of state kept elsewhere are read at scrape time rather than tracked twice.
    let held = *state.log.wakeups().holding().borrow();
    state.metrics.held_long_polls.set(held as f64);
    match state.store.pending_deliveries().await {
        Ok(pending) => state.metrics.outbox_depth.set(pending as f64),
        Err(error) => tracing::warn!(%error, "could not count pending deliveries for /metrics"),
    }
    match state.store.database_bytes().await {
        Ok(bytes) => state.metrics.database_bytes.set(bytes as f64),
        Err(error) => tracing::warn!(%error, "could not size the database for /metrics"),
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}
