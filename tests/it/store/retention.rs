//! `RetentionStore`: sweeps in bounded steps that a crash can cut anywhere, erasures whose
//! rows go in steps too, redaction.

use chrono::Utc;
use seqhook::domain::cursor::Seq;
use seqhook::domain::identity::IdentityHandle;
use seqhook::domain::retention::Retention;
use seqhook::id::EventId;
use seqhook::store::{ReadRequest, StoreError};

use super::outbox::every;
use super::{Fixture, open};

fn everything(identity: seqhook::domain::identity::IdentityKey) -> ReadRequest<'static> {
    ReadRequest {
        identity,
        since: Seq(0),
        limit: 100,
        types: None,
        scan_window: i64::MAX,
    }
}

#[tokio::test]
async fn a_sweep_cut_off_half_way_leaves_a_consistent_log_and_another_process_finishes_it() {
    let fx = Fixture::new().await;
    let webhook = fx.webhook(|_| {}).await;
    let old = fx.append(&fx.alice, &["email.sent"; 5]).await;
    // The new events are stamped in a later millisecond than the old ones.
    super::past(old[4].created_at).await;
    let new = fx.append(&fx.alice, &["email.sent"; 2]).await;
    let cutoff = new[0].created_at;
    let tenant = fx.tenant.tenant.id;

    let expired = fx
        .store
        .expired_identities(tenant, cutoff, 10)
        .await
        .unwrap();
    assert_eq!(expired, [fx.alice.key]);
    let step = fx
        .store
        .sweep_identities(&[fx.alice.key], Some(cutoff), 2)
        .await
        .unwrap();
    assert_eq!((step.events, step.more), (2, true));

    // The process stops here. What it committed is whole: the log starts at seq 3, the
    // deliveries of seqs 1 and 2 went with them, and the rest is as it was.
    fx.store.close().await;
    let store = open(&fx.db).await;
    let page = store.read_events(everything(fx.alice.key)).await.unwrap();
    assert_eq!(page.earliest, Seq(3));
    let held: Vec<i64> = page.events.iter().map(|event| event.seq.0).collect();
    assert_eq!(held, [3, 4, 5, 6, 7]);
    let deliveries = store
        .list_deliveries(every(tenant, webhook.id))
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 5);
    assert!(deliveries.iter().all(|delivery| delivery.seq.0 >= 3));

    // Another process finds the log again through the index, and finishes.
    let expired = store.expired_identities(tenant, cutoff, 10).await.unwrap();
    assert_eq!(expired, [fx.alice.key]);
    let step = store
        .sweep_identities(&[fx.alice.key], Some(cutoff), 100)
        .await
        .unwrap();
    assert_eq!((step.events, step.more), (3, false));
    assert!(
        store
            .expired_identities(tenant, cutoff, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing older than the cutoff is held"
    );
    let page = store.read_events(everything(fx.alice.key)).await.unwrap();
    assert_eq!(page.earliest, Seq(6));
    let old_ids: Vec<EventId> = old.iter().map(|event| event.id).collect();
    assert!(store.find_events(&old_ids).await.unwrap().is_empty());
    assert_eq!(
        store.oldest_event_at().await.unwrap(),
        Some(new[0].created_at)
    );
    store.close().await;
    fx.db.drop().await;
}

#[tokio::test]
async fn an_erasure_is_unreadable_at_once_and_its_rows_go_in_steps_that_resume() {
    let fx = Fixture::new().await;
    let webhook = fx.webhook(|_| {}).await;
    let bob = fx.identity("bob").await;
    let erased_events = fx.append(&fx.alice, &["email.sent"; 5]).await;
    fx.append(&bob, &["email.sent"]).await;
    let tenant = fx.tenant.tenant.id;
    let alice = IdentityHandle::parse("alice").unwrap();

    let erased = fx
        .store
        .erase_identity(tenant, &alice, Utc::now())
        .await
        .unwrap()
        .expect("alice was there");
    assert_eq!(erased.identity, fx.alice.key);
    assert_eq!(erased.head, Seq(5));
    assert!(matches!(
        fx.store.read_events(everything(fx.alice.key)).await,
        Err(StoreError::IdentityGone)
    ));
    assert!(
        fx.store
            .find_identity(tenant, &alice)
            .await
            .unwrap()
            .is_none()
    );
    let events = [super::event("email.sent")];
    let append = seqhook::store::AppendRequest {
        identity: fx.alice.key,
        events: &events,
    };
    assert!(matches!(
        fx.store.append_events(&[append], None).await,
        Err(StoreError::IdentityGone)
    ));
    assert!(
        fx.store
            .erase_identity(tenant, &alice, Utc::now())
            .await
            .unwrap()
            .is_none(),
        "erased once"
    );

    // One step, then the process stops; the next one finds what is left and removes it.
    let step = fx
        .store
        .sweep_identities(&[fx.alice.key], None, 2)
        .await
        .unwrap();
    assert_eq!((step.events, step.more), (2, true));
    fx.store.close().await;
    let store = open(&fx.db).await;
    assert_eq!(store.unpurged_identities(10).await.unwrap(), [fx.alice.key]);
    while store
        .sweep_identities(&[fx.alice.key], None, 2)
        .await
        .unwrap()
        .more
    {}
    assert!(store.unpurged_identities(10).await.unwrap().is_empty());
    let ids: Vec<EventId> = erased_events.iter().map(|event| event.id).collect();
    assert!(
        store.find_events(&ids).await.unwrap().is_empty(),
        "no event left"
    );
    let deliveries = store
        .list_deliveries(every(tenant, webhook.id))
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1, "bob's alone");
    assert_eq!(deliveries[0].identity.as_str(), "bob");

    // The handle comes back on its old counter.
    let (again, created) = store.create_identity(tenant, &alice).await.unwrap();
    assert!(created);
    assert_eq!(again.head_seq, Seq(5));
    assert_eq!(again.earliest_seq, Seq(6));
    let request = seqhook::store::AppendRequest {
        identity: again.key,
        events: &events,
    };
    let appended = store.append_events(&[request], None).await.unwrap();
    assert_eq!(appended.events[0][0].seq, Seq(6));
    store.close().await;
    fx.db.drop().await;
}

#[tokio::test]
async fn an_erased_identity_fails_only_its_own_request_in_a_group_append() {
    let fx = Fixture::new().await;
    let bob = fx.identity("bob").await;
    let tenant = fx.tenant.tenant.id;
    let alice = IdentityHandle::parse("alice").unwrap();
    fx.store
        .erase_identity(tenant, &alice, Utc::now())
        .await
        .unwrap()
        .unwrap();
    let events = [super::event("email.sent")];
    let group = [
        seqhook::store::AppendRequest {
            identity: bob.key,
            events: &events,
        },
        seqhook::store::AppendRequest {
            identity: fx.alice.key,
            events: &events,
        },
    ];
    assert!(matches!(
        fx.store.append_events(&group, None).await,
        Err(StoreError::IdentityGone)
    ));
    let page = fx.store.read_events(everything(bob.key)).await.unwrap();
    assert_eq!(page.head, Seq(0), "the whole group rolled back");
    fx.finish().await;
}

#[tokio::test]
async fn a_redaction_keeps_id_seq_and_type_and_its_first_time() {
    let fx = Fixture::new().await;
    let appended = fx.append(&fx.alice, &["email.sent", "email.opened"]).await;
    let first = Utc::now();
    let redacted = fx
        .store
        .redact_event(fx.alice.key, appended[1].id, first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(redacted.id, appended[1].id);
    assert_eq!(redacted.seq, Seq(2));
    assert_eq!(redacted.event_type, "email.opened");
    assert_eq!(redacted.data.get(), r#"{"redacted":true}"#);
    let at = redacted.redacted_at.expect("redacted");
    let again = fx
        .store
        .redact_event(
            fx.alice.key,
            appended[1].id,
            first + chrono::Duration::hours(1),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.redacted_at, Some(at));
    let page = fx
        .store
        .read_events(everything(fx.alice.key))
        .await
        .unwrap();
    assert_eq!(page.events[0].redacted_at, None);
    assert_eq!(page.events[1].redacted_at, Some(at));
    assert_eq!(page.events[1].data.get(), r#"{"redacted":true}"#);

    let bob = fx.identity("bob").await;
    assert!(
        fx.store
            .redact_event(bob.key, appended[0].id, first)
            .await
            .unwrap()
            .is_none(),
        "another log's event is not this one's to redact"
    );
    fx.finish().await;
}

#[tokio::test]
async fn a_tenants_retention_is_stored_as_set() {
    let fx = Fixture::new().await;
    let tenant = fx.tenant.tenant.id;
    let of = |retentions: Vec<(seqhook::id::TenantId, Option<Retention>)>| {
        retentions
            .into_iter()
            .find(|(id, _)| *id == tenant)
            .map(|(_, retention)| retention)
    };
    assert_eq!(of(fx.store.tenant_retentions().await.unwrap()), Some(None));
    for retention in [
        Some(Retention::parse("30d").unwrap()),
        Some(Retention::Forever),
        None,
    ] {
        assert!(
            fx.store
                .set_tenant_retention(tenant, retention)
                .await
                .unwrap()
        );
        assert_eq!(
            of(fx.store.tenant_retentions().await.unwrap()),
            Some(retention)
        );
    }
    let stranger = seqhook::id::TenantId::generate();
    assert!(!fx.store.set_tenant_retention(stranger, None).await.unwrap());
    fx.finish().await;
}

#[tokio::test]
async fn a_step_shares_its_budget_among_the_logs() {
    let fx = Fixture::new().await;
    let bob = fx.identity("bob").await;
    let carol = fx.identity("carol").await;
    fx.append(&fx.alice, &["email.sent"; 3]).await;
    let bobs = fx.append(&bob, &["email.sent"; 3]).await;
    super::past(bobs[2].created_at).await;
    let kept = fx.append(&carol, &["email.sent"]).await;
    let cutoff = kept[0].created_at;
    let logs = [carol.key, bob.key, fx.alice.key];

    // The budget is shared evenly among the logs: 4 over three is one event each.
    let mut steps = Vec::new();
    loop {
        let step = fx
            .store
            .sweep_identities(&logs, Some(cutoff), 4)
            .await
            .unwrap();
        steps.push(step.events);
        if !step.more {
            break;
        }
    }
    assert_eq!(steps, [2, 2, 2], "one event of each expired log a step");
    for (identity, earliest) in [(fx.alice.key, 4), (bob.key, 4), (carol.key, 1)] {
        let page = fx.store.read_events(everything(identity)).await.unwrap();
        assert_eq!(page.earliest, Seq(earliest));
    }
    fx.finish().await;
}
