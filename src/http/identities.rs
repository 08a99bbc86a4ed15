//! `/v1/identities`: create (idempotent), show, list.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, Handle, OptionalJson, QueryParams, unplussed};
use super::list::{List, Page};
use super::responses::{BodyLimit, ListQuery, NoSuchIdentity, ReaderKey, WriterKey};
use super::state::AppState;
use crate::domain::cursor::Seq;
use crate::domain::identity::{Identity, IdentityHandle};
use crate::domain::key::Scope;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Identity)]
pub struct IdentityView {
    handle: IdentityHandle,
    head_seq: Seq,
    /// The first seq still held (older ones expired or were erased); `headSeq + 1` when
    /// none is. A cursor below `earliestSeq - 1` answers `410 cursor_expired`.
    earliest_seq: Seq,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    created_at: chrono::DateTime<chrono::Utc>,
    /// When the last event was appended; null when the log holds none.
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_event_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<Identity> for IdentityView {
    fn from(identity: Identity) -> Self {
        Self {
            handle: identity.handle,
            head_seq: identity.head_seq,
            earliest_seq: identity.earliest_seq,
            created_at: identity.created_at,
            last_event_at: identity.last_event_at,
        }
    }
}

/// Narrows the list to handles that start with `prefix`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdentitySearch {
    /// Only the identities whose handle starts with this.
    #[param(pattern = "^[A-Za-z0-9._+@-]{0,255}$", example = "alice")]
    prefix: Option<String>,
}

impl IdentitySearch {
    /// The prefix, if one narrows anything; `+` not percent-encoded is read as `+`.
    fn prefix(&self) -> Result<Option<String>, ApiError> {
        let Some(prefix) = self.prefix.as_deref().map(unplussed) else {
            return Ok(None);
        };
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._+@-".contains(&b);
        if prefix.len() > IdentityHandle::MAX_LEN || !prefix.bytes().all(allowed) {
            return Err(ApiError::bad_request(
                "invalid_prefix",
                "`prefix` is the start of a handle: up to 255 of A-Z a-z 0-9 . _ - + @",
            ));
        }
        Ok((!prefix.is_empty()).then(|| prefix.into_owned()))
    }
}

/// `PUT` takes no fields; an empty body or `{}` both do.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIdentity {}

#[utoipa::path(
    put,
    path = "/v1/identities/{handle}",
    operation_id = "createIdentity",
    tag = "identities",
    summary = "Create an identity",
    description = "Creates the identity if it does not exist yet; idempotent. The body may be \
        empty or `{}`. Needs `events:write`.",
    params(("handle" = inline(IdentityHandle), Path, description = "The identity's handle")),
    request_body(content = Option<CreateIdentity>, description = "Empty, or `{}`"),
    responses(
        (status = 201, description = "Created", body = IdentityView),
        (status = 200, description = "It already existed", body = IdentityView),
        (status = 400, description = "Invalid handle or malformed body", body = ErrorBody),
        (status = 404, description = "The key is bound to another identity", body = ErrorBody),
        WriterKey,
        BodyLimit,
    ),
    security(("apiKey" = [])),
)]
pub async fn create(
    auth: Auth,
    State(state): State<AppState>,
    Handle(handle): Handle,
    OptionalJson(_): OptionalJson<CreateIdentity>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_identity(Scope::EventsWrite, &handle)?;
    let (identity, created) = state.log.create_identity(auth.tenant(), &handle).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(IdentityView::from(identity))))
}

#[utoipa::path(
    get,
    path = "/v1/identities/{handle}",
    operation_id = "getIdentity",
    tag = "identities",
    summary = "Show an identity",
    description = "The identity with its head: the seq of its latest event, 0 before the \
        first. Needs `events:read`.",
    params(("handle" = inline(IdentityHandle), Path, description = "The identity's handle")),
    responses(
        (status = 200, description = "The identity", body = IdentityView),
        (status = 400, description = "Invalid handle", body = ErrorBody),
        ReaderKey,
        NoSuchIdentity,
    ),
    security(("apiKey" = [])),
)]
pub async fn show(
    auth: Auth,
    State(state): State<AppState>,
    Handle(handle): Handle,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_identity(Scope::EventsRead, &handle)?;
    let identity = state.log.identity(auth.tenant(), &handle).await?;
    Ok(axum::Json(IdentityView::from(identity)))
}

#[utoipa::path(
    get,
    path = "/v1/identities",
    operation_id = "listIdentities",
    tag = "identities",
    summary = "List identities",
    description = "The tenant's identities in handle order; a key bound to one identity sees \
        only that one. Needs `events:read`.",
    params(Page<IdentityHandle>, IdentitySearch),
    responses(
        (status = 200, description = "A page of identities", body = List<IdentityView>),
        ListQuery,
        ReaderKey,
    ),
    security(("apiKey" = [])),
)]
pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
    QueryParams(page): QueryParams<Page<IdentityHandle>>,
    QueryParams(search): QueryParams<IdentitySearch>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::EventsRead)?;
    let bound = auth.0.identity.as_ref();
    let prefix = search.prefix()?;
    let prefix = prefix.as_deref();
    page.respond(
        async |after, limit| {
            let identities = state
                .log
                .identities(auth.tenant(), bound, after, prefix, limit)
                .await?;
            Ok::<_, ApiError>(identities.into_iter().map(IdentityView::from).collect())
        },
        |view: &IdentityView| view.handle.to_string(),
    )
    .await
}
