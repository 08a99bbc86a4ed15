//! `/v1/identities/{handle}/events`: append (one event or a batch) and pull (with
//! long-poll).

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::ApiError;
use super::extract::{Auth, Handle, Json, QueryParams};
use super::state::AppState;
use crate::id::EventId;
use crate::log::cursor::Seq;
use crate::log::event::{Envelope, EventType};
use crate::log::{EventDraft, PullRequest};
use crate::tenant::Scope;

const MAX_BATCH: usize = 1_000;
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBody {
    #[serde(rename = "type")]
    event_type: String,
    /// Kept as the client's text: checked against its schema, then stored as sent, never
    /// re-serialised.
    data: Box<RawValue>,
    id: Option<EventId>,
}

/// One event, or `{"events": [...]}`, parsed in one pass: the shape is told apart after
/// parsing, so an error names the real problem rather than "matched no variant".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendBody {
    events: Option<Vec<EventBody>>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    data: Option<Box<RawValue>>,
    id: Option<EventId>,
}

impl AppendBody {
    fn into_drafts(self) -> Result<Vec<(String, EventDraft)>, ApiError> {
        let bodies: Vec<(String, EventBody)> = match self {
            AppendBody {
                events: Some(events),
                event_type: None,
                data: None,
                id: None,
            } => {
                if events.is_empty() {
                    return Err(ApiError::bad_request(
                        "empty_batch",
                        "`events` must hold at least one event",
                    ));
                }
                if events.len() > MAX_BATCH {
                    return Err(ApiError::bad_request(
                        "batch_too_large",
                        format!("a batch holds at most {MAX_BATCH} events"),
                    ));
                }
                events
                    .into_iter()
                    .enumerate()
                    .map(|(i, event)| (format!("/events/{i}"), event))
                    .collect()
            }
            AppendBody {
                events: Some(_), ..
            } => {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "a batch is `{\"events\": [...]}` with no other fields",
                ));
            }
            AppendBody {
                events: None,
                event_type: Some(event_type),
                data: Some(data),
                id,
            } => {
                vec![(
                    String::new(),
                    EventBody {
                        event_type,
                        data,
                        id,
                    },
                )]
            }
            AppendBody {
                event_type: None, ..
            } => {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "missing field `type`",
                ));
            }
            AppendBody { .. } => {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "missing field `data`",
                ));
            }
        };
        let mut seen = HashSet::new();
        bodies
            .into_iter()
            .map(|(at, body)| {
                if !body.data.get().trim_start().starts_with('{') {
                    return Err(ApiError::bad_request(
                        "invalid_body",
                        format!("`{at}/data` must be a JSON object"),
                    ));
                }
                if let Some(id) = body.id {
                    if !seen.insert(id) {
                        return Err(ApiError::bad_request(
                            "duplicate_event_id",
                            format!("{id} appears twice in the batch"),
                        ));
                    }
                }
                Ok((
                    at,
                    EventDraft {
                        id: body.id,
                        event_type: body.event_type,
                        data: body.data,
                    },
                ))
            })
            .collect()
    }
}

#[derive(Serialize)]
struct AppendResponse<'a> {
    events: Vec<Envelope<'a>>,
}

pub async fn append(
    auth: Auth,
    State(state): State<AppState>,
    Handle(handle): Handle,
    Json(body): Json<AppendBody>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_identity(Scope::EventsWrite, &handle)?;
    let drafts = body.into_drafts()?;
    let identity = state.log.resolve(auth.0.tenant_id, &handle).await?;
    let events = state.log.check(auth.0.tenant_id, drafts).await?;
    let appended = state.log.append(identity, events).await?;
    let events = appended
        .events
        .iter()
        .map(|event| Envelope::new(event, &handle))
        .collect();
    let status = if appended.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(AppendResponse { events })).into_response())
}

#[derive(Deserialize)]
pub struct PullQuery {
    since: Option<i64>,
    limit: Option<u32>,
    wait: Option<u64>,
    types: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PullResponse<'a> {
    events: Vec<Envelope<'a>>,
    cursor: Seq,
    has_more: bool,
}

pub async fn pull(
    auth: Auth,
    State(state): State<AppState>,
    Handle(handle): Handle,
    QueryParams(query): QueryParams<PullQuery>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_identity(Scope::EventsRead, &handle)?;
    let request = pull_request(query, state.settings.max_wait)?;
    let identity = state.log.resolve(auth.0.tenant_id, &handle).await?;
    let page = state.log.pull(identity, request).await?;
    let response = PullResponse {
        events: page
            .events
            .iter()
            .map(|event| Envelope::new(event, &handle))
            .collect(),
        cursor: page.cursor,
        has_more: page.has_more(),
    };
    Ok(axum::Json(response).into_response())
}

fn pull_request(query: PullQuery, max_wait: Duration) -> Result<PullRequest, ApiError> {
    let since = match query.since.unwrap_or(0) {
        since @ 0.. => Seq(since),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_since",
                "`since` must be 0 or more",
            ));
        }
    };
    let limit = match query.limit.unwrap_or(DEFAULT_PAGE) {
        limit @ 1..=MAX_PAGE => limit,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_limit",
                format!("`limit` must be 1 to {MAX_PAGE}"),
            ));
        }
    };
    let wait = Duration::from_secs(query.wait.unwrap_or(0));
    if wait > max_wait {
        return Err(ApiError::bad_request(
            "invalid_wait",
            format!("`wait` must be 0 to {} seconds", max_wait.as_secs()),
        ));
    }
    let types = match query
        .types
        .as_deref()
        .map(str::trim)
        .filter(|types| !types.is_empty())
    {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(|name| EventType::parse(name.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| ApiError::bad_request("invalid_types", error.to_string()))?,
        ),
    };
    Ok(PullRequest {
        since,
        limit,
        types,
        wait,
    })
}
