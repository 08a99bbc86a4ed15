//! Tells other processes which heads moved, after commit and coalesced: while one
//! `pg_notify` is in flight, every head that moves meanwhile is merged into the next one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::cursor::Seq;
use super::identity::IdentityKey;
use crate::store::Store;

#[derive(Default)]
pub struct HeadBroadcast {
    pending: Mutex<HashMap<IdentityKey, Seq>>,
    ready: Notify,
}

impl HeadBroadcast {
    pub fn enqueue(&self, heads: &[(IdentityKey, Seq)]) {
        let mut pending = self.pending.lock().expect("broadcast lock");
        for &(identity, head) in heads {
            let known = pending.entry(identity).or_default();
            *known = (*known).max(head);
        }
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
            let heads: Vec<(IdentityKey, Seq)> = self
                .pending
                .lock()
                .expect("broadcast lock")
                .drain()
                .collect();
            if !heads.is_empty() {
                // A lost broadcast delays other processes' waiters until their next wake-up
                // or re-read; it never loses an event, so it is logged, not retried.
                if let Err(error) = store.publish_heads(&heads).await {
                    tracing::warn!(%error, "could not broadcast new heads");
                }
            }
            if stopping {
                return;
            }
        }
    }
}
