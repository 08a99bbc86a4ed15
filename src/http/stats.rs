//! `GET /v1/stats`: a tenant's appends and deliveries over a window, minute by minute, and
//! each webhook's health: what the console's overview draws, and what a script can watch.

use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, QueryParams};
use super::list::{List, Page};
use super::responses::{ListQuery, WebhooksKey};
use super::state::AppState;
use crate::activity::report::{self, Stats, Window};
use crate::domain::key::Scope;
use crate::id::WebhookId;

/// How far back to read.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsWindow {
    /// Whole minutes from `5m` to `1440m`, or hours from `1h` to `24h`; `1h` when left out.
    #[param(
        example = "1h",
        default = "1h",
        pattern = "^(([5-9]|[1-9][0-9]|[1-9][0-9]{2}|1[0-3][0-9]{2}|14[0-3][0-9]|1440)m|([1-9]|1[0-9]|2[0-4])h)$"
    )]
    window: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/stats",
    operation_id = "getStats",
    tag = "stats",
    summary = "Appends and deliveries over a window, and each webhook's health",
    description = "Events appended and delivery attempts by outcome over `window`, as totals \
        and as a series of about 60 points (the last is the minute under way), with a page of \
        the tenant's webhooks (`limit`, `after`), each with its success rate, how long its \
        receiver takes (p50/p99), its pending deliveries and the oldest one's age, and its \
        last failed attempt. Each process adds its counts every few seconds, so the other \
        processes' last seconds may be missing; this one's are always in. Counts are kept \
        for 25 hours. Needs `webhooks`.",
    params(StatsWindow, Page<WebhookId>),
    responses(
        (status = 200, description = "The report", body = Stats),
        (status = 400, description = "A malformed `window`, `limit` or `after`", body = ErrorBody),
        ListQuery,
        WebhooksKey,
    ),
    security(("apiKey" = [])),
)]
pub async fn stats(
    auth: Auth,
    State(state): State<AppState>,
    QueryParams(span): QueryParams<StatsWindow>,
    QueryParams(page): QueryParams<Page<WebhookId>>,
) -> Result<impl IntoResponse, ApiError> {
    // Only keys not bound to an identity hold `webhooks`: the report is the tenant's.
    auth.require(Scope::Webhooks)?;
    let window = span
        .window
        .as_deref()
        .map(Window::parse)
        .transpose()
        .map_err(|message| ApiError::bad_request("invalid_window", message))?
        .unwrap_or_default();
    let limit = page.limit()?;
    let after = page.after()?;
    // This process's counts so far are in the report, however recent.
    state.activity.add().await?;
    let webhooks = state.webhooks.list(auth.tenant(), after, limit + 1).await?;
    let List {
        data: webhooks,
        next,
    } = List::from_overfetch(webhooks, limit, |webhook| webhook.id.to_string());
    let mut stats: Stats = report::read(
        state.store.as_ref(),
        auth.tenant(),
        webhooks,
        window,
        state.clock.now(),
    )
    .await?;
    stats.next = next;
    Ok(axum::Json(stats))
}
