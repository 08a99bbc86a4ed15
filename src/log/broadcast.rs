//! Tells other processes which heads moved, after commit and coalesced: while one
//! `pg_notify` is in flight, every head that moves meanwhile is merged into the next one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::hooks::{AfterCommit, Committed};
use crate::domain::cursor::Seq;
use crate::domain::identity::IdentityKey;
use crate::store::Store;

#[derive(Default)]
pub struct HeadBroadcast {
    pending: Mutex<Pending>,
    ready: Notify,
}

#[derive(Default)]
struct Pending {
    heads: HashMap<IdentityKey, Seq>,
    /// Some commit among them wrote deliveries due for a claim.
    deliveries_due: bool,
}

/// A commit is told to other processes.
impl AfterCommit for HeadBroadcast {
    fn committed(&self, committed: &Committed<'_>) {
        self.enqueue(committed.heads, committed.deliveries_due);
    }
}

impl HeadBroadcast {
    pub fn enqueue(&self, heads: &[(IdentityKey, Seq)], deliveries_due: bool) {
        let mut pending = self.pending.lock().expect("broadcast lock");
        for &(identity, head) in heads {
            let known = pending.heads.entry(identity).or_default();
            *known = (*known).max(head);
        }
        pending.deliveries_due |= deliveries_due;
        drop(pending);
        self.ready.notify_one();
    }

    /// Sends pending heads until `shutdown`, then once more so the last appends are told.
    pub async fn run(self: Arc<Self>, store: Arc<dyn Store>, shutdown: CancellationToken) {
        loop {
            let stopping = tokio::select! {
                _ = self.ready.notified() => false,
                _ = shutdown.cancelled() => true,
            };
            let pending = std::mem::take(&mut *self.pending.lock().expect("broadcast lock"));
            let heads: Vec<(IdentityKey, Seq)> = pending.heads.into_iter().collect();
            if !heads.is_empty() {
                // A lost broadcast delays other processes' waiters until their next wake-up
                // or re-read; it never loses an event, so it is logged, not retried.
                if let Err(error) = store.publish_heads(&heads, pending.deliveries_due).await {
                    tracing::warn!(%error, "could not broadcast new heads");
                }
            }
            if stopping {
                return;
            }
        }
    }
}
