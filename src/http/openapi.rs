//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers' annotations
//! and the body types' derives, so it cannot drift from the code.

use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, OpenApi as Document};
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;
use super::state::AppState;
use super::{
    api_keys, deliveries, erasure, event_types, events, identities, metrics, ops, socket, sources,
    stats, stream, tenants, webhook_actions, webhooks,
};
use crate::domain::event::Envelope;
use crate::domain::key::Scope;
use crate::id::EventId;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "seqhook",
        version = env!("CARGO_PKG_VERSION"),
        description = "A multi-tenant event log. Producers append typed events to a \
            per-identity log; every event gets a globally unique `id` and a per-identity, \
            gap-free `seq`. Consumers read the same log by pull (with long-poll), by \
            Server-Sent Events, or as signed webhooks.\n\n\
            Every error answers `{\"error\": {\"code\", \"message\", \"details\"}}`. \
            Another tenant's resources answer 404, never 403.",
    ),
    paths(
        ops::healthz,
        ops::readyz,
        metrics::metrics,
        openapi_json,
        tenants::create,
        tenants::set_retention,
        api_keys::create,
        api_keys::list,
        api_keys::revoke,
        identities::list,
        identities::create,
        identities::show,
        erasure::erase,
        erasure::redact,
        events::append,
        events::pull,
        stream::stream,
        socket::socket,
        event_types::list,
        event_types::show,
        event_types::define,
        sources::create,
        sources::list,
        sources::show,
        sources::delete,
        sources::refusals,
        sources::ingest,
        webhooks::create,
        webhooks::list,
        webhooks::show,
        webhooks::update,
        webhooks::delete,
        webhook_actions::secret,
        webhook_actions::rotate_secret,
        webhook_actions::replay,
        webhook_actions::ping,
        deliveries::list,
        deliveries::show,
        deliveries::retry,
        stats::stats,
    ),
    components(schemas(ErrorBody, Envelope, EventId, Scope)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "events", description = "Append to an identity's log and read it back."),
        (name = "identities", description = "The logs a tenant names by handle."),
        (name = "event-types", description = "The built-in catalog and a tenant's own types, \
            each with the JSON Schema its events' `data` must match."),
        (name = "webhooks", description = "Push: signed, retried deliveries of matching events."),
        (name = "sources", description = "Inbound: email providers' event webhooks, \
            appended as typed events."),
        (name = "deliveries", description = "The delivery log: each delivery with its attempts."),
        (name = "stats", description = "Appends and deliveries by the minute, and webhooks' health."),
        (name = "api-keys", description = "A tenant's keys: scopes and identity binding."),
        (name = "admin", description = "Operator routes, under `SEQHOOK_ADMIN_TOKEN`."),
        (name = "operations", description = "Health, readiness and this document."),
    ),
)]
struct ApiDoc;

/// Security schemes are not expressible in the derive's attributes.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Components::new);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("shk_…")
                    .description(Some(
                        "A tenant API key, `Authorization: Bearer shk_…`. Each route names \
                         the scope it needs.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "adminToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator's `SEQHOOK_ADMIN_TOKEN`, for `/v1/admin/*`.",
                    ))
                    .build(),
            ),
        );
    }
}

pub fn document() -> Document {
    ApiDoc::openapi()
}

/// The document as this server serves it: the longest long-poll is the server's
/// `SEQHOOK_MAX_WAIT`, so the document says that one, not the default.
pub fn render(max_wait: Duration) -> String {
    let mut document = serde_json::to_value(document()).expect("the document serialises");
    for (name, schema) in super::shapes::components() {
        document["components"]["schemas"][name] = schema;
    }
    let parameters = &mut document["paths"]["/v1/identities/{handle}/events"]["get"]["parameters"];
    if let Some(parameters) = parameters.as_array_mut() {
        for parameter in parameters
            .iter_mut()
            .filter(|parameter| parameter["name"] == "wait")
        {
            parameter["schema"]["maximum"] = max_wait.as_secs().into();
        }
    }
    document.to_string()
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    summary = "This document",
    description = "The OpenAPI 3.1 description of this API.",
    responses((status = 200, description = "The document", body = serde_json::Value)),
    security(()),
)]
pub async fn openapi_json(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        state.settings.document.to_string(),
    )
}
