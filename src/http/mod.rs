//! THE API: extract, call one service, map the result. No SQL here.

mod api_keys;
mod console;
mod deliveries;
mod erasure;
mod error;
mod event_types;
pub mod events;
mod extract;
mod follow;
mod identities;
mod list;
mod metrics;
pub mod openapi;
mod ops;
mod responses;
pub mod serve;
mod shapes;
mod socket;
mod sources;
pub mod state;
mod stats;
mod stream;
mod tenants;
mod webhook_actions;
mod webhooks;
mod whole;

use std::any::Any;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

pub use error::ApiError;
use state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole route table and its layers.
pub fn router(state: AppState, body_limit: usize) -> Router {
    let ops = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::openapi_json));
    if !state.settings.api {
        return ops.fallback(ops::not_found).with_state(state);
    }
    let api = ops
        .route("/", get(console::index))
        .route("/console/{file}", get(console::asset))
        .route("/v1/admin/tenants", post(tenants::create))
        .route(
            "/v1/admin/tenants/{id}/retention",
            put(tenants::set_retention),
        )
        .route("/v1/api-keys", post(api_keys::create).get(api_keys::list))
        .route("/v1/api-keys/{id}", axum::routing::delete(api_keys::revoke))
        .route("/v1/identities", get(identities::list))
        .route("/v1/stats", get(stats::stats))
        .route(
            "/v1/identities/{handle}",
            put(identities::create)
                .get(identities::show)
                .delete(erasure::erase),
        )
        .route(
            "/v1/identities/{handle}/events",
            post(events::append).get(events::pull),
        )
        .route("/v1/identities/{handle}/events/stream", get(stream::stream))
        .route("/v1/identities/{handle}/events/ws", get(socket::socket))
        .route(
            "/v1/identities/{handle}/events/{id}/redact",
            post(erasure::redact),
        )
        .route("/v1/event-types", get(event_types::list))
        .route(
            "/v1/event-types/{type}",
            put(event_types::define).get(event_types::show),
        )
        .route("/v1/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::show)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/v1/webhooks/{id}/secret", get(webhook_actions::secret))
        .route(
            "/v1/webhooks/{id}/secrets/rotate",
            post(webhook_actions::rotate_secret),
        )
        .route("/v1/webhooks/{id}/deliveries", get(deliveries::list))
        .route("/v1/webhooks/{id}/replay", post(webhook_actions::replay))
        .route("/v1/webhooks/{id}/ping", post(webhook_actions::ping))
        .route("/v1/sources", post(sources::create).get(sources::list))
        .route(
            "/v1/sources/{id}",
            get(sources::show).delete(sources::delete),
        )
        .route("/v1/sources/{id}/refusals", get(sources::refusals))
        .route("/v1/ingest/{id}", post(sources::ingest))
        .route("/v1/deliveries/{id}", get(deliveries::show))
        .route("/v1/deliveries/{id}/retry", post(deliveries::retry))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .with_state(state);
    with_layers(api, body_limit)
}

/// What every API request passes through, outermost last.
fn with_layers(api: Router, body_limit: usize) -> Router {
    api.layer(CatchPanicLayer::custom(answer_panic))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get(REQUEST_ID).and_then(|id| id.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, UlidRequestId))
}

/// Request ids are `req_` + ULID; a client's own `x-request-id` is kept as it is.
#[derive(Clone, Copy)]
struct UlidRequestId;

impl MakeRequestId for UlidRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = format!("req_{}", ulid::Ulid::new());
        Some(RequestId::new(id.parse().expect("an ascii header value")))
    }
}

/// A panic in a handler is a bug, but the client still gets an answer in the API's format
/// (and the connection stays usable), and the panic is logged in the request's span.
fn answer_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic with no message");
    ApiError::Internal(format!("a handler panicked: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_json_500_with_the_request_id() {
        async fn panics() -> &'static str {
            panic!("a bug");
        }
        let app = with_layers(Router::new().route("/boom", get(panics)), 1024);
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key(REQUEST_ID));
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "internal");
    }
}
