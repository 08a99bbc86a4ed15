//! Taking data out on request: `DELETE /v1/identities/{handle}` erases an identity, and
//! `POST /v1/identities/{handle}/events/{id}/redact` replaces one event's data.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, Handle};
use super::responses::{AdminKey, NoSuchIdentity};
use super::state::AppState;
use crate::domain::event::Envelope;
use crate::domain::identity::IdentityHandle;
use crate::domain::key::Scope;
use crate::id::EventId;

#[utoipa::path(
    delete,
    path = "/v1/identities/{handle}",
    operation_id = "eraseIdentity",
    tag = "identities",
    summary = "Erase an identity",
    description = "Erases the identity's events, their deliveries and attempts, and the keys \
        bound to it. From the answer on it is 404 everywhere; large logs finish being removed \
        in the background. Creating the handle again later continues after the old head, so \
        no seq is ever reused. Needs `admin`.",
    params(("handle" = inline(IdentityHandle), Path, description = "The identity's handle")),
    responses(
        (status = 204, description = "Erased"),
        (status = 400, description = "Invalid handle", body = ErrorBody),
        AdminKey,
        NoSuchIdentity,
    ),
    security(("apiKey" = [])),
)]
pub async fn erase(
    auth: Auth,
    State(state): State<AppState>,
    Handle(handle): Handle,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_identity(Scope::Admin, &handle)?;
    let keys = state
        .log
        .erase(auth.tenant(), &handle, state.clock.now())
        .await?;
    for key in keys {
        state.keyring.forget(key);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/identities/{handle}/events/{id}/redact",
    operation_id = "redactEvent",
    tag = "events",
    summary = "Redact an event",
    description = "Replaces the event's `data` with `{\"redacted\": true}` and adds \
        `redactedAt` to its envelope, keeping its `id`, `seq` and `type`, so the log stays \
        gap-free. Every delivery attempt of the event from then on (retries included) sends \
        the tombstone; one already in flight carries what it was sent with. Redacting it \
        again changes nothing. Needs `admin`.",
    params(
        ("handle" = inline(IdentityHandle), Path, description = "The identity's handle"),
        ("id" = inline(EventId), Path, description = "The event's id"),
    ),
    responses(
        (status = 200, description = "The redacted event", body = Envelope),
        (status = 400, description = "Invalid handle or event id", body = ErrorBody),
        (status = 404, description = "No such identity or event (or not this key's)", body = ErrorBody),
        AdminKey,
    ),
    security(("apiKey" = [])),
)]
pub async fn redact(
    auth: Auth,
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path((handle, id)) =
        path.map_err(|rejection| ApiError::bad_request("invalid_path", rejection.body_text()))?;
    let handle = IdentityHandle::parse(&handle)
        .map_err(|error| ApiError::bad_request("invalid_handle", error.to_string()))?;
    let id: EventId = id.parse().map_err(|error: crate::id::InvalidId| {
        ApiError::bad_request("invalid_id", error.to_string())
    })?;
    auth.require_identity(Scope::Admin, &handle)?;
    let identity = state.log.resolve(auth.tenant(), &handle).await?;
    let event = state.log.redact(identity, id, state.clock.now()).await?;
    Ok(axum::Json(Envelope::new(&event, &handle)).into_response())
}
