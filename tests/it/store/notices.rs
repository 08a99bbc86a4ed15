//! `Notices`: the listener reports that it listens, and hears revoked keys and moved heads
//! from every process sharing the database (on the embedded store, from this one).

use std::sync::Arc;
use std::time::Duration;

use seqhook::domain::cursor::Seq;
use seqhook::store::{Notice, NoticeSink, Store};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Fixture, open};
use crate::support::MULTI_PROCESS;

struct Heard(mpsc::UnboundedSender<Notice>);

impl NoticeSink for Heard {
    fn notice(&self, notice: Notice) {
        let _ = self.0.send(notice);
    }
}

/// Starts `store`'s listener; its notices arrive on the receiver, the first being
/// `Listening`.
async fn listen(
    store: &Arc<dyn Store>,
    shutdown: &CancellationToken,
) -> mpsc::UnboundedReceiver<Notice> {
    let (sender, mut heard) = mpsc::unbounded_channel();
    let (store, stop) = (store.clone(), shutdown.clone());
    tokio::spawn(async move { store.listen(Arc::new(Heard(sender)), stop).await });
    assert!(matches!(next(&mut heard).await, Notice::Listening));
    heard
}

async fn next(heard: &mut mpsc::UnboundedReceiver<Notice>) -> Notice {
    tokio::time::timeout(Duration::from_secs(30), heard.recv())
        .await
        .expect("a notice within 30 s")
        .expect("listener alive")
}

#[tokio::test]
async fn a_revoked_key_is_heard_by_every_process_on_the_database() {
    let fx = Fixture::new().await;
    let shutdown = CancellationToken::new();
    // On PostgreSQL the listener is another process's; the embedded store has only one.
    let listener = if MULTI_PROCESS {
        open(&fx.db).await
    } else {
        fx.store.clone()
    };
    let mut heard = listen(&listener, &shutdown).await;
    let key = fx.tenant.key.id;
    assert!(
        fx.store
            .revoke_api_key(fx.tenant.tenant.id, key)
            .await
            .unwrap()
    );
    match next(&mut heard).await {
        Notice::KeyRevoked(revoked) => assert_eq!(revoked, key),
        other => panic!("expected the revocation, heard {other:?}"),
    }
    shutdown.cancel();
    if MULTI_PROCESS {
        listener.close().await;
    }
    fx.finish().await;
}

#[tokio::test]
async fn moved_heads_published_by_one_process_are_heard_by_another() {
    if !MULTI_PROCESS {
        return; // the embedded store's appends wake this process's waiters directly
    }
    let fx = Fixture::new().await;
    let shutdown = CancellationToken::new();
    let other = open(&fx.db).await;
    let mut heard = listen(&other, &shutdown).await;
    let heads = [(fx.alice.key, Seq(7))];
    fx.store.publish_heads(&heads, true).await.unwrap();
    match next(&mut heard).await {
        Notice::Appended {
            heads: moved,
            deliveries_due,
        } => {
            assert_eq!(moved, heads);
            assert!(deliveries_due);
        }
        other => panic!("expected the heads, heard {other:?}"),
    }
    shutdown.cancel();
    other.close().await;
    fx.finish().await;
}
