//! Taking data out of a log on request: erasing an identity (its events, deliveries,
//! attempts and bound keys), and redacting one event's data.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::{EventLog, LogError};
use crate::domain::event::StoredEvent;
use crate::domain::identity::{IdentityHandle, IdentityKey};
use crate::domain::retention::REMOVAL_BATCH;
use crate::id::{ApiKeyId, EventId, TenantId};

/// How long an erasure request removes rows itself before leaving the rest to the sweep.
const ERASE_INLINE: Duration = Duration::from_secs(5);

impl EventLog {
    /// Erases the identity: from this moment it is 404 everywhere and its bound keys are
    /// gone; its rows are removed in bounded steps, here while the request lasts and by the
    /// sweep after that (which also resumes an erasure a crash cut short). Answers the
    /// bound keys it deleted, for the keyring to forget.
    pub async fn erase(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
        now: DateTime<Utc>,
    ) -> Result<Vec<ApiKeyId>, LogError> {
        let erased = self
            .store
            .erase_identity(tenant, handle, now)
            .await?
            .ok_or(LogError::UnknownIdentity)?;
        // Held reads re-read and find it gone. Other processes' held reads find out when
        // their wait ends; those holding one of its bound keys, at once.
        self.wakeups.wake(erased.identity);
        let deadline = Instant::now() + ERASE_INLINE;
        while Instant::now() < deadline {
            let swept = self
                .store
                .sweep_identity(erased.identity, None, REMOVAL_BATCH)
                .await?;
            self.metrics.events_removed.increment(swept.events);
            if !swept.more {
                break;
            }
        }
        Ok(erased.keys)
    }

    /// Replaces one event's data with `{"redacted": true}`, keeping its id, seq and type.
    /// Idempotent: redacting it again answers it as it is.
    pub async fn redact(
        &self,
        identity: IdentityKey,
        id: EventId,
        now: DateTime<Utc>,
    ) -> Result<StoredEvent, LogError> {
        self.store
            .redact_event(identity, id, now)
            .await?
            .ok_or(LogError::UnknownEvent)
    }
}
