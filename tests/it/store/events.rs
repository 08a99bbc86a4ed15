//! `EventStore`: appends, reads and look-ups, and what an append writes to the outbox.

use std::collections::HashMap;

use chrono::Utc;
use seqhook::domain::cursor::Seq;
use seqhook::domain::event::{EventType, NewEvent};
use seqhook::domain::identity::IdentityKey;
use seqhook::store::{AppendLease, AppendRequest, ReadRequest, StoreError};

use super::{Fixture, after, event, open};

fn read(identity: IdentityKey, since: i64, limit: u32) -> ReadRequest<'static> {
    ReadRequest {
        identity,
        since: Seq(since),
        limit,
        types: None,
        scan_window: 1_000,
    }
}

fn seqs(events: &[seqhook::domain::event::StoredEvent]) -> Vec<i64> {
    events.iter().map(|event| event.seq.0).collect()
}

#[tokio::test]
async fn a_group_append_numbers_each_request_contiguously_and_reads_back_in_one_snapshot() {
    let fx = Fixture::new().await;
    let bob = fx.identity("bob").await;
    let first: Vec<NewEvent> = ["email.sent", "email.opened"].map(event).into();
    let second = [event("email.replied")];
    let third = [event("email.sent")];
    let requests = [
        AppendRequest {
            identity: fx.alice.key,
            events: &first,
        },
        AppendRequest {
            identity: bob.key,
            events: &third,
        },
        AppendRequest {
            identity: fx.alice.key,
            events: &second,
        },
    ];
    let appended = fx.store.append_events(&requests, None).await.unwrap();
    assert_eq!(appended.events.len(), 3, "one answer per request, in order");
    assert_eq!(seqs(&appended.events[0]), [1, 2]);
    assert_eq!(seqs(&appended.events[1]), [1], "each identity counts alone");
    assert_eq!(seqs(&appended.events[2]), [3]);
    assert!(appended.leased.is_empty() && !appended.deliveries_due);

    let page = fx
        .store
        .read_events(read(fx.alice.key, 0, 10))
        .await
        .unwrap();
    assert_eq!(seqs(&page.events), [1, 2, 3]);
    assert_eq!((page.cursor, page.head), (Seq(3), Seq(3)));
    assert_eq!(page.events[2].id, second[0].id);
    assert_eq!(page.events[0].data.get(), r#"{"n":1}"#, "data as sent");
    assert_eq!(
        page.events[0].created_at, appended.events[0][0].created_at,
        "the append's answer and the read agree to the stored precision"
    );

    let middle = fx
        .store
        .read_events(read(fx.alice.key, 1, 1))
        .await
        .unwrap();
    assert_eq!(seqs(&middle.events), [2]);
    assert_eq!(middle.cursor, Seq(2), "a full page stops at its last event");
    let empty = fx
        .store
        .read_events(read(fx.alice.key, 3, 0))
        .await
        .unwrap();
    assert!(empty.events.is_empty());
    assert_eq!((empty.cursor, empty.head), (Seq(3), Seq(3)));
    fx.finish().await;
}

#[tokio::test]
async fn a_filtered_read_skips_other_types_and_stops_at_its_scan_window() {
    let fx = Fixture::new().await;
    fx.append(
        &fx.alice,
        &[
            "email.sent",
            "email.opened",
            "email.sent",
            "email.opened",
            "email.replied",
        ],
    )
    .await;
    let replied = [EventType::parse("email.replied").unwrap()];
    let sent = [EventType::parse("email.sent").unwrap()];

    let whole = ReadRequest {
        types: Some(&sent),
        ..read(fx.alice.key, 0, 10)
    };
    let page = fx.store.read_events(whole).await.unwrap();
    assert_eq!(seqs(&page.events), [1, 3]);
    assert_eq!(
        page.cursor,
        Seq(5),
        "a short page looked at everything to the head"
    );

    let narrow = ReadRequest {
        types: Some(&replied),
        scan_window: 2,
        ..read(fx.alice.key, 0, 10)
    };
    let page = fx.store.read_events(narrow).await.unwrap();
    assert!(page.events.is_empty(), "seq 5 is past the window");
    assert_eq!(page.cursor, Seq(2), "the cursor moves to the window's end");
    assert_eq!(page.head, Seq(5));
    fx.finish().await;
}

#[tokio::test]
async fn reading_an_identity_that_does_not_exist_fails_as_gone() {
    let fx = Fixture::new().await;
    let missing = fx
        .store
        .read_events(read(IdentityKey(i64::MAX), 0, 10))
        .await;
    assert!(matches!(missing, Err(StoreError::IdentityGone)));
    fx.finish().await;
}

#[tokio::test]
async fn parallel_appends_to_shared_identities_get_gap_free_contiguous_seqs() {
    let fx = Fixture::new().await;
    let bob = fx.identity("bob").await;
    let writers = 8;
    let appends = 12;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let store = fx.store.clone();
        let (alice, bob) = (fx.alice.key, bob.key);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for n in 0..appends {
                let identity = if (writer + n) % 2 == 0 { alice } else { bob };
                let events: Vec<NewEvent> = ["email.sent"; 3].map(event).into();
                let request = AppendRequest {
                    identity,
                    events: &events,
                };
                let appended = store.append_events(&[request], None).await.unwrap();
                got.push((identity, seqs(&appended.events[0])));
            }
            got
        }));
    }
    let mut by_identity: HashMap<IdentityKey, Vec<i64>> = HashMap::new();
    for task in tasks {
        for (identity, seqs) in task.await.unwrap() {
            assert!(
                seqs.windows(2).all(|pair| pair[1] == pair[0] + 1),
                "one request's events are contiguous: {seqs:?}"
            );
            by_identity.entry(identity).or_default().extend(seqs);
        }
    }
    let total: usize = by_identity.values().map(Vec::len).sum();
    assert_eq!(total, writers * appends * 3);
    for (identity, mut numbered) in by_identity {
        numbered.sort_unstable();
        let expected: Vec<i64> = (1..=numbered.len() as i64).collect();
        assert_eq!(numbered, expected, "no gap and no seq twice");
        let page = fx
            .store
            .read_events(read(identity, 0, 1_000))
            .await
            .unwrap();
        assert_eq!(page.head.0, expected.len() as i64);
        assert_eq!(seqs(&page.events), expected, "read back as numbered");
    }
    fx.finish().await;
}

#[tokio::test]
async fn an_event_id_is_found_in_any_log_and_a_second_append_of_it_writes_nothing() {
    let fx = Fixture::new().await;
    let bob = fx.identity("bob").await;
    let stored = fx.append(&fx.alice, &["email.sent"]).await;
    let found = fx.store.find_events(&[stored[0].id]).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, fx.alice.key);
    assert_eq!(found[0].1.seq, Seq(1));

    let again = [seqhook::domain::event::NewEvent {
        id: stored[0].id,
        ..event("email.sent")
    }];
    let duplicate = fx
        .store
        .append_events(
            &[AppendRequest {
                identity: bob.key,
                events: &again,
            }],
            None,
        )
        .await;
    assert!(matches!(duplicate, Err(StoreError::DuplicateEventId)));
    let page = fx.store.read_events(read(bob.key, 0, 10)).await.unwrap();
    assert_eq!(page.head, Seq(0), "the failed append moved no head");
    fx.finish().await;
}

#[tokio::test]
async fn an_append_leases_only_what_its_lease_allows_and_writes_the_rest_due() {
    let fx = Fixture::new().await;
    let plain = fx.webhook(|_| {}).await;
    let other = fx.webhook(|_| {}).await;
    let ordered = fx.webhook(|webhook| webhook.ordered = true).await;
    let saturated = fx.webhook(|_| {}).await;
    let inactive = fx.webhook(|webhook| webhook.active = false).await;
    let events: Vec<NewEvent> = ["email.sent"; 3].map(event).into();
    let now = Utc::now();
    let lease = AppendLease {
        now,
        until: after(now, 3_600),
        room: vec![(saturated.id, 0), (other.id, 1)],
        default_room: 2,
        budget: 3,
    };
    let request = AppendRequest {
        identity: fx.alice.key,
        events: &events,
    };
    let appended = fx
        .store
        .append_events(&[request], Some(&lease))
        .await
        .unwrap();

    // 3 events × 5 webhooks. Leasable: only `plain` and `other` (active, unordered, with
    // room), `plain` up to the default room of 2 and `other` up to its own room of 1.
    let leased = &appended.leased;
    for (webhook, room) in [(&plain, 2), (&other, 1)] {
        let of_webhook: Vec<_> = leased
            .iter()
            .filter(|d| d.webhook_id == webhook.id)
            .collect();
        assert_eq!(of_webhook.len(), room, "as many as the webhook's room");
        assert!(of_webhook.iter().all(|d| d.url == webhook.url));
        let first_seqs: Vec<i64> = of_webhook.iter().map(|d| d.event.seq.0).collect();
        assert_eq!(
            first_seqs,
            (1..=room as i64).collect::<Vec<_>>(),
            "oldest first"
        );
    }
    assert_eq!(leased.len(), 3);
    for delivery in leased {
        assert!(
            ![ordered.id, saturated.id, inactive.id].contains(&delivery.webhook_id),
            "an ordered, inactive or roomless webhook's deliveries are left to the claims"
        );
        assert_eq!(delivery.attempt, 1);
        assert_eq!(delivery.identity, fx.alice.handle);
        assert_eq!(
            delivery.secrets.len(),
            1,
            "the webhook's signing secret comes along"
        );
        assert_eq!(
            appended.events[0][delivery.event.seq.0 as usize - 1].id,
            delivery.event.id,
            "a leased delivery carries its event as appended"
        );
    }
    assert!(
        appended.deliveries_due,
        "the rest are due, for a claim to pick up"
    );

    // A claim now finds the rest due, but not what the append leased. Its clock is read after
    // the append: the deliveries were written due at the append's own time, a little after
    // `now`.
    let claimed = super::outbox::claim_all(fx.store.as_ref(), Utc::now()).await;
    let leased_ids: Vec<_> = leased.iter().map(|d| d.id).collect();
    assert!(claimed.iter().all(|d| !leased_ids.contains(&d.id)));
    let active_due = 3 * 3 - 3; // plain, other, saturated: 9 deliveries, 3 leased
    let ordered_due = 1; // an ordered webhook's identity goes one at a time
    assert_eq!(claimed.len(), active_due + ordered_due);

    // One more event: the budget caps what is leased in all.
    let one_more = [event("email.sent")];
    let again = AppendRequest {
        identity: fx.alice.key,
        events: &one_more,
    };
    let capped = AppendLease { budget: 1, ..lease };
    let appended = fx
        .store
        .append_events(&[again], Some(&capped))
        .await
        .unwrap();
    assert_eq!(appended.leased.len(), 1);
    fx.finish().await;
}

#[tokio::test]
async fn a_store_opened_twice_on_one_database_sees_one_log() {
    let fx = Fixture::new().await;
    let second = open(&fx.db).await;
    fx.append(&fx.alice, &["email.sent"]).await;
    let page = second.read_events(read(fx.alice.key, 0, 10)).await.unwrap();
    assert_eq!(seqs(&page.events), [1]);
    second.close().await;
    fx.finish().await;
}
