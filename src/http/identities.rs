//! `/v1/identities`: create (idempotent), show, list.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{Auth, Handle, OptionalJson, QueryParams};
use super::list::{List, ListQuery};
use super::state::AppState;
use crate::log::cursor::Seq;
use crate::log::identity::{Identity, IdentityHandle};
use crate::tenant::Scope;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityView {
    handle: IdentityHandle,
    head_seq: Seq,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Identity> for IdentityView {
    fn from(identity: Identity) -> Self {
        Self {
            handle: identity.handle,
            head_seq: identity.head_seq,
            created_at: identity.created_at,
        }
    }
}

/// `PUT` takes no fields; an empty body or `{}` both do.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateIdentity {}

pub async fn create(
    auth: Auth,
    State(state): State<AppState>,
    Handle(handle): Handle,
    OptionalJson(_): OptionalJson<CreateIdentity>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_identity(Scope::EventsWrite, &handle)?;
    let (identity, created) = state
        .store
        .create_identity(auth.0.tenant_id, &handle)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(IdentityView::from(identity))))
}

pub async fn show(
    auth: Auth,
    State(state): State<AppState>,
    Handle(handle): Handle,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_identity(Scope::EventsRead, &handle)?;
    let identity = state
        .store
        .find_identity(auth.0.tenant_id, &handle)
        .await?
        .ok_or(ApiError::NotFound("identity"))?;
    Ok(axum::Json(IdentityView::from(identity)))
}

pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::EventsRead)?;
    let limit = query.limit()?;
    let after = query.after(|handle| IdentityHandle::parse(handle).ok())?;
    let identities = match &auth.0.identity {
        // A bound key lists its own identity, if it exists, and nothing else.
        Some(own) => match state.store.find_identity(auth.0.tenant_id, own).await? {
            Some(identity) if after.as_ref().is_none_or(|after| after < own) => vec![identity],
            _ => Vec::new(),
        },
        None => {
            state
                .store
                .list_identities(auth.0.tenant_id, after.as_ref(), limit + 1)
                .await?
        }
    };
    let views = identities.into_iter().map(IdentityView::from).collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |view: &IdentityView| view.handle.to_string(),
    )))
}
