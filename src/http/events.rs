//! `/v1/identities/{handle}/events`: append (one event or a batch) and pull (with
//! long-poll).

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema,
};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, Handle, Json, QueryParams};
use super::responses::{BodyLimit, ExpiredCursor, NoSuchIdentity, ReaderKey, WriterKey};
use super::state::AppState;
use crate::domain::cursor::Seq;
use crate::domain::event::{Envelope, EventType};
use crate::domain::identity::IdentityHandle;
use crate::domain::key::Scope;
use crate::id::EventId;
use crate::log::{EventDraft, PullRequest};

const MAX_BATCH: usize = 1_000;
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1_000;

/// One event to append.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBody {
    #[serde(rename = "type")]
    event_type: String,
    // Kept as the client's text: checked against its schema, then stored as sent, never
    // re-serialised.
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

// Clients send one of two shapes; the document shows those rather than this struct's
// all-optional fields.
impl PartialSchema for AppendBody {
    fn schema() -> RefOr<Schema> {
        let event = super::shapes::new_event;
        let batch = ObjectBuilder::new()
            .title(Some("NewEventBatch"))
            .property(
                "events",
                ArrayBuilder::new()
                    .items(event())
                    .min_items(Some(1))
                    .max_items(Some(MAX_BATCH)),
            )
            .required("events")
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
        OneOfBuilder::new()
            .item(event())
            .item(batch)
            .description(Some(
                "One event, or `{\"events\": [...]}`: a batch appended atomically with \
                 contiguous seqs.",
            ))
            .into()
    }
}

impl ToSchema for AppendBody {}

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

#[derive(Serialize, ToSchema)]
struct AppendResponse<'a> {
    events: Vec<Envelope<'a>>,
}

#[utoipa::path(
    post,
    path = "/v1/identities/{handle}/events",
    operation_id = "appendEvents",
    tag = "events",
    summary = "Append events",
    description = "Appends one event or an atomic batch of up to 1,000, answered after commit. \
        Re-sending an event with an id already in the log returns the stored event (200); the \
        same id with other content is 409. Needs `events:write`.",
    params(("handle" = inline(IdentityHandle), Path, description = "The identity's handle")),
    request_body = AppendBody,
    responses(
        (status = 201, description = "Appended", body = AppendResponse),
        (status = 200, description = "Every event was already in the log", body = AppendResponse),
        (status = 400, description = "Malformed body, invalid handle or empty or oversized batch", body = ErrorBody),
        (status = 409, description = "An event id reused with other content", body = ErrorBody),
        (status = 422, description = "Unknown event type, or data failing its schema", body = ErrorBody),
        WriterKey,
        NoSuchIdentity,
        BodyLimit,
    ),
    security(("apiKey" = [])),
)]
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
    let appended = state.log.append(auth.tenant(), identity, events).await?;
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

/// A `types` filter as the document states it: comma-separated type names (spaces allowed
/// around them), or nothing for every type. Each name is checked as an `EventType`; this
/// shape keeps names short enough that it always is.
#[cfg(test)]
const TYPES_PATTERN: &str = "^ *([a-z0-9_-]{1,32}(\\.[a-z0-9_-]{1,32}){0,2}( *, *[a-z0-9_-]{1,32}(\\.[a-z0-9_-]{1,32}){0,2})*)? *$";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// Answer events after this seq; pass back the previous answer's `cursor`. Past the
    /// identity's head it is answered 400 `since_beyond_head`.
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64, default = 0)]
    since: Option<i64>,
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u32>,
    /// Seconds to hold the request while nothing is past `since`, at most the server's
    /// `SEQHOOK_MAX_WAIT` (the document's maximum).
    #[param(minimum = 0, maximum = 25, default = 0)]
    wait: Option<u64>,
    /// Comma-separated event types to include.
    #[param(
        pattern = "^ *([a-z0-9_-]{1,32}(\\.[a-z0-9_-]{1,32}){0,2}( *, *[a-z0-9_-]{1,32}(\\.[a-z0-9_-]{1,32}){0,2})*)? *$",
        example = "email.replied,email.bounced"
    )]
    types: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PullResponse<'a> {
    events: Vec<Envelope<'a>>,
    /// The last seq examined: the next request's `since`.
    cursor: Seq,
    /// More events already exist past `cursor`: ask again without waiting.
    has_more: bool,
}

#[utoipa::path(
    get,
    path = "/v1/identities/{handle}/events",
    operation_id = "pullEvents",
    tag = "events",
    summary = "Pull events",
    description = "Events after `since` in seq order. With `wait`, an empty answer is held \
        until an event lands or `wait` elapses (long-poll). Needs `events:read`.",
    params(
        ("handle" = inline(IdentityHandle), Path, description = "The identity's handle"),
        PullQuery,
    ),
    responses(
        (status = 200, description = "A page of events", body = PullResponse),
        (status = 400, description = "Invalid handle or query, or `since` beyond the head", body = ErrorBody),
        ReaderKey,
        NoSuchIdentity,
        ExpiredCursor,
    ),
    security(("apiKey" = [])),
)]
pub async fn pull(
    auth: Auth,
    State(state): State<AppState>,
    Handle(handle): Handle,
    QueryParams(query): QueryParams<PullQuery>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_identity(Scope::EventsRead, &handle)?;
    let request = pull_request(query, state.settings.max_wait)?;
    let identity = state.log.resolve(auth.0.tenant_id, &handle).await?;
    state.metrics.pulls.increment(1);
    let page = if request.wait.is_zero() {
        state.log.pull(identity, request).await?
    } else {
        // A held long-poll outlives the key check it began with: a revocation ends it, and
        // an answer made while one lands is not sent.
        let mut key = auth.watch(&state.keyring);
        let page = tokio::select! {
            page = state.log.pull(identity, request) => page?,
            () = key.revoked() => return Err(ApiError::Unauthenticated),
        };
        if key.revoked_meanwhile().await {
            return Err(ApiError::Unauthenticated);
        }
        page
    };
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
    Ok(PullRequest {
        since,
        limit,
        types: parse_types(query.types.as_deref())?,
        wait,
    })
}

/// A `types` filter: comma-separated event types; absent or blank means every type.
pub(super) fn parse_types(list: Option<&str>) -> Result<Option<Vec<EventType>>, ApiError> {
    let Some(list) = list.map(str::trim).filter(|list| !list.is_empty()) else {
        return Ok(None);
    };
    list.split(',')
        .map(|name| EventType::parse(name.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(|error| ApiError::bad_request("invalid_types", error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The document's pattern promises this: what matches it is accepted.
        #[test]
        fn every_types_filter_the_document_allows_is_accepted(
            list in TYPES_PATTERN.trim_matches(['^', '$'])
        ) {
            prop_assert!(parse_types(Some(&list)).is_ok(), "{list:?}");
        }
    }

    #[test]
    fn the_documented_types_pattern_is_the_one_tested() {
        for params in [
            PullQuery::into_params(|| None),
            super::super::stream::StreamQuery::into_params(|| None),
        ] {
            let types = params.iter().find(|param| param.name == "types").unwrap();
            let schema = serde_json::to_value(&types.schema).unwrap();
            assert_eq!(schema["pattern"], TYPES_PATTERN);
        }
    }
}
