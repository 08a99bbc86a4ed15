//! Per-identity waiters for long-polls (and streams): in memory, holding no database
//! connection. A waiter is armed *before* its reader looks at the table, so an append that
//! commits after the read always wakes it; a spurious wake costs one re-read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::hooks::{AfterCommit, Committed};
use crate::domain::cursor::Seq;
use crate::domain::identity::IdentityKey;

const SHARDS: usize = 64;

/// The registry: one watch channel per identity that has waiters, carrying the highest head
/// this process has heard of. Sharded so 10,000 waiters do not contend on one lock.
pub struct Wakeups {
    shards: Vec<Mutex<HashMap<IdentityKey, watch::Sender<Seq>>>>,
    /// How many waiters are waiting (armed, read, found nothing): the held long-polls,
    /// observable without polling.
    holding: watch::Sender<usize>,
}

impl Default for Wakeups {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            holding: watch::channel(0).0,
        }
    }
}

impl Wakeups {
    fn shard(&self, identity: IdentityKey) -> &Mutex<HashMap<IdentityKey, watch::Sender<Seq>>> {
        &self.shards[identity.0.rem_euclid(SHARDS as i64) as usize]
    }

    /// Arms a waiter for `identity`. Read the table after this, then await `changed`.
    pub fn arm(self: &Arc<Self>, identity: IdentityKey) -> Waiter {
        let mut shard = self.shard(identity).lock().expect("wakeups lock");
        let sender = shard
            .entry(identity)
            .or_insert_with(|| watch::channel(Seq::ZERO).0);
        Waiter {
            receiver: Some(sender.subscribe()),
            identity,
            registry: Arc::clone(self),
            holding: false,
        }
    }

    /// Wakes the waiters of `identity` if `head` is news to this process.
    pub fn publish(&self, identity: IdentityKey, head: Seq) {
        let shard = self.shard(identity).lock().expect("wakeups lock");
        if let Some(sender) = shard.get(&identity) {
            sender.send_if_modified(|known| {
                let news = head > *known;
                if news {
                    *known = head;
                }
                news
            });
        }
    }

    /// Wakes the waiters of `identity` whatever its head: its log changed under them (it
    /// was erased), and they re-read.
    pub fn wake(&self, identity: IdentityKey) {
        let shard = self.shard(identity).lock().expect("wakeups lock");
        if let Some(sender) = shard.get(&identity) {
            sender.send_modify(|_| {});
        }
    }

    /// Wakes every waiter: after the listener reconnects, any notice may have been missed.
    pub fn wake_all(&self) {
        for shard in &self.shards {
            for sender in shard.lock().expect("wakeups lock").values() {
                sender.send_modify(|_| {});
            }
        }
    }

    /// The number of waiters holding (see `holding`), as it changes.
    pub fn holding(&self) -> watch::Receiver<usize> {
        self.holding.subscribe()
    }

    pub fn waiting_identities(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().expect("wakeups lock").len())
            .sum()
    }
}

/// A commit wakes this process's waiters of every identity it moved.
impl AfterCommit for Wakeups {
    fn committed(&self, committed: &Committed<'_>) {
        for &(identity, head) in committed.heads {
            self.publish(identity, head);
        }
    }
}

/// One armed waiter. Dropping the last waiter of an identity removes its entry.
pub struct Waiter {
    receiver: Option<watch::Receiver<Seq>>,
    identity: IdentityKey,
    registry: Arc<Wakeups>,
    holding: bool,
}

impl Waiter {
    /// Resolves once something may have been appended since the waiter was armed (or since
    /// the last `changed`).
    pub async fn changed(&mut self) {
        if !self.holding {
            self.holding = true;
            self.registry.holding.send_modify(|holding| *holding += 1);
        }
        let receiver = self.receiver.as_mut().expect("receiver lives until drop");
        // The sender lives in the registry while any receiver does, so this cannot fail;
        // if it ever did, waking is the safe answer.
        let _ = receiver.changed().await;
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut shard = self
            .registry
            .shard(self.identity)
            .lock()
            .expect("wakeups lock");
        drop(self.receiver.take());
        if shard
            .get(&self.identity)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            shard.remove(&self.identity);
        }
        if self.holding {
            self.registry.holding.send_modify(|holding| *holding -= 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_publish_after_arming_wakes_the_waiter() {
        let wakeups = Arc::new(Wakeups::default());
        let mut waiter = wakeups.arm(IdentityKey(7));
        wakeups.publish(IdentityKey(7), Seq(1));
        tokio::time::timeout(Duration::from_secs(5), waiter.changed())
            .await
            .expect("woken");
    }

    #[tokio::test]
    async fn a_stale_head_does_not_wake_and_other_identities_are_untouched() {
        let wakeups = Arc::new(Wakeups::default());
        let mut first = wakeups.arm(IdentityKey(1));
        wakeups.publish(IdentityKey(1), Seq(3));
        first.changed().await;
        wakeups.publish(IdentityKey(1), Seq(2));
        wakeups.publish(IdentityKey(2), Seq(9));
        assert!(
            first
                .receiver
                .as_mut()
                .unwrap()
                .has_changed()
                .is_ok_and(|changed| !changed)
        );
        wakeups.wake_all();
        assert!(first.receiver.as_mut().unwrap().has_changed().unwrap());
    }

    #[test]
    fn the_last_waiter_to_leave_removes_its_entry() {
        let wakeups = Arc::new(Wakeups::default());
        let a = wakeups.arm(IdentityKey(1));
        let b = wakeups.arm(IdentityKey(1));
        assert_eq!(wakeups.waiting_identities(), 1);
        drop(a);
        assert_eq!(wakeups.waiting_identities(), 1);
        drop(b);
        assert_eq!(wakeups.waiting_identities(), 0);
    }
}
