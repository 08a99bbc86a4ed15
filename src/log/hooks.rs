//! What the appender tells its neighbours, as interfaces the log defines and they
//! implement: a commit's news (`AfterCommit`: this process's waiters, other processes), and
//! where the deliveries it writes go (`DeliveryLeases`: this process's delivery workers).
//! The log depends on these, never on the parts behind them.

use async_trait::async_trait;

use crate::domain::cursor::Seq;
use crate::domain::identity::IdentityKey;
use crate::store::{AppendLease, ClaimedDelivery};

/// What a commit changed.
pub struct Committed<'a> {
    /// Every identity's new head.
    pub heads: &'a [(IdentityKey, Seq)],
    /// Whether it wrote deliveries due for a claim (rather than leased, or none): only then
    /// need delivery workers elsewhere look.
    pub deliveries_due: bool,
}

/// Told of every commit, right after it.
pub trait AfterCommit: Send + Sync + 'static {
    fn committed(&self, committed: &Committed<'_>);
}

/// This process's delivery workers, as the appender sees them.
pub trait DeliveryLeases: Send + Sync + 'static {
    /// Room for the deliveries an append of `events` events may write already leased to
    /// this process. `None` leases nothing: they are written due, for a claim.
    fn reserve(&self, events: usize) -> Option<Box<dyn LeaseReservation>>;

    /// Deliveries were written due: the claims should look.
    fn deliveries_due(&self);
}

/// Room held for one append's leased deliveries, given back when dropped, whether the
/// append used it, failed or never ran.
#[async_trait]
pub trait LeaseReservation: Send {
    /// What the append may lease, for the store.
    fn lease(&self) -> &AppendLease;

    /// Starts sending what the append wrote leased, and gives back the room it did not
    /// use. `deliveries_due`: it also wrote deliveries for a claim.
    async fn adopt(self: Box<Self>, leased: Vec<ClaimedDelivery>, deliveries_due: bool);
}
