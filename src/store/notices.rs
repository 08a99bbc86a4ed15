//! The store's contract for what processes sharing a database tell each other.

use async_trait::async_trait;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::StoreResult;
use crate::domain::cursor::Seq;
use crate::domain::identity::IdentityKey;
use crate::id::ApiKeyId;

/// What other processes sharing the database tell this one, through the listener.
#[derive(Debug)]
pub enum Notice {
    /// Identities whose head moved: waiters re-read; and whether deliveries were written
    /// due, for the delivery workers to claim.
    Appended {
        heads: Vec<(IdentityKey, Seq)>,
        deliveries_due: bool,
    },
    /// A key was revoked: forget any cached copy at once.
    KeyRevoked(ApiKeyId),
    /// The listener is (again) listening and may have missed notices: treat everything as
    /// changed.
    Listening,
    /// The listener lost its connection; it is reconnecting.
    Lost,
}

/// Hears what the listener hears.
pub trait NoticeSink: Send + Sync + 'static {
    fn notice(&self, notice: Notice);
}

/// Notices between processes: a hint that something changed, never the truth itself.
#[async_trait]
pub trait Notices: Send + Sync {
    /// Tells other processes that these heads moved, and whether deliveries are due.
    /// Called after commit, never inside.
    async fn publish_heads(
        &self,
        heads: &[(IdentityKey, Seq)],
        deliveries_due: bool,
    ) -> StoreResult<()>;
    /// Runs the process's one listener until `shutdown`, handing each notice to `sink`.
    async fn listen(&self, sink: Arc<dyn NoticeSink>, shutdown: CancellationToken);
}
