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
        // Held reads here re-read and find it gone. In other processes, a read held with one
        // of its bound keys ends at once (401); others answer their wait's end as usual, and
        // the next read is 404.
        self.wakeups.wake(erased.identity);
        let deadline = Instant::now() + ERASE_INLINE;
        while Instant::now() < deadline {
            let step = self
                .store
                .sweep_identities(&[erased.identity], None, REMOVAL_BATCH)
                .await;
            match step {
                Ok(swept) => {
                    self.metrics.events_removed.increment(swept.events);
                    if !swept.more {
                        break;
                    }
                }
                // The erasure is committed: what is left is the sweep's to remove.
                Err(error) => {
                    tracing::warn!(%error, "an erasure left its rows to the sweep");
                    break;
                }
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
