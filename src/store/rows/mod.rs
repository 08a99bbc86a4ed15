//! Rows as both backends' statements return them: each backend selects these columns under
//! these names, the row types decode them by name (`events`, `records`, `outbox`), and the
//! conversions turn them into domain types. A stored value that does not parse fails the
//! read and names its column: no row is skipped, and nothing is parsed again later.

pub mod activity;
mod events;
mod outbox;
mod records;
mod sources;

use std::sync::{Arc, LazyLock};

use sqlx::error::BoxDynError;

use crate::domain::dialect::SignatureDialect;
use crate::domain::identity::IdentityHandle;
use crate::domain::secret::SigningSecret;
use crate::domain::target::WebhookUrl;
pub use events::{EventRow, LocatedEventRow, PageRow};
pub use outbox::{AttemptRow, ClaimedRow, DeliveryRow, Destination, deliveries};
pub use records::{ApiKeyRow, EventTypeRow, IdentityRow, TenantRetentionRow, WebhookRow, scopes};
pub use sources::{RefusalRow, SourceRow};

/// A stored value parsed into its domain type, or a failed read naming the column.
pub(super) fn parsed<T, E: Into<BoxDynError>>(
    column: &str,
    parsed: Result<T, E>,
) -> Result<T, sqlx::Error> {
    parsed.map_err(|error| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: error.into(),
    })
}

pub fn handle(column: &str, text: &str) -> Result<IdentityHandle, sqlx::Error> {
    parsed(column, IdentityHandle::parse(text))
}

pub(super) fn count(column: &str, stored: i32) -> Result<u32, sqlx::Error> {
    parsed(column, u32::try_from(stored))
}

/// A stored webhook URL. It was screened when registered; the sender screens the address
/// it resolves to on every connect.
pub(super) fn webhook_url(text: &str) -> Result<WebhookUrl, sqlx::Error> {
    parsed("url", reqwest::Url::parse(text)).map(WebhookUrl::trusted)
}

/// Stored signing secrets, in the order read.
pub fn signing_secrets(texts: &[String]) -> Result<Vec<SigningSecret>, sqlx::Error> {
    texts
        .iter()
        .map(|text| parsed("secret", SigningSecret::parse(text)))
        .collect()
}

/// A stored signature dialect; none is the default, shared rather than built per delivery.
pub fn dialect(stored: Option<&str>) -> Result<Arc<SignatureDialect>, sqlx::Error> {
    static STANDARD: LazyLock<Arc<SignatureDialect>> =
        LazyLock::new(|| Arc::new(SignatureDialect::standard_webhooks()));
    match stored {
        None => Ok(Arc::clone(&STANDARD)),
        Some(text) => {
            parsed("signature_dialect", SignatureDialect::from_stored(text)).map(Arc::new)
        }
    }
}

/// Rows decoded into the domain type they hold.
pub fn decoded<R, T: TryFrom<R, Error = sqlx::Error>>(rows: Vec<R>) -> Result<Vec<T>, sqlx::Error> {
    rows.into_iter().map(T::try_from).collect()
}
