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
use super::responses::{AdminKey, BodyLimit, ReaderKey};
use super::shapes;
use super::state::AppState;
use crate::domain::event::EventType;
use crate::domain::key::Scope;
use crate::log::catalog::TypeEntry;

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

impl<'a> From<&'a TypeEntry> for EventTypeView<'a> {
    fn from(entry: &'a TypeEntry) -> Self {
        match entry {
            TypeEntry::Builtin { name, schema } => Self {
                name,
                description: &schema.description,
                schema: &schema.schema,
                builtin: true,
            },
            TypeEntry::Custom(custom) => Self {
                name: custom.name.as_str(),
                description: &custom.description,
                schema: &custom.schema,
                builtin: false,
            },
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
        ReaderKey,
    ),
    security(("apiKey" = [])),
)]
pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::EventsRead)?;
    let entries = state.log.catalog().list(auth.tenant()).await?;
    let data: Vec<EventTypeView<'_>> = entries.iter().map(EventTypeView::from).collect();
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
        (status = 404, description = "No such event type", body = ErrorBody),
        ReaderKey,
    ),
    security(("apiKey" = [])),
)]
pub async fn show(
    auth: Auth,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::EventsRead)?;
    // A malformed name names no type: 404, like an unknown one.
    let name = EventType::parse(&name).map_err(|_| ApiError::NotFound("event type"))?;
    let entry = state
        .log
        .catalog()
        .find(auth.tenant(), &name)
        .await?
        .ok_or(ApiError::NotFound("event type"))?;
    Ok(axum::Json(EventTypeView::from(&entry)).into_response())
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
        (status = 409, description = "The name is reserved", body = ErrorBody),
        AdminKey,
        BodyLimit,
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
    let (saved, created) = state
        .log
        .catalog()
        .define(auth.tenant(), &name, body.description, body.schema)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(EventTypeView::from(&TypeEntry::Custom(saved))),
    )
        .into_response())
}
