//! Appending to the log: client ids make a re-send idempotent, and every event carries its
//! id before it reaches the database, so an append whose commit was never acknowledged can
//! be settled by looking its ids up.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::appender::AppendError;
use super::{Appended, EventLog, LogError};
use crate::domain::event::{NewEvent, StoredEvent};
use crate::domain::identity::IdentityKey;
use crate::id::{EventId, TenantId};
use crate::store::StoreError;

/// Look-ups of taken ids before an append gives up on an id race (see `append`).
const ID_LOOKUPS: usize = 2;
/// The first pause between look-ups while the database is unreachable; it doubles.
const FIRST_PAUSE: Duration = Duration::from_millis(25);
const LONGEST_PAUSE: Duration = Duration::from_millis(500);

/// Whether an append whose acknowledgement was lost committed, as far as could be learned.
enum Settled {
    Committed(Vec<StoredEvent>),
    NotCommitted,
}

impl EventLog {
    /// Appends checked events to one identity, atomically. Events whose id is already in
    /// this identity's log with the same content are answered from the log, not appended
    /// again.
    pub async fn append(
        &self,
        tenant: TenantId,
        identity: IdentityKey,
        events: Vec<NewEvent>,
    ) -> Result<Appended, LogError> {
        // Looking the client ids up before every append would cost every append a query
        // for the rare re-send. So the first attempt assumes there is none; a taken id
        // fails the append (which writes nothing) and only then are the ids looked up. A
        // second look-up covers a concurrent request that took one of our ids between the
        // first and the commit.
        let mut earlier: HashMap<EventId, StoredEvent> = HashMap::new();
        let mut lookups = 0;
        loop {
            let fresh = not_in(&events, &earlier);
            if fresh.is_empty() {
                return in_request_order(&events, earlier, Vec::new(), false);
            }
            match self.appender.append(identity, fresh).await {
                Ok(appended) => {
                    self.count(tenant, appended.len());
                    return in_request_order(&events, earlier, appended, true);
                }
                Err(AppendError::Store(StoreError::DuplicateEventId)) if lookups < ID_LOOKUPS => {
                    lookups += 1;
                    earlier = self.already_appended(identity, &events, false).await?;
                }
                Err(AppendError::Store(StoreError::OutcomeUnknown(cause))) => {
                    tracing::warn!(error = %cause, "an append's commit was not acknowledged; looking its events up");
                    let deadline = Instant::now() + self.outcome_wait;
                    return self
                        .settle(tenant, identity, &events, earlier, deadline)
                        .await;
                }
                Err(AppendError::Store(error)) => return Err(error.into()),
                Err(AppendError::Stopped) => return Err(LogError::Stopped),
            }
        }
    }

    /// Counts events new to the log, as the metrics and the tenant's stats see them.
    fn count(&self, tenant: TenantId, appended: usize) {
        self.metrics.events_appended.increment(appended as u64);
        self.activity.appended(tenant, appended);
    }

    /// Finishes an append whose commit of the events not in `earlier` went unacknowledged,
    /// by `deadline`: finds
    /// out whether it committed, and if it did not, appends again under the same ids, which
    /// cannot append anything twice. Whatever stands in the way (the database still down,
    /// another lost acknowledgement) is tried again until `deadline`; then the answer is
    /// `OutcomeUnknown`, never a plain failure, since the lost commit may yet land.
    async fn settle(
        &self,
        tenant: TenantId,
        identity: IdentityKey,
        events: &[NewEvent],
        mut earlier: HashMap<EventId, StoredEvent>,
        deadline: Instant,
    ) -> Result<Appended, LogError> {
        let mut fresh = not_in(events, &earlier);
        let unknown = || LogError::OutcomeUnknown {
            ids: events.iter().map(|event| event.id).collect(),
        };
        // The client cannot tell an earlier try of its own from this one when every id was
        // its own, so such events found in the log answer 200, as a re-send does.
        let made_here = events.iter().any(|event| !event.client_id);
        let mut pause = FIRST_PAUSE;
        loop {
            match self.committed(identity, &fresh, deadline).await {
                Some(Settled::Committed(stored)) => {
                    if let Some(head) = stored.iter().map(|event| event.seq).max() {
                        self.appender.announce(&[(identity, head)]);
                    }
                    self.count(tenant, stored.len());
                    return in_request_order(events, earlier, stored, made_here);
                }
                Some(Settled::NotCommitted) => {}
                None => return Err(unknown()),
            }
            // Appended again under the same ids: should the lost commit still land, this
            // one fails on them (or waits for its row lock, then fails) instead.
            let again =
                tokio::time::timeout_at(deadline, self.appender.append(identity, fresh.clone()));
            match again.await {
                Ok(Ok(appended)) => {
                    self.count(tenant, appended.len());
                    return in_request_order(events, earlier, appended, true);
                }
                Ok(Err(AppendError::Store(StoreError::DuplicateEventId))) => {
                    let found = tokio::time::timeout_at(
                        deadline,
                        self.already_appended(identity, events, true),
                    );
                    earlier = match found.await {
                        Ok(Ok(found)) => found,
                        Ok(Err(conflict @ LogError::EventIdConflict { .. })) => {
                            return Err(conflict);
                        }
                        Ok(Err(_)) | Err(_) => return Err(unknown()),
                    };
                    fresh = not_in(events, &earlier);
                    if fresh.is_empty() {
                        return in_request_order(events, earlier, Vec::new(), made_here);
                    }
                }
                // The database refused or broke off again; the deadline bounds the tries.
                Ok(Err(_)) => {}
                Err(_) => return Err(unknown()),
            }
            if Instant::now() + pause >= deadline {
                return Err(unknown());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    }

    /// The events of `events` already in the log: those with client ids, and with
    /// `ours_too`, those whose server-made ids a lost commit may have written. An id held
    /// by a different event, or by another identity's log, is a conflict.
    async fn already_appended(
        &self,
        identity: IdentityKey,
        events: &[NewEvent],
        ours_too: bool,
    ) -> Result<HashMap<EventId, StoredEvent>, LogError> {
        let ids: Vec<EventId> = events
            .iter()
            .filter(|event| event.client_id || ours_too)
            .map(|event| event.id)
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let found = self.store.find_events(&ids).await?;
        let mut earlier = HashMap::with_capacity(found.len());
        for (owner, stored) in found {
            let same = events
                .iter()
                .find(|event| event.id == stored.id)
                .is_some_and(|new| stored.same_content_as(new));
            if owner != identity || !same {
                return Err(LogError::EventIdConflict { id: stored.id });
            }
            earlier.insert(stored.id, stored);
        }
        Ok(earlier)
    }

    /// Whether `fresh`, sent in a commit that was never acknowledged, is in the log: looked
    /// up by id until the database answers or `deadline` passes (`None`). One transaction
    /// commits all of its events or none, so finding them all means it committed; finding
    /// none means it did not (a transaction still running holds the identity's row lock, so
    /// the append made next waits for it and then fails on the ids if it committed).
    async fn committed(
        &self,
        identity: IdentityKey,
        fresh: &[NewEvent],
        deadline: Instant,
    ) -> Option<Settled> {
        let ids: Vec<EventId> = fresh.iter().map(|event| event.id).collect();
        let mut pause = FIRST_PAUSE;
        loop {
            let looked_up = tokio::time::timeout_at(deadline, self.store.find_events(&ids));
            match looked_up.await.ok()? {
                Ok(found) => {
                    let mut found: HashMap<EventId, StoredEvent> = found
                        .into_iter()
                        .filter(|(owner, _)| *owner == identity)
                        .map(|(_, event)| (event.id, event))
                        .collect();
                    let committed: Option<Vec<StoredEvent>> =
                        ids.iter().map(|id| found.remove(id)).collect();
                    // Anything in between (a client id someone else holds) is sorted out by
                    // appending again, which fails on the taken id and looks it up.
                    return Some(match committed {
                        Some(stored) => Settled::Committed(stored),
                        None => Settled::NotCommitted,
                    });
                }
                Err(error) => {
                    if Instant::now() + pause >= deadline {
                        tracing::warn!(%error, "could not learn whether an append committed");
                        return None;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LONGEST_PAUSE);
                }
            }
        }
    }
}

fn not_in(events: &[NewEvent], earlier: &HashMap<EventId, StoredEvent>) -> Vec<NewEvent> {
    events
        .iter()
        .filter(|event| !earlier.contains_key(&event.id))
        .cloned()
        .collect()
}

/// The answer to an append, in the request's order: events already in the log, and those
/// this request wrote. `created`: this request wrote some of them (perhaps through a commit
/// whose acknowledgement was lost).
fn in_request_order(
    events: &[NewEvent],
    mut earlier: HashMap<EventId, StoredEvent>,
    written: Vec<StoredEvent>,
    created: bool,
) -> Result<Appended, LogError> {
    let new = written.len();
    let mut written: HashMap<EventId, StoredEvent> =
        written.into_iter().map(|event| (event.id, event)).collect();
    let stored: Option<Vec<StoredEvent>> = events
        .iter()
        .map(|event| {
            earlier
                .remove(&event.id)
                .or_else(|| written.remove(&event.id))
        })
        .collect();
    match stored {
        Some(events) => Ok(Appended {
            events,
            created,
            new,
        }),
        None => Err(LogError::Store(StoreError::Database(
            sqlx::Error::Protocol("an append answered for events it was not given".into()),
        ))),
    }
}
