//! The API's one error type and its one mapping to HTTP: every failure answers
//! `{"error": {"code", "message", "details"}}`. 5xx bodies say nothing of the cause, which
//! is logged once, here.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::domain::key::Scope;
use crate::log::LogError;
use crate::log::catalog::CatalogError;
use crate::sources::SourceError;
use crate::store::StoreError;
use crate::tenancy::keys::KeyError;
use crate::webhooks::WebhookError;

#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed; `code` says how.
    BadRequest {
        code: &'static str,
        message: String,
        details: Value,
    },
    Unauthenticated,
    MissingScope(Scope),
    /// 404, also for other tenants' and other identities' resources: no enumeration.
    NotFound(&'static str),
    Conflict {
        code: &'static str,
        message: String,
        details: Value,
    },
    BodyTooLarge,
    /// 410: the cursor asks for events the log no longer holds (expired or erased).
    CursorExpired {
        earliest: crate::domain::cursor::Seq,
    },
    Unprocessable {
        code: &'static str,
        message: String,
        details: Value,
    },
    Unavailable(StoreError),
    /// 503: an append may or may not have committed; retrying with these ids is safe.
    OutcomeUnknown(Vec<crate::id::EventId>),
    /// 408: the request body did not arrive in time.
    BodyTimeout,
    /// 503: the process is shutting down; another one will answer.
    ShuttingDown,
    /// An inbound source's refusal of a provider's post, with the status it chose.
    Refused(crate::sources::Refused),
    Internal(String),
}

/// The body of every error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: branch on this, not on `message`.
    #[schema(example = "invalid_handle")]
    code: &'static str,
    #[schema(example = "an identity handle may only contain A-Z a-z 0-9 . _ - + @")]
    message: String,
    /// Facts about this failure, such as the failing JSON `pointer` or the identity's `head`.
    #[schema(value_type = Object)]
    details: Value,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            details: json!({}),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, details) = match self {
            ApiError::BadRequest {
                code,
                message,
                details,
            } => (StatusCode::BAD_REQUEST, code, message, details),
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid `Authorization: Bearer <key>` header is required".into(),
                json!({}),
            ),
            ApiError::MissingScope(scope) => (
                StatusCode::FORBIDDEN,
                "missing_scope",
                format!("this key lacks the `{}` scope", scope.as_str()),
                json!({ "scope": scope.as_str() }),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no such {what}"),
                json!({}),
            ),
            ApiError::Conflict {
                code,
                message,
                details,
            } => (StatusCode::CONFLICT, code, message, details),
            ApiError::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is over the size limit".into(),
                json!({}),
            ),
            ApiError::CursorExpired { earliest } => (
                StatusCode::GONE,
                "cursor_expired",
                format!(
                    "the log no longer holds the events after this cursor; it starts at seq {}: \
                     resync, then read from `since={}`",
                    earliest.0,
                    earliest.0 - 1
                ),
                json!({ "earliestSeq": earliest }),
            ),
            ApiError::Unprocessable {
                code,
                message,
                details,
            } => (StatusCode::UNPROCESSABLE_ENTITY, code, message, details),
            ApiError::Unavailable(error) => {
                tracing::warn!(error = %error, source = ?std::error::Error::source(&error), "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service cannot reach its database; retry shortly".into(),
                    json!({}),
                )
            }
            ApiError::OutcomeUnknown(ids) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "outcome_unknown",
                "the database did not acknowledge this append, which may or may not have been \
                 committed; send it again with these event ids to make the retry safe"
                    .into(),
                json!({ "ids": ids }),
            ),
            ApiError::ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the server is shutting down; retry shortly".into(),
                json!({}),
            ),
            ApiError::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the request body did not arrive in time".into(),
                json!({}),
            ),
            ApiError::Refused(refused) => (
                StatusCode::from_u16(refused.status).unwrap_or(StatusCode::BAD_REQUEST),
                refused.code,
                refused.message,
                json!({}),
            ),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on our side".into(),
                    json!({}),
                )
            }
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                details,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) | StoreError::OutcomeUnknown(_) => {
                ApiError::Unavailable(error)
            }
            StoreError::Unstorable(source) => {
                tracing::warn!(error = %source, "the database refused a value the API let through");
                ApiError::bad_request(
                    "invalid_text",
                    "a text field holds a character that cannot be stored (NUL)",
                )
            }
            StoreError::IdentityGone => ApiError::NotFound("identity"),
            StoreError::DuplicateEventId => ApiError::Conflict {
                code: "event_id_conflict",
                message: "an event with this id is being appended concurrently; retry".into(),
                details: json!({}),
            },
            StoreError::Database(source) => ApiError::Internal(format!("{source:?}")),
        }
    }
}

impl From<LogError> for ApiError {
    fn from(error: LogError) -> Self {
        let message = error.to_string();
        match error {
            LogError::UnknownIdentity => ApiError::NotFound("identity"),
            LogError::UnknownEventType {
                pointer,
                event_type,
            } => ApiError::Unprocessable {
                code: "unknown_event_type",
                message,
                details: json!({ "pointer": pointer, "type": event_type }),
            },
            LogError::InvalidData { pointer, .. } => ApiError::BadRequest {
                code: "invalid_body",
                message,
                details: json!({ "pointer": pointer }),
            },
            LogError::SchemaViolations(violations) => ApiError::Unprocessable {
                code: "schema_violation",
                message,
                details: json!({ "pointer": violations[0].pointer, "errors": violations }),
            },
            LogError::EventIdConflict { id } => ApiError::Conflict {
                code: "event_id_conflict",
                message,
                details: json!({ "id": id }),
            },
            LogError::OutcomeUnknown { ids } => ApiError::OutcomeUnknown(ids),
            LogError::Stopped => ApiError::ShuttingDown,
            LogError::CursorExpired { earliest } => ApiError::CursorExpired { earliest },
            LogError::UnknownEvent => ApiError::NotFound("event"),
            LogError::SinceBeyondHead { head } => ApiError::BadRequest {
                code: "since_beyond_head",
                message,
                details: json!({ "head": head }),
            },
            LogError::Store(error) => error.into(),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::NotFound => ApiError::NotFound("webhook"),
            WebhookError::DeliveryNotFound => ApiError::NotFound("delivery"),
            WebhookError::IdentityNotFound => ApiError::NotFound("identity"),
            WebhookError::CursorExpired { earliest } => ApiError::CursorExpired { earliest },
            WebhookError::Invalid { code, message } => ApiError::bad_request(code, message),
            WebhookError::Store(error) => error.into(),
        }
    }
}

impl From<SourceError> for ApiError {
    fn from(error: SourceError) -> Self {
        match error {
            SourceError::NotFound => ApiError::NotFound("source"),
            SourceError::Invalid { code, message } => ApiError::bad_request(code, message),
            SourceError::Refused(refused) => ApiError::Refused(refused),
            SourceError::Log(error) => error.into(),
            SourceError::Store(error) => error.into(),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::Invalid(invalid) => {
                ApiError::bad_request(invalid.code(), invalid.to_string())
            }
            KeyError::NotFound => ApiError::NotFound("api key"),
            KeyError::Store(error) => error.into(),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> Self {
        let message = error.to_string();
        match error {
            CatalogError::InvalidName(_) => ApiError::bad_request("invalid_event_type", message),
            CatalogError::Reserved(_) => ApiError::Conflict {
                code: "event_type_reserved",
                message,
                details: json!({}),
            },
            CatalogError::InvalidDescription(_) => {
                ApiError::bad_request("invalid_description", message)
            }
            CatalogError::InvalidSchema(_) => ApiError::bad_request("invalid_schema", message),
            CatalogError::Store(error) => error.into(),
        }
    }
}
