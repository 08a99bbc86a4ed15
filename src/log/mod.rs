//! THE EVENT LOG: the rules of appending and reading, with no HTTP and no SQL.
//!
//! An append is validated here (types, schemas, idempotent ids), committed by the
//! `appender` in a group transaction, then announced: `wakeups` for this process's waiters
//! and `broadcast` for other processes. A pull arms a waiter before it reads, so it cannot
//! miss an append that commits after its read.

mod append;
pub mod appender;
pub mod broadcast;
pub mod catalog;
pub mod erasure;
pub mod hooks;
mod identities;
pub mod schema;
pub mod wakeups;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use serde_json::value::RawValue;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::activity::Activity;
use crate::domain::cursor::Seq;
use crate::domain::event::{EventType, NewEvent, StoredEvent};
use crate::domain::identity::{IdentityHandle, IdentityKey};
use crate::domain::page::Page;
use crate::id::{EventId, TenantId};
use crate::metrics::Metrics;
use crate::store::{ReadRequest, Store, StoreError};
use appender::Appender;
use catalog::Catalog;
use schema::SchemaViolation;
use wakeups::Wakeups;

/// How far past `since` a `types`-filtered read may look for matches before it answers
/// with what it found and a cursor past the non-matching rest.
const FILTERED_SCAN_WINDOW: i64 = 10_000;
/// An identity's row is never deleted (an erased one stays, to continue its seqs if its
/// handle comes back), so a resolved handle keeps its key; the store refuses an erased one.
/// The cap only bounds memory.
const IDENTITY_CACHE_CAP: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("no such identity")]
    UnknownIdentity,
    #[error("unknown event type `{event_type}`")]
    UnknownEventType { pointer: String, event_type: String },
    #[error("`{pointer}` is not valid event data: {reason}")]
    InvalidData { pointer: String, reason: String },
    #[error("event data does not match its schema at {}", .0[0].pointer)]
    SchemaViolations(Vec<SchemaViolation>),
    #[error("event id {id} is already used by a different event")]
    EventIdConflict { id: EventId },
    #[error("the database did not acknowledge the append's commit")]
    OutcomeUnknown { ids: Vec<EventId> },
    #[error("the service is shutting down")]
    Stopped,
    #[error("`since` is past the identity's head ({})", head.0)]
    SinceBeyondHead { head: Seq },
    #[error("the log no longer holds the events after `since`; it starts at {}", earliest.0)]
    CursorExpired { earliest: Seq },
    #[error("no such event")]
    UnknownEvent,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An event as a client sent it, before it is checked.
pub struct EventDraft {
    pub id: Option<EventId>,
    pub event_type: String,
    pub data: Box<RawValue>,
}

pub struct Appended {
    pub events: Vec<StoredEvent>,
    /// False when every event was already in the log (an idempotent re-send).
    pub created: bool,
    /// How many were new to the log.
    pub new: usize,
}

pub struct PullRequest {
    pub since: Seq,
    pub limit: u32,
    pub types: Option<Vec<EventType>>,
    pub wait: Duration,
}

pub struct EventLog {
    store: Arc<dyn Store>,
    appender: Appender,
    wakeups: Arc<Wakeups>,
    catalog: Catalog,
    identities: Mutex<HashMap<(TenantId, IdentityHandle), IdentityKey>>,
    metrics: Arc<Metrics>,
    activity: Arc<Activity>,
    shutdown: CancellationToken,
    /// How long an append whose commit went unacknowledged keeps trying to learn whether
    /// it committed before answering `OutcomeUnknown`.
    outcome_wait: Duration,
}

impl EventLog {
    pub fn new(
        store: Arc<dyn Store>,
        appender: Appender,
        wakeups: Arc<Wakeups>,
        metrics: Arc<Metrics>,
        activity: Arc<Activity>,
        shutdown: CancellationToken,
        outcome_wait: Duration,
    ) -> Self {
        Self {
            catalog: Catalog::new(Arc::clone(&store)),
            store,
            appender,
            wakeups,
            metrics,
            activity,
            identities: Mutex::default(),
            shutdown,
            outcome_wait,
        }
    }

    pub fn wakeups(&self) -> &Arc<Wakeups> {
        &self.wakeups
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Resolves a handle to the store's key; unknown handles are `UnknownIdentity`.
    pub async fn resolve(
        &self,
        tenant: TenantId,
        handle: &IdentityHandle,
    ) -> Result<IdentityKey, LogError> {
        let cache_key = (tenant, handle.clone());
        if let Some(key) = self
            .identities
            .lock()
            .expect("identity cache lock")
            .get(&cache_key)
        {
            return Ok(*key);
        }
        let identity = self
            .store
            .find_identity(tenant, handle)
            .await?
            .ok_or(LogError::UnknownIdentity)?;
        let mut cache = self.identities.lock().expect("identity cache lock");
        if cache.len() >= IDENTITY_CACHE_CAP {
            cache.clear();
        }
        cache.insert(cache_key, identity.key);
        Ok(identity.key)
    }

    /// Checks each draft's type and data; `at` gives each draft's JSON pointer in the
    /// request body, so errors name fields as the client sent them.
    pub async fn check(
        &self,
        tenant: TenantId,
        drafts: Vec<(String, EventDraft)>,
    ) -> Result<Vec<NewEvent>, LogError> {
        let mut events = Vec::with_capacity(drafts.len());
        let mut violations = Vec::new();
        for (at, draft) in drafts {
            let unknown = || LogError::UnknownEventType {
                pointer: format!("{at}/type"),
                event_type: draft.event_type.clone(),
            };
            let event_type = EventType::parse(&draft.event_type).map_err(|_| unknown())?;
            let schema = self
                .catalog
                .schema(tenant, &event_type)
                .await?
                .ok_or_else(unknown)?;
            // The body parser only checked `data`'s syntax: it passes nesting deeper than a
            // value may have, lone surrogate escapes and numbers out of range, which only a
            // full parse refuses.
            let data: Value = match serde_json::from_str(draft.data.get()) {
                Ok(data @ Value::Object(_)) => data,
                Ok(_) => {
                    return Err(LogError::InvalidData {
                        pointer: format!("{at}/data"),
                        reason: "must be a JSON object".into(),
                    });
                }
                Err(error) => {
                    return Err(LogError::InvalidData {
                        pointer: format!("{at}/data"),
                        reason: error.to_string(),
                    });
                }
            };
            violations.extend(schema.violations(&data, &format!("{at}/data")));
            events.push(NewEvent {
                id: draft.id.unwrap_or_else(EventId::generate),
                client_id: draft.id.is_some(),
                event_type,
                data: draft.data,
            });
        }
        if !violations.is_empty() {
            return Err(LogError::SchemaViolations(violations));
        }
        Ok(events)
    }

    /// The identity's head: where a stream asked for new events only begins.
    pub async fn head(&self, identity: IdentityKey) -> Result<Seq, LogError> {
        let page = self
            .store
            .read_events(ReadRequest {
                identity,
                since: Seq::ZERO,
                limit: 0,
                types: None,
                scan_window: i64::MAX,
            })
            .await?;
        Ok(page.head)
    }

    /// True once shutdown has begun: held reads have been answered and streams end.
    pub fn is_stopping(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Reads a page after `since`; with `wait`, holds the request (holding no database
    /// connection) until a matching event lands, `wait` elapses, or the server shuts down.
    pub async fn pull(
        &self,
        identity: IdentityKey,
        request: PullRequest,
    ) -> Result<Page, LogError> {
        let deadline = Instant::now() + request.wait;
        let holding = !request.wait.is_zero();
        let scan_window = if request.types.is_some() {
            FILTERED_SCAN_WINDOW
        } else {
            i64::MAX
        };
        let mut since = request.since;
        let mut first_read = true;
        loop {
            let mut waiter = holding.then(|| self.wakeups.arm(identity));
            let page = self
                .store
                .read_events(ReadRequest {
                    identity,
                    since,
                    limit: request.limit,
                    types: request.types.as_deref(),
                    scan_window,
                })
                .await?;
            if first_read && since > page.head {
                return Err(LogError::SinceBeyondHead { head: page.head });
            }
            // Checked on every read, as a held read's events may expire while it waits.
            if page.skips_expired(since) {
                return Err(LogError::CursorExpired {
                    earliest: page.earliest,
                });
            }
            first_read = false;
            let Some(waiter) = waiter.as_mut() else {
                return Ok(page);
            };
            if !page.events.is_empty() || page.has_more() {
                return Ok(page);
            }
            // Nothing (matching) up to the head: hold, and resume past what was examined.
            since = page.cursor;
            tokio::select! {
                _ = waiter.changed() => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(page),
                _ = self.shutdown.cancelled() => return Ok(page),
            }
        }
    }
}
