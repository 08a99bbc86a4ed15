//! Notices within one process: no other process shares an embedded database, so there is
//! nothing to publish, and the only notices are those this process makes itself.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::SqliteStore;
use crate::domain::cursor::Seq;
use crate::domain::identity::IdentityKey;
use crate::store::{Notice, NoticeSink, Notices, StoreResult};

#[async_trait]
impl Notices for SqliteStore {
    /// Nothing to do: the app wakes this process's waiters after every commit.
    async fn publish_heads(
        &self,
        _heads: &[(IdentityKey, Seq)],
        _deliveries_due: bool,
    ) -> StoreResult<()> {
        Ok(())
    }

    /// There is nothing to listen to; the sink is kept for the notices this process makes
    /// itself, until `shutdown`.
    async fn listen(&self, sink: Arc<dyn NoticeSink>, shutdown: CancellationToken) {
        *self.sink.lock().expect("sink lock") = Some(sink.clone());
        sink.notice(Notice::Listening);
        shutdown.cancelled().await;
        *self.sink.lock().expect("sink lock") = None;
    }
}

impl SqliteStore {
    pub(super) fn notify(&self, notice: Notice) {
        let sink = self.sink.lock().expect("sink lock").clone();
        if let Some(sink) = sink {
            sink.notice(notice);
        }
    }
}
