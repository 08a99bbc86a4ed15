//! Extractors that answer bad input in the API's own error format: a JSON body with no
//! unknown fields, query strings, identity handles in paths, and the caller's key.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::state::AppState;
use std::sync::Arc;

use crate::domain::identity::IdentityHandle;
use crate::domain::key::{ApiKey, KeyHash, Scope};
use crate::id::TenantId;
use crate::tenancy::keyring::{KeyWatch, Keyring};

/// A JSON body. Malformed JSON, wrong types and unknown fields (the body types deny them)
/// are 400; a body over the limit is 413.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// A body that may be empty or `null`: `PUT` of a resource that takes no fields.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        // `null` says "no fields" as plainly as an empty body does.
        parse_json::<Option<T>>(&bytes).map(OptionalJson)
    }
}

/// The whole body, within the size limit and the body deadline: a client that announces a
/// body and sends it slowly, or never, is answered 408 rather than holding the request.
async fn read_body(request: Request, state: &AppState) -> Result<Bytes, ApiError> {
    tokio::time::timeout(
        state.settings.body_timeout,
        Bytes::from_request(request, state),
    )
    .await
    .map_err(|_| ApiError::BodyTimeout)?
    .map_err(body_rejection)
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::BodyTooLarge
    } else {
        ApiError::bad_request("invalid_body", rejection.body_text())
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|error| {
        let code = if error.is_syntax() || error.is_eof() {
            "invalid_json"
        } else {
            "invalid_body"
        };
        ApiError::bad_request(code, error.to_string())
    })
}

/// Query parameters; anything that does not parse (a negative `since`, a `limit` past
/// `u32`) is 400.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| QueryParams(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::bad_request("invalid_query", rejection.body_text())
            })
    }
}

/// A handle (or another key) from a query string. A `+` not percent-encoded arrives as a
/// space, and no key holds a space, so it is read back as the `+` it was: a client may
/// paste `after=bob+1@example.com` as it is.
pub fn unplussed(raw: &str) -> std::borrow::Cow<'_, str> {
    if raw.contains(' ') {
        raw.replace(' ', "+").into()
    } else {
        raw.into()
    }
}

/// The `{handle}` of an identity route, already validated. Percent-decoding happens first,
/// so `..%2Fx` is refused like `../x`.
pub struct Handle(pub IdentityHandle);

impl<S: Send + Sync> FromRequestParts<S> for Handle {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection: PathRejection| {
                ApiError::bad_request("invalid_handle", rejection.body_text())
            })?;
        IdentityHandle::parse(&raw)
            .map(Handle)
            .map_err(|error| ApiError::bad_request("invalid_handle", error.to_string()))
    }
}

/// The caller's live API key, the hash it was presented as, and the keyring's generation
/// when it was checked.
pub struct Auth(pub ApiKey, KeyHash, u64);

impl Auth {
    /// Watches this key for its revocation since it was checked, for a request that
    /// outlives the check.
    pub fn watch(&self, keyring: &Arc<Keyring>) -> KeyWatch {
        keyring.watch(&self.0, self.1, self.2)
    }

    /// The tenant the key belongs to: every record a request reaches is this tenant's.
    pub fn tenant(&self) -> TenantId {
        self.0.tenant_id
    }

    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.0.has_scope(scope) {
            Ok(())
        } else {
            Err(ApiError::MissingScope(scope))
        }
    }

    /// Scope check plus identity binding: a key bound to another identity sees a 404,
    /// exactly as if the identity did not exist.
    pub fn require_identity(&self, scope: Scope, handle: &IdentityHandle) -> Result<(), ApiError> {
        if !self.0.reaches(handle) {
            return Err(ApiError::NotFound("identity"));
        }
        self.require(scope)
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = bearer(parts).ok_or(ApiError::Unauthenticated)?;
        let hash = KeyHash::of(presented);
        // Read first: a revocation landing during the check moves it, and a watch started
        // from it looks again.
        let generation = state.keyring.generation();
        match state.keyring.authenticate_hash(hash).await? {
            Some(key) => Ok(Auth(key, hash, generation)),
            None => Err(ApiError::Unauthenticated),
        }
    }
}

/// The operator, holding `SEQHOOK_ADMIN_TOKEN`.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = bearer(parts).ok_or(ApiError::Unauthenticated)?;
        if state.settings.admin_token.matches(&KeyHash::of(presented)) {
            Ok(Operator)
        } else {
            Err(ApiError::Unauthenticated)
        }
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    bearer_token(&parts.headers).or_else(|| websocket_bearer(&parts.headers))
}

/// A browser's WebSocket cannot set `Authorization`, so an upgrade may carry the key as a
/// subprotocol instead: `Sec-WebSocket-Protocol: seqhook, bearer.<key>`.
fn websocket_bearer(headers: &HeaderMap) -> Option<&str> {
    let upgrade = headers.get(axum::http::header::UPGRADE)?.to_str().ok()?;
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return None;
    }
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|protocol| protocol.trim().strip_prefix("bearer."))
        .filter(|token| !token.is_empty())
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}
