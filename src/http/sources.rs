//! `/v1/sources`: inbound sources a tenant registers (`admin`), and `POST /v1/ingest/{id}`,
//! where their providers post — with no API key: the provider's own signature (or basic
//! auth) is the credential.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, Json, QueryParams};
use super::list::{List, Page};
use super::responses::{AdminKey, BodyLimit, ListQuery, NoSuchSource};
use super::shapes;
use super::state::{AppState, Settings};
use crate::domain::key::Scope;
use crate::domain::source::{Provider, Refusal, Source, SourceView};
use crate::id::SourceId;
use crate::sources::{Issued, Post, Refused, SourceDraft};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateSource {
    provider: Provider,
    /// Resend: the webhook's `whsec_…` signing secret. Mailgun: the HTTP webhook signing
    /// key. Generic: the HMAC secret (generated when left out).
    secret: Option<String>,
    /// SendGrid: the signed Event Webhook's verification key (base64 DER).
    public_key: Option<String>,
    /// Postmark: the basic-auth user in the ingest URL [default: `seqhook`].
    username: Option<String>,
    /// Postmark: the basic-auth password in the ingest URL (generated when left out).
    password: Option<String>,
    /// Where each event's identity handle is: `recipient` (the default), `sender`, or a
    /// JSON pointer into the provider's event.
    identity: Option<String>,
    description: Option<String>,
}

// One shape per provider, which the derive cannot say.
impl utoipa::PartialSchema for CreateSource {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        shapes::create_source()
    }
}

impl ToSchema for CreateSource {}

/// A new source, with what its provider is given: the ingest URL (with Postmark's
/// credentials in it) and a generated secret. Shown this once.
#[derive(Serialize, ToSchema)]
pub struct SourceCreated<'a> {
    #[serde(flatten)]
    source: SourceView<'a>,
    /// The generic source's HMAC secret, when seqhook chose it.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/sources",
    operation_id = "createSource",
    tag = "sources",
    summary = "Register an inbound source",
    description = "An email provider's event webhook: give the provider the answer's \
        `ingestUrl`. Each event it posts becomes a typed event on the identity found where \
        `identity` says. Needs `admin`.",
    request_body = CreateSource,
    responses(
        (status = 201, description = "The source, with its ingest URL", body = SourceCreated),
        (status = 400, description = "Malformed body, or credentials that do not fit the provider", body = ErrorBody),
        AdminKey,
        BodyLimit,
    ),
    security(("apiKey" = [])),
)]
pub async fn create(
    auth: Auth,
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<CreateSource>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Admin)?;
    let draft = SourceDraft {
        provider: body.provider.as_str().to_owned(),
        secret: body.secret,
        public_key: body.public_key,
        username: body.username,
        password: body.password,
        identity: body.identity,
        description: body.description,
    };
    let (source, Issued { secret, basic_auth }) =
        state.sources.create(auth.tenant(), draft).await?;
    let url = ingest_url(&state.settings, &headers, &source, basic_auth.as_ref());
    let created = SourceCreated {
        source: source.view(url),
        secret,
    };
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/sources",
    operation_id = "listSources",
    tag = "sources",
    summary = "List inbound sources",
    description = "The tenant's sources, without their credentials. Needs `admin`.",
    params(Page<SourceId>),
    responses(
        (status = 200, description = "A page of sources", body = List<SourceView>),
        ListQuery,
        AdminKey,
    ),
    security(("apiKey" = [])),
)]
pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(page): QueryParams<Page<SourceId>>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Admin)?;
    let sources = page
        .respond(
            async |after, limit| state.sources.list(auth.tenant(), after, limit).await,
            |source| source.id.to_string(),
        )
        .await?;
    let List { data, next } = sources.0;
    let data: Vec<_> = data
        .iter()
        .map(|source| source.view(ingest_url(&state.settings, &headers, source, None)))
        .collect();
    Ok(axum::Json(
        serde_json::json!({ "data": data, "next": next }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/sources/{id}",
    operation_id = "getSource",
    tag = "sources",
    summary = "Show an inbound source",
    description = "Needs `admin`.",
    params(("id" = inline(SourceId), Path, description = "The source's id")),
    responses(
        (status = 200, description = "The source", body = SourceView),
        AdminKey,
        NoSuchSource,
    ),
    security(("apiKey" = [])),
)]
pub async fn show(
    auth: Auth,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Admin)?;
    let source = state.sources.find(auth.tenant(), source_id(&id)?).await?;
    let url = ingest_url(&state.settings, &headers, &source, None);
    Ok(axum::Json(
        serde_json::to_value(source.view(url)).expect("a view serialises"),
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/sources/{id}",
    operation_id = "deleteSource",
    tag = "sources",
    summary = "Delete an inbound source",
    description = "Its ingest URL answers 404 from then on; the events it appended stay. \
        Needs `admin`.",
    params(("id" = inline(SourceId), Path, description = "The source's id")),
    responses(
        (status = 204, description = "Deleted"),
        AdminKey,
        NoSuchSource,
    ),
    security(("apiKey" = [])),
)]
pub async fn delete(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Admin)?;
    state.sources.delete(auth.tenant(), source_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A source's refused posts.
#[derive(Serialize, ToSchema)]
pub struct Refusals {
    /// Newest first; the last 100 are kept.
    data: Vec<Refusal>,
}

#[utoipa::path(
    get,
    path = "/v1/sources/{id}/refusals",
    operation_id = "listSourceRefusals",
    tag = "sources",
    summary = "A source's refused posts",
    description = "The posts this source refused (a bad signature, a stale timestamp, an \
        event with no identity…), newest first, with why. Needs `admin`.",
    params(("id" = inline(SourceId), Path, description = "The source's id")),
    responses(
        (status = 200, description = "The refused posts", body = Refusals),
        AdminKey,
        NoSuchSource,
    ),
    security(("apiKey" = [])),
)]
pub async fn refusals(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::Admin)?;
    let data = state
        .sources
        .refusals(auth.tenant(), source_id(&id)?)
        .await?;
    Ok(axum::Json(Refusals { data }))
}

/// What an accepted post did.
#[derive(Serialize, ToSchema)]
pub struct IngestAnswer {
    received: bool,
    /// The events the post held.
    events: usize,
    /// Those new to the log; the rest were there already (a provider's retry).
    appended: usize,
}

#[utoipa::path(
    post,
    path = "/v1/ingest/{id}",
    operation_id = "ingest",
    tag = "sources",
    summary = "A provider's post to its source",
    description = "Takes no API key: the provider's signature (Resend, SendGrid, Mailgun, the \
        generic `X-Webhook-Signature`) or basic auth (Postmark) authenticates it. Every event \
        is checked before any is appended; each identity's events are one atomic append.",
    params(("id" = inline(SourceId), Path, description = "The source's id")),
    request_body(content = String, description = "The provider's post, as it sends it"),
    responses(
        (status = 200, description = "Taken", body = IngestAnswer),
        (status = 400, description = "Not the provider's JSON", body = ErrorBody),
        (status = 401, description = "A missing or bad signature, or a stale timestamp", body = ErrorBody),
        (status = 409, description = "The same signed post again (`replayed_post`)", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 422, description = "An event with no seqhook type or no identity (`unmappable_event`)", body = ErrorBody),
        NoSuchSource,
    ),
)]
pub async fn ingest(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let id = source_id(&id)?;
    let limit = state.settings.body_limit;
    let read = tokio::time::timeout(
        state.settings.body_timeout,
        axum::body::to_bytes(body, limit),
    )
    .await
    .map_err(|_| ApiError::BodyTimeout)?;
    let body = match read {
        Ok(body) => body,
        Err(error) if !over_limit(&error) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "the post's body could not be read whole",
            ));
        }
        Err(_) => {
            let refused = Refused {
                status: 413,
                code: "body_too_large",
                message: format!("the post is over the {limit}-byte limit; nothing was appended"),
            };
            return Err(state.sources.refuse_unread(id, refused).await.into());
        }
    };
    let post = Post {
        headers: &headers,
        body: &body,
    };
    let ingested = state.sources.ingest(id, &post).await?;
    Ok(axum::Json(IngestAnswer {
        received: true,
        events: ingested.events,
        appended: ingested.appended,
    }))
}

/// Whether reading a body failed for its length, rather than its connection.
fn over_limit(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = current.source();
    }
    false
}

/// A malformed id names no source: 404.
fn source_id(raw: &str) -> Result<SourceId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("source"))
}

/// Where the source's provider posts: the configured public URL, or this request's host.
fn ingest_url(
    settings: &Settings,
    headers: &HeaderMap,
    source: &Source,
    basic_auth: Option<&(String, String)>,
) -> String {
    let base = match &settings.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    let base = match basic_auth {
        Some((user, password)) => match base.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{user}:{password}@{rest}"),
            None => base,
        },
        None => base,
    };
    format!("{base}/v1/ingest/{}", source.id)
}
