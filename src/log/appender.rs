//! Group commit for appends. Concurrent requests are queued to a few writers, sharded by
//! identity; each writer commits whatever has queued up while its previous commit ran, in
//! one transaction. Under load that turns N commits into one, and it is what lets 64
//! clients appending to ONE identity beat the one-lock-per-transaction limit: their events
//! share a single counter bump instead of queueing on the row lock one by one.
//!
//! Each group may also write its webhook deliveries already leased to this process's
//! delivery workers, which start sending them the moment the group commits: no claim, and
//! no wait for one, between an append and its webhooks.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use super::hooks::{AfterCommit, Committed, DeliveryLeases};
use crate::domain::cursor::Seq;
use crate::domain::event::{NewEvent, StoredEvent};
use crate::domain::identity::IdentityKey;
use crate::store::{AppendRequest, Store, StoreError, StoreResult};

/// Caps one group's statement; a single request (≤ 1,000 events) always fits.
const MAX_GROUP_EVENTS: usize = 5_000;
const QUEUE_PER_WRITER: usize = 1_024;

/// Everyone told of a commit, in order.
#[derive(Clone)]
struct Announcers(Arc<[Arc<dyn AfterCommit>]>);

impl Announcers {
    fn announce(&self, committed: Committed<'_>) {
        for announcer in self.0.iter() {
            announcer.committed(&committed);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writers have stopped: the process is shutting down.
    #[error("the appender has stopped")]
    Stopped,
}

struct Job {
    identity: IdentityKey,
    events: Vec<NewEvent>,
    reply: oneshot::Sender<StoreResult<Vec<StoredEvent>>>,
}

pub struct Appender {
    writers: Vec<mpsc::Sender<Job>>,
    announcers: Announcers,
    deliveries: Arc<dyn DeliveryLeases>,
}

impl Appender {
    /// Starts `writers` writer tasks. They run until the `Appender` is dropped, after
    /// committing everything already queued. `announcers` are told of every commit, in
    /// order; `deliveries` are the workers to hand each group's deliveries to.
    pub fn start(
        store: Arc<dyn Store>,
        announcers: Vec<Arc<dyn AfterCommit>>,
        deliveries: Arc<dyn DeliveryLeases>,
        writers: usize,
        tracker: &TaskTracker,
    ) -> Self {
        let announcers = Announcers(announcers.into());
        let writers = (0..writers.max(1))
            .map(|_| {
                let (sender, receiver) = mpsc::channel(QUEUE_PER_WRITER);
                tracker.spawn(write_loop(
                    Arc::clone(&store),
                    receiver,
                    announcers.clone(),
                    Arc::clone(&deliveries),
                ));
                sender
            })
            .collect();
        Self {
            writers,
            announcers,
            deliveries,
        }
    }

    /// Tells this process's waiters, other processes and the delivery workers of heads that
    /// moved through a commit whose acknowledgement was lost, once it is known to have
    /// happened: the writer never saw it succeed, so it announced nothing.
    pub fn announce(&self, heads: &[(IdentityKey, Seq)]) {
        // What the commit wrote is unknown, so workers everywhere look.
        self.announcers.announce(Committed {
            heads,
            deliveries_due: true,
        });
        self.deliveries.deliveries_due();
    }

    /// Appends `events` to one identity, atomically, and answers once they are committed.
    pub async fn append(
        &self,
        identity: IdentityKey,
        events: Vec<NewEvent>,
    ) -> Result<Vec<StoredEvent>, AppendError> {
        // One identity always goes to the same writer: its appends never race each other
        // for the row lock, and they batch together.
        let writer = &self.writers[identity.0.rem_euclid(self.writers.len() as i64) as usize];
        let (reply, answer) = oneshot::channel();
        writer
            .send(Job {
                identity,
                events,
                reply,
            })
            .await
            .map_err(|_| AppendError::Stopped)?;
        Ok(answer.await.map_err(|_| AppendError::Stopped)??)
    }
}

async fn write_loop(
    store: Arc<dyn Store>,
    mut queue: mpsc::Receiver<Job>,
    announcers: Announcers,
    deliveries: Arc<dyn DeliveryLeases>,
) {
    let mut group = Vec::new();
    while let Some(first) = queue.recv().await {
        let mut events = first.events.len();
        group.push(first);
        while events < MAX_GROUP_EVENTS {
            match queue.try_recv() {
                Ok(job) => {
                    events += job.events.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        commit(store.as_ref(), &mut group, &announcers, deliveries.as_ref()).await;
    }
}

async fn commit(
    store: &dyn Store,
    group: &mut Vec<Job>,
    announcers: &Announcers,
    deliveries: &dyn DeliveryLeases,
) {
    let requests: Vec<AppendRequest<'_>> = group
        .iter()
        .map(|job| AppendRequest {
            identity: job.identity,
            events: &job.events,
        })
        .collect();
    let events = requests.iter().map(|request| request.events.len()).sum();
    let reservation = deliveries.reserve(events);
    let lease = reservation.as_ref().map(|reservation| reservation.lease());
    match store.append_events(&requests, lease).await {
        Ok(appended) => {
            drop(requests);
            announcers.announce(Committed {
                heads: &heads(group.iter().map(|job| job.identity).zip(&appended.events)),
                deliveries_due: appended.deliveries_due,
            });
            match reservation {
                Some(reservation) => {
                    reservation
                        .adopt(appended.leased, appended.deliveries_due)
                        .await;
                }
                None if appended.deliveries_due => deliveries.deliveries_due(),
                None => {}
            }
            for (job, events) in group.drain(..).zip(appended.events) {
                let _ = job.reply.send(Ok(events));
            }
        }
        Err(StoreError::OutcomeUnknown(error)) => {
            drop((requests, reservation));
            // Committing anything again here could append it twice: each request finds
            // out by its ids whether it was committed (`EventLog::append`).
            for job in group.drain(..) {
                let _ = job
                    .reply
                    .send(Err(StoreError::OutcomeUnknown(Arc::clone(&error))));
            }
        }
        Err(error) if group.len() > 1 => {
            drop((requests, reservation));
            // One request's failure (say, an id another request took a moment ago) must not
            // fail its neighbours: commit each alone, so only the culprit gets the error.
            tracing::debug!(%error, jobs = group.len(), "group append failed; retrying one by one");
            for job in group.drain(..) {
                let request = [AppendRequest {
                    identity: job.identity,
                    events: &job.events,
                }];
                // Rare: every delivery is left to the claims.
                let result = store
                    .append_events(&request, None)
                    .await
                    .map(|mut appended| {
                        if appended.deliveries_due {
                            deliveries.deliveries_due();
                        }
                        (appended.events.remove(0), appended.deliveries_due)
                    });
                let result = result.map(|(events, deliveries_due)| {
                    announcers.announce(Committed {
                        heads: &heads([(job.identity, &events)]),
                        deliveries_due,
                    });
                    events
                });
                let _ = job.reply.send(result);
            }
        }
        Err(error) => {
            drop(requests);
            if let Some(job) = group.pop() {
                let _ = job.reply.send(Err(error));
            }
        }
    }
}

/// The new head of every identity in a committed group.
fn heads<'a>(
    appended: impl IntoIterator<Item = (IdentityKey, &'a Vec<StoredEvent>)>,
) -> Vec<(IdentityKey, Seq)> {
    let mut heads: HashMap<IdentityKey, Seq> = HashMap::new();
    for (identity, events) in appended {
        if let Some(last) = events.last() {
            let head = heads.entry(identity).or_default();
            *head = (*head).max(last.seq);
        }
    }
    heads.into_iter().collect()
}
