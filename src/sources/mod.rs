//! SOURCES: email providers' event webhooks pointed at seqhook. A tenant registers a source
//! and gets an ingest URL; a post to it is authenticated by the provider's own signature (or
//! basic auth), read into typed events on the identities it names, and appended through the
//! log — idempotent on the provider's event ids, so a provider's retry appends nothing twice.
//! A refused post changes nothing and is kept in the source's short log of refusals.

mod credentials;
mod inbound;
mod providers;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::domain::description::parse_description;
use crate::domain::identity::IdentityHandle;
use crate::domain::source::{IdentityFrom, Provider, Refusal, Source};
use crate::id::{SourceId, TenantId};
use crate::log::{EventDraft, EventLog, LogError};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
pub use inbound::Refused;
pub use providers::Post;

/// Refused posts kept per source.
pub const REFUSALS_KEPT: u32 = 100;
/// Refused posts logged per source and second, at most: anyone who knows an ingest URL can
/// post to it, and each logged refusal is a write.
const REFUSALS_LOGGED_PER_SECOND: u32 = 10;
/// How long a signed post's fingerprint is kept to refuse it sent again.
const RECEIPTS_KEPT: chrono::Duration = chrono::Duration::days(1);

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("no such source")]
    NotFound,
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// A post the source refuses; logged with the source.
    #[error("{}", .0.message)]
    Refused(Refused),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(code: &'static str, message: impl Into<String>) -> SourceError {
    SourceError::Invalid {
        code,
        message: message.into(),
    }
}

/// A source to register, as the client sent it.
pub struct SourceDraft {
    pub provider: String,
    pub secret: Option<String>,
    pub public_key: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub identity: Option<String>,
    pub description: Option<String>,
}

/// What the provider is given, shown once: credentials seqhook made up.
#[derive(Default)]
pub struct Issued {
    /// The HMAC secret of a generic source, when seqhook chose it.
    pub secret: Option<String>,
    /// Postmark's basic-auth credentials, which go into the ingest URL.
    pub basic_auth: Option<(String, String)>,
}

/// What an accepted post did.
pub struct Ingested {
    pub events: usize,
    /// Those new to the log; the rest were already there (a provider's retry).
    pub appended: usize,
}

pub struct Sources {
    store: Arc<dyn Store>,
    log: Arc<EventLog>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// Per source, the second being logged in and the refusals logged in it.
    logging: Mutex<HashMap<SourceId, (std::time::Instant, u32)>>,
}

impl Sources {
    pub fn new(
        store: Arc<dyn Store>,
        log: Arc<EventLog>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            log,
            clock,
            metrics,
            logging: Mutex::default(),
        }
    }

    pub async fn create(
        &self,
        tenant: TenantId,
        draft: SourceDraft,
    ) -> Result<(Source, Issued), SourceError> {
        let provider = Provider::parse(&draft.provider).ok_or_else(|| {
            invalid(
                "invalid_provider",
                format!(
                    "`{}` is not a provider: resend, sendgrid, mailgun, postmark or generic",
                    draft.provider
                ),
            )
        })?;
        let identity = IdentityFrom::parse(draft.identity.as_deref().unwrap_or("recipient"))
            .map_err(|error| invalid("invalid_identity", error.0))?;
        if identity == IdentityFrom::Sender && !provider.knows_sender() {
            return Err(invalid(
                "invalid_identity",
                format!(
                    "{} events do not say who sent the message: find the identity by `recipient` or a JSON pointer",
                    provider.as_str()
                ),
            ));
        }
        let (credential, issued) = credentials::credential(
            provider,
            draft.secret,
            draft.public_key,
            draft.username,
            draft.password,
        )?;
        let description = draft
            .description
            .map(parse_description)
            .transpose()
            .map_err(|error| invalid("invalid_description", error.to_string()))?
            .unwrap_or_default();
        let source = Source {
            id: SourceId::generate(),
            tenant_id: tenant,
            provider,
            credential,
            identity,
            description,
            created_at: self.clock.now(),
        };
        self.store.create_source(&source).await?;
        Ok((source, issued))
    }

    pub async fn list(
        &self,
        tenant: TenantId,
        after: Option<SourceId>,
        limit: u32,
    ) -> Result<Vec<Source>, SourceError> {
        Ok(self.store.list_sources(tenant, after, limit).await?)
    }

    pub async fn find(&self, tenant: TenantId, id: SourceId) -> Result<Source, SourceError> {
        self.store
            .find_source(Some(tenant), id)
            .await?
            .ok_or(SourceError::NotFound)
    }

    pub async fn delete(&self, tenant: TenantId, id: SourceId) -> Result<(), SourceError> {
        if self.store.delete_source(tenant, id).await? {
            Ok(())
        } else {
            Err(SourceError::NotFound)
        }
    }

    /// The source's refused posts, newest first.
    pub async fn refusals(
        &self,
        tenant: TenantId,
        id: SourceId,
    ) -> Result<Vec<Refusal>, SourceError> {
        let source = self.find(tenant, id).await?;
        Ok(self.store.refusals(source.id, REFUSALS_KEPT).await?)
    }

    /// Takes a provider's post: authenticated, read whole, then appended one atomic append
    /// per identity. A refused post appends nothing and is logged with its source.
    pub async fn ingest(&self, id: SourceId, post: &Post<'_>) -> Result<Ingested, SourceError> {
        let source = self
            .store
            .find_source(None, id)
            .await?
            .ok_or(SourceError::NotFound)?;
        match self.take(&source, post).await {
            Err(SourceError::Refused(refused)) => Err(self.refuse(&source, refused).await),
            taken => {
                self.metrics.source_post(taken.is_ok());
                taken
            }
        }
    }

    /// Logs a post refused before it could be read (too large, say) with its source.
    pub async fn refuse_unread(&self, id: SourceId, refused: Refused) -> SourceError {
        match self.store.find_source(None, id).await {
            Ok(Some(source)) => self.refuse(&source, refused).await,
            Ok(None) => SourceError::NotFound,
            Err(error) => error.into(),
        }
    }

    async fn refuse(&self, source: &Source, refused: Refused) -> SourceError {
        self.metrics.source_post(false);
        let refusal = Refusal {
            at: self.clock.now(),
            status: refused.status,
            code: refused.code.to_owned(),
            message: refused.message.clone(),
        };
        if !self.may_log(source.id) {
            return SourceError::Refused(refused);
        }
        // The post is refused either way; a log that cannot be written is not its fault.
        if let Err(error) = self
            .store
            .record_refusal(source.id, &refusal, REFUSALS_KEPT)
            .await
        {
            tracing::warn!(%error, source = %source.id, "a refused post could not be logged");
        }
        SourceError::Refused(refused)
    }

    /// Whether another refusal of this source may be logged this second.
    fn may_log(&self, source: SourceId) -> bool {
        let now = std::time::Instant::now();
        let mut logging = self.logging.lock().expect("refusal log lock");
        if logging.len() > 10_000 {
            logging.retain(|_, (since, _)| now.duration_since(*since).as_secs() < 1);
        }
        let (since, logged) = logging.entry(source).or_insert((now, 0));
        if now.duration_since(*since).as_secs() >= 1 {
            (*since, *logged) = (now, 0);
        }
        *logged += 1;
        *logged <= REFUSALS_LOGGED_PER_SECOND
    }

    async fn take(&self, source: &Source, post: &Post<'_>) -> Result<Ingested, SourceError> {
        let now = self.clock.now();
        let fingerprint =
            providers::authenticate(source, post, now).map_err(SourceError::Refused)?;
        // The signature is claimed before the post is read, so two copies of it racing each
        // other cannot both be taken, and one whose post was refused cannot carry another
        // body. Only a failure of the server's gives it back, for the provider's retry.
        if let Some(fingerprint) = &fingerprint {
            let claimed = self
                .store
                .claim_receipt(source.id, fingerprint, now, now - RECEIPTS_KEPT)
                .await?;
            if !claimed {
                return Err(SourceError::Refused(Refused {
                    status: 409,
                    code: "replayed_post",
                    message: "a post with this signature was already received".into(),
                }));
            }
        }
        let taken = self.append(source, post).await;
        if let (Err(SourceError::Log(_) | SourceError::Store(_)), Some(fingerprint)) =
            (&taken, &fingerprint)
        {
            if let Err(error) = self.store.release_receipt(source.id, fingerprint).await {
                tracing::warn!(%error, source = %source.id, "a failed post's signature stays claimed until it is stale");
            }
        }
        taken
    }

    /// Addresses are case-insensitive where handles are not: an address the provider wrote
    /// in other case finds an identity whose handle is the lower-case address.
    async fn known_handle(
        &self,
        source: &Source,
        handle: IdentityHandle,
    ) -> Result<IdentityHandle, SourceError> {
        let lower = handle.as_str().to_ascii_lowercase();
        if lower == handle.as_str() {
            return Ok(handle);
        }
        match self.log.resolve(source.tenant_id, &handle).await {
            Ok(_) => Ok(handle),
            Err(LogError::UnknownIdentity) => {
                Ok(IdentityHandle::parse(&lower).expect("lower case keeps a handle valid"))
            }
            Err(other) => Err(other.into()),
        }
    }

    async fn append(&self, source: &Source, post: &Post<'_>) -> Result<Ingested, SourceError> {
        let events = providers::events(source.provider, post).map_err(SourceError::Refused)?;
        // Everything is checked before anything is appended: a post that cannot be taken
        // whole changes nothing.
        let mut by_identity: BTreeMap<IdentityHandle, Vec<(String, EventDraft)>> = BTreeMap::new();
        let mut seen = HashSet::new();
        for (i, event) in events.iter().enumerate() {
            let id = event.event_id(source.id);
            // A batch may carry one event twice; it is one event.
            if !seen.insert(id) {
                continue;
            }
            let handle = event
                .identity(&source.identity)
                .map_err(SourceError::Refused)?;
            let handle = self.known_handle(source, handle).await?;
            let (event_type, data) = event.typed(&handle, source.provider, source.id);
            let draft = EventDraft {
                id: Some(id),
                event_type: event_type.to_owned(),
                data: serde_json::value::to_raw_value(&data).expect("event data serialises"),
            };
            by_identity
                .entry(handle)
                .or_default()
                .push((format!("/{i}"), draft));
        }
        let mut appends = Vec::with_capacity(by_identity.len());
        for (handle, drafts) in by_identity {
            let identity = match self.log.resolve(source.tenant_id, &handle).await {
                Err(LogError::UnknownIdentity) => {
                    return Err(SourceError::Refused(Refused::unmappable(format!(
                        "no identity `{handle}` in this tenant: create it first (PUT /v1/identities/{handle})"
                    ))));
                }
                resolved => resolved?,
            };
            let checked = self
                .log
                .check(source.tenant_id, drafts)
                .await
                .map_err(refused_by_log)?;
            appends.push((identity, checked));
        }
        let mut appended = 0;
        for (identity, events) in appends {
            let done = self
                .log
                .append(source.tenant_id, identity, events)
                .await
                .map_err(refused_by_log)?;
            appended += done.new;
        }
        Ok(Ingested {
            events: events.len(),
            appended,
        })
    }
}

/// The log's refusals of what a post would append are the post's refusals; its failures
/// (a database away, a shutdown) are the server's.
fn refused_by_log(error: LogError) -> SourceError {
    let refused = |status, code, message: String| {
        SourceError::Refused(Refused {
            status,
            code,
            message,
        })
    };
    match error {
        LogError::SchemaViolations(_)
        | LogError::InvalidData { .. }
        | LogError::UnknownEventType { .. } => refused(422, "unmappable_event", error.to_string()),
        LogError::EventIdConflict { .. } => refused(409, "event_id_conflict", error.to_string()),
        other => SourceError::Log(other),
    }
}
