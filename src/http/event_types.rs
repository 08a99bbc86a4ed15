//! `/v1/event-types`: the built-in catalog plus a tenant's own types.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ApiError;
use super::extract::{Auth, Json};
use super::state::AppState;
use crate::log::catalog::Catalog;
use crate::log::event::{EventSchema, EventType};
use crate::store::CustomEventType;
use crate::tenant::Scope;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeView<'a> {
    name: &'a str,
    description: &'a str,
    schema: &'a Value,
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
    Ok(axum::Json(
        serde_json::json!({ "data": data, "next": null }),
    ))
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefineEventType {
    #[serde(default)]
    description: String,
    schema: Value,
}

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
    if body.description.chars().count() > 1_000 {
        return Err(ApiError::bad_request(
            "invalid_description",
            "a description is at most 1,000 characters",
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
