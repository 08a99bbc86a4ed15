//! `/v1/event-types`: the built-in catalog plus a tenant's own types.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, Json};
use super::list::List;
use super::shapes;
use super::state::AppState;
use crate::domain::event::EventType;
use crate::domain::key::Scope;
use crate::log::catalog::Catalog;
use crate::log::schema::EventSchema;
use crate::store::CustomEventType;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EventType)]
pub struct EventTypeView<'a> {
    #[schema(example = "email.replied")]
    name: &'a str,
    description: &'a str,
    /// The JSON Schema every event of this type is checked against.
    #[schema(value_type = Object)]
    schema: &'a Value,
    /// Shipped in the binary; a tenant cannot redefine it.
    builtin: bool,
}

impl<'a> From<&'a CustomEventType> for EventTypeView<'a> {
    fn from(custom: &'a CustomEventType) -> Self {
        Self {
            name: custom.name.as_str(),
            description: &custom.description,
            schema: &custom.schema,
            builtin: false,
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/event-types",
    operation_id = "listEventTypes",
    tag = "event-types",
    summary = "List event types",
    description = "The built-in catalog and the tenant's own types, all in one page. Needs \
        `events:read`.",
    responses(
        (status = 200, description = "Every event type", body = List<EventTypeView>),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `events:read`", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("apiKey" = [])),
)]
pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::EventsRead)?;
    let custom = state.log.catalog().custom_types(auth.0.tenant_id).await?;
    let builtin = Catalog::builtin_types().map(|(name, description, schema)| EventTypeView {
        name,
        description,
        schema,
        builtin: true,
    });
    let data: Vec<EventTypeView<'_>> = builtin
        .chain(custom.iter().map(EventTypeView::from))
        .collect();
    Ok(axum::Json(List { data, next: None }).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/event-types/{type}",
    operation_id = "getEventType",
    tag = "event-types",
    summary = "Show an event type",
    description = "One type with its JSON Schema. Needs `events:read`.",
    params(("type" = inline(EventType), Path, description = "The type's name", example = "email.replied")),
    responses(
        (status = 200, description = "The event type", body = EventTypeView),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `events:read`", body = ErrorBody),
        (status = 404, description = "No such event type", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("apiKey" = [])),
)]
pub async fn show(
    auth: Auth,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::EventsRead)?;
    let name = EventType::parse(&name).map_err(|_| ApiError::NotFound("event type"))?;
    if let Some((name, description, schema)) =
        Catalog::builtin_types().find(|(builtin, ..)| *builtin == name.as_str())
    {
        let view = EventTypeView {
            name,
            description,
            schema,
            builtin: true,
        };
        return Ok(axum::Json(
            serde_json::to_value(view).expect("serialisable"),
        ));
    }
    let custom = state
        .store
        .find_event_type(auth.0.tenant_id, &name)
        .await?
        .ok_or(ApiError::NotFound("event type"))?;
    Ok(axum::Json(
        serde_json::to_value(EventTypeView::from(&custom)).expect("serialisable"),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefineEventType {
    #[serde(default)]
    #[schema(schema_with = shapes::description)]
    description: String,
    #[schema(schema_with = shapes::json_schema)]
    schema: Value,
}

#[utoipa::path(
    put,
    path = "/v1/event-types/{type}",
    operation_id = "defineEventType",
    tag = "event-types",
    summary = "Define an event type",
    description = "Creates or replaces one of the tenant's own types. Built-in and `webhook.*` \
        names are reserved. Needs `admin`.",
    params(("type" = inline(EventType), Path, description = "The type's name: dot-separated \
        segments of a-z, 0-9, `_` and `-`", example = "lead.created")),
    request_body = DefineEventType,
    responses(
        (status = 201, description = "Defined", body = EventTypeView),
        (status = 200, description = "Replaced", body = EventTypeView),
        (status = 400, description = "Malformed body, invalid name or invalid schema", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `admin`", body = ErrorBody),
        (status = 409, description = "The name is reserved", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("apiKey" = [])),
)]
pub async fn define(
    auth: Auth,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<DefineEventType>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Admin)?;
    let name = EventType::parse(&name)
        .map_err(|error| ApiError::bad_request("invalid_event_type", error.to_string()))?;
    if name.is_reserved() {
        return Err(ApiError::Conflict {
            code: "event_type_reserved",
            message: format!("`{name}` is a built-in type and cannot be redefined"),
            details: serde_json::json!({}),
        });
    }
    if body.description.chars().count() > shapes::MAX_DESCRIPTION || body.description.contains('\0')
    {
        return Err(ApiError::bad_request(
            "invalid_description",
            "a description is at most 1,000 characters, with no NUL (\\u0000)",
        ));
    }
    let schema = EventSchema::compile(body.description, body.schema)
        .map_err(|error| ApiError::bad_request("invalid_schema", error.to_string()))?;
    let (saved, created) = state
        .log
        .catalog()
        .define(auth.0.tenant_id, name, schema)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(serde_json::to_value(EventTypeView::from(&saved)).expect("serialisable")),
    ))
}
