//! What a webhook may be: the checks a registration or a change passes before it is
//! stored, and the limits they hold it to.

use super::WebhookError;
use crate::domain::description::parse_description;
use crate::domain::dialect::SignatureDialect;
use crate::domain::identity::IdentityHandle;
use crate::domain::secret::SigningSecret;
use crate::domain::target::WebhookUrl;
use crate::domain::webhook::EventFilter;
use crate::store::WebhookPatch;

/// Deliveries per second, at most.
pub const MAX_RATE_LIMIT: u32 = 100_000;
/// A filter names at most this many identities.
pub const MAX_IDENTITIES: usize = 1_000;
/// How long a rotated-out secret keeps signing, unless the rotation says otherwise.
pub const DEFAULT_RETIRE_AFTER_SECS: u64 = 86_400;
/// And at most.
pub const MAX_RETIRE_AFTER_SECS: u64 = 30 * 86_400;

/// A webhook to register, as the client sent it.
pub struct WebhookDraft {
    pub url: String,
    pub events: Option<Vec<String>>,
    pub identities: Option<Vec<String>>,
    pub description: Option<String>,
    pub ordered: Option<bool>,
    pub rate_limit: Option<u32>,
    pub secret: Option<String>,
    /// A preset's name or a dialect's fields, as the client wrote it.
    pub dialect: Option<serde_json::Value>,
}

/// Changes to a webhook, as the client sent them: `None` leaves a field as it is; for the
/// fields that may be cleared, `Some(None)` clears it.
#[derive(Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Option<Vec<String>>>,
    pub identities: Option<Option<Vec<String>>>,
    pub description: Option<String>,
    pub ordered: Option<bool>,
    pub rate_limit: Option<Option<u32>>,
    /// `Some(None)` goes back to the default.
    pub dialect: Option<Option<serde_json::Value>>,
    pub active: Option<bool>,
}

impl WebhookChanges {
    pub(super) async fn check(self, allow_private: bool) -> Result<WebhookPatch, WebhookError> {
        Ok(WebhookPatch {
            url: match &self.url {
                Some(raw) => Some(url(raw, allow_private).await?),
                None => None,
            },
            events: self
                .events
                .as_ref()
                .map(|events| filter(events.as_deref()))
                .transpose()?,
            identities: self
                .identities
                .as_ref()
                .map(|handles| identities(handles.as_deref()))
                .transpose()?,
            description: self.description.map(description).transpose()?,
            ordered: self.ordered,
            rate_limit: self.rate_limit.map(rate_limit).transpose()?,
            signature_dialect: self
                .dialect
                .map(|chosen| Ok::<_, WebhookError>(dialect(chosen.as_ref())?.stored()))
                .transpose()?,
            active: self.active,
        })
    }
}

pub(super) async fn url(raw: &str, allow_private: bool) -> Result<WebhookUrl, WebhookError> {
    WebhookUrl::parse(raw, allow_private)
        .await
        .map_err(|error| WebhookError::invalid("invalid_url", error))
}

pub(super) fn filter(events: Option<&[String]>) -> Result<EventFilter, WebhookError> {
    EventFilter::parse(events).map_err(|error| WebhookError::invalid("invalid_events", error))
}

pub(super) fn identities(
    handles: Option<&[String]>,
) -> Result<Option<Vec<IdentityHandle>>, WebhookError> {
    let Some(handles) = handles else {
        return Ok(None);
    };
    if handles.is_empty() || handles.len() > MAX_IDENTITIES {
        return Err(WebhookError::invalid(
            "invalid_identities",
            format!("`identities` holds 1 to {MAX_IDENTITIES} handles; leave it out for all"),
        ));
    }
    handles
        .iter()
        .map(|handle| {
            IdentityHandle::parse(handle)
                .map_err(|error| WebhookError::invalid("invalid_identities", error))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

pub(super) fn description(text: String) -> Result<String, WebhookError> {
    parse_description(text).map_err(|error| WebhookError::invalid("invalid_description", error))
}

pub(super) fn rate_limit(limit: Option<u32>) -> Result<Option<u32>, WebhookError> {
    match limit {
        Some(limit) if limit == 0 || limit > MAX_RATE_LIMIT => Err(WebhookError::invalid(
            "invalid_rate_limit",
            "`rateLimit` is 1 to 100,000 deliveries per second",
        )),
        other => Ok(other),
    }
}

/// The dialect the client chose, or the default.
pub(super) fn dialect(
    chosen: Option<&serde_json::Value>,
) -> Result<SignatureDialect, WebhookError> {
    chosen
        .map(SignatureDialect::from_json)
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|error| WebhookError::invalid(error.code(), error))
}

/// The secret the client chose, or a new one.
pub(super) fn secret(chosen: Option<&str>) -> Result<SigningSecret, WebhookError> {
    match chosen {
        Some(secret) => SigningSecret::parse(secret)
            .map_err(|error| WebhookError::invalid("invalid_secret", error)),
        None => Ok(SigningSecret::generate()),
    }
}

/// How long rotated-out secrets keep signing.
pub(super) fn retire_after(seconds: Option<u64>) -> Result<chrono::Duration, WebhookError> {
    let seconds = seconds.unwrap_or(DEFAULT_RETIRE_AFTER_SECS);
    if seconds > MAX_RETIRE_AFTER_SECS {
        return Err(WebhookError::invalid(
            "invalid_expiry",
            "`expireOldAfterSecs` is at most 30 days",
        ));
    }
    Ok(chrono::Duration::seconds(seconds as i64))
}
