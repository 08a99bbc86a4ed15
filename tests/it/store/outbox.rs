//! `OutboxStore` and `DeliveryLog`: claims and their leases, attempts and what they do to a
//! delivery and its webhook, replays, and the event filter every backend applies.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use seqhook::domain::cursor::Seq;
use seqhook::domain::delivery::{Attempt, AttemptOutcome, DeliveryStatus};
use seqhook::domain::event::NewEvent;
use seqhook::domain::identity::IdentityHandle;
use seqhook::domain::webhook::EventFilter;
use seqhook::id::{DeliveryId, TenantId, WebhookId};
use seqhook::store::{
    AppendRequest, AttemptResult, ClaimRequest, ClaimedDelivery, DeliveryQuery, ReplayRequest,
    Store, Success,
};

use super::{Fixture, after, event, open};
use crate::support::MULTI_PROCESS;

/// A claim of up to `limit` due deliveries at `now`, leased for a minute, with room for
/// `room` of any one webhook.
async fn claim(
    store: &dyn Store,
    now: DateTime<Utc>,
    limit: u32,
    room: u32,
) -> Vec<ClaimedDelivery> {
    let claimed = store
        .claim_deliveries(ClaimRequest {
            now,
            lease_until: after(now, 60),
            limit,
            room: &[],
            default_room: room,
        })
        .await
        .unwrap();
    assert!(claimed.unsendable.is_empty());
    claimed.deliveries
}

/// Everything due at `now`.
pub async fn claim_all(store: &dyn Store, now: DateTime<Utc>) -> Vec<ClaimedDelivery> {
    claim(store, now, 1_000, 1_000).await
}

fn replay(
    tenant: TenantId,
    webhook: WebhookId,
    identity: &IdentityHandle,
    since: Seq,
    now: DateTime<Utc>,
) -> ReplayRequest<'_> {
    ReplayRequest {
        tenant,
        webhook,
        identity,
        since,
        now,
    }
}

/// A webhook's whole delivery log, up to 10.
pub fn every(tenant: TenantId, webhook: WebhookId) -> DeliveryQuery<'static> {
    DeliveryQuery {
        tenant,
        webhook,
        status: None,
        identity: None,
        after: None,
        limit: 10,
    }
}

fn attempt(at: DateTime<Utc>, status_code: Option<u16>) -> Attempt {
    Attempt {
        at,
        duration_ms: 12,
        status_code,
        error: status_code.is_none().then(|| "connection refused".into()),
        response_body: status_code.map(|_| "body".into()),
    }
}

async fn record(
    store: &dyn Store,
    delivery: &ClaimedDelivery,
    outcome: AttemptOutcome,
    at: DateTime<Utc>,
    disable_after_seconds: i64,
) {
    store
        .record_attempt(AttemptResult {
            delivery: delivery.id,
            webhook: delivery.webhook_id,
            attempt: delivery.attempt,
            record: &attempt(at, Some(500)),
            outcome,
            now: at,
            disable_after: chrono::Duration::seconds(disable_after_seconds),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_claim_takes_due_deliveries_once_and_its_lease_hides_them_until_it_ends() {
    let fx = Fixture::new().await;
    let webhook = fx.webhook(|_| {}).await;
    let appended = fx.append(&fx.alice, &["email.sent", "email.opened"]).await;
    let now = Utc::now();

    let claimed = claim_all(fx.store.as_ref(), now).await;
    assert_eq!(claimed.len(), 2);
    let first = &claimed[0];
    assert_eq!(first.webhook_id, webhook.id);
    assert_eq!(first.url, webhook.url);
    assert_eq!(first.attempt, 1);
    assert_eq!(first.identity, fx.alice.handle);
    assert_eq!(first.event.id, appended[0].id);
    assert_eq!(first.secrets.len(), 1);
    assert!(!first.ordered);

    assert!(
        claim_all(fx.store.as_ref(), after(now, 59))
            .await
            .is_empty(),
        "leased"
    );
    let again = claim_all(fx.store.as_ref(), after(now, 61)).await;
    assert_eq!(again.len(), 2, "a lease that ran out is due again");
    assert!(again.iter().all(|delivery| delivery.attempt == 2));
    assert_eq!(fx.store.pending_deliveries().await.unwrap(), 2);
    fx.finish().await;
}

#[tokio::test]
async fn concurrent_claimers_never_take_one_delivery_twice() {
    let fx = Fixture::new().await;
    fx.webhook(|_| {}).await;
    fx.webhook(|_| {}).await;
    let bob = fx.identity("bob").await;
    for identity in [&fx.alice, &bob] {
        for _ in 0..5 {
            fx.append(identity, &["email.sent"; 10]).await;
        }
    }
    // On PostgreSQL each claimer is a process of its own, with its own connections.
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..4 {
        stores.push(if MULTI_PROCESS {
            open(&fx.db).await
        } else {
            fx.store.clone()
        });
    }
    let now = Utc::now();
    let mut claimers = Vec::new();
    for store in &stores {
        let store = store.clone();
        claimers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let claimed = claim(store.as_ref(), now, 7, 1_000).await;
                if claimed.is_empty() {
                    return got;
                }
                got.extend(claimed.into_iter().map(|delivery| delivery.id));
            }
        }));
    }
    let mut seen: HashSet<DeliveryId> = HashSet::new();
    let mut total = 0;
    for claimer in claimers {
        let got = claimer.await.unwrap();
        total += got.len();
        seen.extend(got);
    }
    assert_eq!(seen.len(), 200, "every delivery claimed");
    assert_eq!(total, 200, "and none twice");
    for store in stores {
        if MULTI_PROCESS {
            store.close().await;
        }
    }
    fx.finish().await;
}

#[tokio::test]
async fn room_caps_a_claim_per_webhook_and_an_ordered_webhook_holds_an_identitys_later_events() {
    let fx = Fixture::new().await;
    let roomy = fx.webhook(|_| {}).await;
    let tight = fx.webhook(|_| {}).await;
    let ordered = fx.webhook(|webhook| webhook.ordered = true).await;
    let held = fx.webhook(|webhook| webhook.active = false).await;
    let bob = fx.identity("bob").await;
    fx.append(&fx.alice, &["email.sent"; 3]).await;
    fx.append(&bob, &["email.sent"; 3]).await;
    let now = Utc::now();

    let claimed = fx
        .store
        .claim_deliveries(ClaimRequest {
            now,
            lease_until: after(now, 60),
            limit: 100,
            room: &[(tight.id, 1)],
            default_room: 4,
        })
        .await
        .unwrap()
        .deliveries;
    let of = |webhook: WebhookId| -> Vec<(String, i64)> {
        claimed
            .iter()
            .filter(|delivery| delivery.webhook_id == webhook)
            .map(|delivery| (delivery.identity.to_string(), delivery.event.seq.0))
            .collect()
    };
    assert_eq!(of(roomy.id).len(), 4, "the default room");
    assert_eq!(of(tight.id).len(), 1, "its own room");
    let mut ordered_claims = of(ordered.id);
    ordered_claims.sort();
    assert_eq!(
        ordered_claims,
        [("alice".to_owned(), 1), ("bob".to_owned(), 1)],
        "one at a time per identity, earliest first"
    );
    assert!(
        of(held.id).is_empty(),
        "an inactive webhook's rows are held"
    );
    assert!(
        claimed
            .iter()
            .filter(|d| d.webhook_id == ordered.id)
            .all(|d| d.ordered)
    );

    // Alice's first ordered delivery succeeds: her second becomes claimable.
    let alice_first = claimed
        .iter()
        .find(|d| d.webhook_id == ordered.id && d.identity == fx.alice.handle)
        .unwrap();
    let success = Success {
        delivery: alice_first.id,
        webhook: ordered.id,
        attempt: 1,
        record: attempt(now, Some(200)),
    };
    fx.store.record_successes(&[success]).await.unwrap();
    let next = claim_all(fx.store.as_ref(), now).await;
    let next_ordered: Vec<_> = next.iter().filter(|d| d.webhook_id == ordered.id).collect();
    assert_eq!(next_ordered.len(), 1);
    assert_eq!(
        (
            next_ordered[0].identity.as_str(),
            next_ordered[0].event.seq.0
        ),
        ("alice", 2)
    );
    fx.finish().await;
}

#[tokio::test]
async fn a_released_delivery_is_due_again_at_once() {
    let fx = Fixture::new().await;
    fx.webhook(|_| {}).await;
    fx.append(&fx.alice, &["email.sent"]).await;
    let now = Utc::now();
    let claimed = claim_all(fx.store.as_ref(), now).await;
    fx.store
        .release_deliveries(&[claimed[0].id], after(now, 1))
        .await
        .unwrap();
    let again = claim_all(fx.store.as_ref(), after(now, 1)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, claimed[0].id);
    fx.finish().await;
}

#[tokio::test]
async fn attempts_show_in_the_delivery_log_and_a_retry_makes_a_delivery_due_now() {
    let fx = Fixture::new().await;
    let webhook = fx.webhook(|_| {}).await;
    let bob = fx.identity("bob").await;
    fx.append(&fx.alice, &["email.sent", "email.opened"]).await;
    fx.append(&bob, &["email.sent"]).await;
    // Stored to the microsecond, as PostgreSQL keeps it.
    let now = Utc::now().trunc_subsecs(6);
    let claimed = claim_all(fx.store.as_ref(), now).await;
    let (retried, delivered, given_up) = (&claimed[0], &claimed[1], &claimed[2]);

    record(
        fx.store.as_ref(),
        retried,
        AttemptOutcome::RetryAt(after(now, 5)),
        now,
        3_600,
    )
    .await;
    let success = Success {
        delivery: delivered.id,
        webhook: webhook.id,
        attempt: 1,
        record: attempt(now, Some(204)),
    };
    fx.store.record_successes(&[success]).await.unwrap();
    record(
        fx.store.as_ref(),
        given_up,
        AttemptOutcome::GaveUp,
        now,
        3_600,
    )
    .await;

    let tenant = fx.tenant.tenant.id;
    let log = fx
        .store
        .list_deliveries(every(tenant, webhook.id))
        .await
        .unwrap();
    assert_eq!(log.len(), 3);
    let shown = log.iter().find(|d| d.id == retried.id).unwrap();
    assert_eq!(shown.status, DeliveryStatus::Pending);
    assert_eq!(shown.next_attempt_at, Some(after(now, 5)));
    assert_eq!(shown.attempts.len(), 1);
    assert_eq!(shown.attempts[0].status_code, Some(500));
    assert_eq!(shown.attempts[0].duration_ms, 12);
    assert_eq!(shown.event_id, retried.event.id);
    let status = |id| log.iter().find(|d| d.id == id).unwrap().status;
    assert_eq!(status(delivered.id), DeliveryStatus::Succeeded);
    assert_eq!(status(given_up.id), DeliveryStatus::Failed);

    let pending = fx
        .store
        .list_deliveries(DeliveryQuery {
            status: Some(DeliveryStatus::Pending),
            ..every(tenant, webhook.id)
        })
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    let bobs = fx
        .store
        .list_deliveries(DeliveryQuery {
            identity: Some(&bob.handle),
            ..every(tenant, webhook.id)
        })
        .await
        .unwrap();
    assert!(bobs.iter().all(|d| d.identity == bob.handle));
    let first_page = fx
        .store
        .list_deliveries(DeliveryQuery {
            limit: 2,
            ..every(tenant, webhook.id)
        })
        .await
        .unwrap();
    let second_page = fx
        .store
        .list_deliveries(DeliveryQuery {
            after: Some(first_page[1].id),
            limit: 2,
            ..every(tenant, webhook.id)
        })
        .await
        .unwrap();
    assert_eq!(first_page.len() + second_page.len(), 3, "pages by id");

    let retry = fx
        .store
        .retry_delivery(tenant, given_up.id, after(now, 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(retry.status, DeliveryStatus::Pending);
    let due = claim_all(fx.store.as_ref(), after(now, 1)).await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id, given_up.id);
    assert_eq!(due[0].attempt, 2);

    let stranger = seqhook::id::TenantId::generate();
    assert!(
        fx.store
            .find_delivery(stranger, retried.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        fx.store
            .retry_delivery(stranger, retried.id, now)
            .await
            .unwrap()
            .is_none(),
        "another tenant's delivery is not there"
    );
    fx.finish().await;
}

#[tokio::test]
async fn gone_disables_a_webhook_and_so_does_a_failing_streak_longer_than_allowed() {
    let fx = Fixture::new().await;
    let gone = fx.webhook(|_| {}).await;
    let failing = fx.webhook(|_| {}).await;
    fx.append(&fx.alice, &["email.sent", "email.sent"]).await;
    let now = Utc::now();
    let claimed = claim_all(fx.store.as_ref(), now).await;
    let of = |webhook: WebhookId| -> Vec<&ClaimedDelivery> {
        claimed.iter().filter(|d| d.webhook_id == webhook).collect()
    };
    let tenant = fx.tenant.tenant.id;

    record(
        fx.store.as_ref(),
        of(gone.id)[0],
        AttemptOutcome::Gone,
        now,
        3_600,
    )
    .await;
    let found = fx
        .store
        .find_webhook(tenant, gone.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!found.active);
    assert!(found.disabled_reason.unwrap().contains("410"));

    let failures = of(failing.id);
    record(
        fx.store.as_ref(),
        failures[0],
        AttemptOutcome::RetryAt(after(now, 5)),
        now,
        60,
    )
    .await;
    let found = fx
        .store
        .find_webhook(tenant, failing.id)
        .await
        .unwrap()
        .unwrap();
    assert!(found.active, "a streak shorter than allowed");
    let later = after(now, 61);
    record(
        fx.store.as_ref(),
        failures[1],
        AttemptOutcome::RetryAt(after(later, 5)),
        later,
        60,
    )
    .await;
    let found = fx
        .store
        .find_webhook(tenant, failing.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !found.active,
        "every delivery failed for longer than allowed"
    );
    assert!(found.disabled_reason.is_some());
    fx.finish().await;
}

#[tokio::test]
async fn a_replay_enqueues_an_identitys_events_after_since_that_pass_the_filter() {
    let fx = Fixture::new().await;
    let webhook = fx
        .webhook(|webhook| {
            webhook.events = EventFilter::parse(Some(&["email.*".to_owned()])).unwrap();
        })
        .await;
    let appended = fx
        .append(
            &fx.alice,
            &[
                "email.sent",
                "mailbox.replaced",
                "email.opened",
                "email.replied",
            ],
        )
        .await;
    let now = Utc::now();
    for delivery in claim_all(fx.store.as_ref(), now).await {
        let success = Success {
            delivery: delivery.id,
            webhook: webhook.id,
            attempt: 1,
            record: attempt(now, Some(200)),
        };
        fx.store.record_successes(&[success]).await.unwrap();
    }
    assert_eq!(fx.store.pending_deliveries().await.unwrap(), 0);

    let tenant = fx.tenant.tenant.id;
    let replayed = fx
        .store
        .replay(replay(
            tenant,
            webhook.id,
            &fx.alice.handle,
            appended[0].seq,
            now,
        ))
        .await
        .unwrap();
    assert_eq!(replayed, Some(2), "seqs 3 and 4; seq 2 is filtered out");
    let due = claim_all(fx.store.as_ref(), now).await;
    let mut seqs: Vec<i64> = due.iter().map(|d| d.event.seq.0).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [3, 4]);
    assert!(
        due.iter().all(|d| d.attempt == 1),
        "a replay is a new delivery"
    );

    let nobody = IdentityHandle::parse("nobody").unwrap();
    let none = fx
        .store
        .replay(replay(tenant, webhook.id, &nobody, appended[0].seq, now))
        .await;
    assert_eq!(none.unwrap(), None, "no such identity");
    let elsewhere = fx
        .store
        .replay(replay(
            tenant,
            WebhookId::generate(),
            &fx.alice.handle,
            appended[0].seq,
            now,
        ))
        .await;
    assert_eq!(
        elsewhere.unwrap(),
        Some(0),
        "no such webhook: nothing enqueued"
    );
    fx.finish().await;
}

/// Each backend states the filter once (a SQL function; `EventFilter::matches` for the
/// embedded store). Appends and replays on either must agree with the domain's rule.
#[tokio::test]
async fn appends_and_replays_filter_event_types_as_the_domain_defines() {
    let fx = Fixture::new().await;
    let filters: [Option<&[&str]>; 5] = [
        None,
        Some(&["email.sent"]),
        Some(&["email.*"]),
        Some(&["email.sent", "mailbox.*"]),
        Some(&["mail.*"]),
    ];
    let types = [
        "email.sent",
        "email.replied",
        "mailbox.replaced",
        "emailx.sent",
        "mail.x",
    ];
    let mut webhooks = Vec::new();
    for patterns in filters {
        let owned: Option<Vec<String>> =
            patterns.map(|patterns| patterns.iter().map(|p| (*p).to_owned()).collect());
        let filter = EventFilter::parse(owned.as_deref()).unwrap();
        let webhook = fx.webhook(|webhook| webhook.events = filter.clone()).await;
        webhooks.push((webhook, filter));
    }
    let events: Vec<NewEvent> = types.map(event).into();
    let request = AppendRequest {
        identity: fx.alice.key,
        events: &events,
    };
    fx.store.append_events(&[request], None).await.unwrap();
    let now = Utc::now();
    let taken = |claimed: &[ClaimedDelivery], webhook: WebhookId| -> HashSet<String> {
        claimed
            .iter()
            .filter(|d| d.webhook_id == webhook)
            .map(|d| d.event.event_type.clone())
            .collect()
    };
    let expected = |filter: &EventFilter| -> HashSet<String> {
        types
            .iter()
            .filter(|name| filter.matches(name))
            .map(|name| (*name).to_owned())
            .collect()
    };
    let appended = claim_all(fx.store.as_ref(), now).await;
    for (webhook, filter) in &webhooks {
        assert_eq!(
            taken(&appended, webhook.id),
            expected(filter),
            "append, {filter:?}"
        );
    }
    let tenant = fx.tenant.tenant.id;
    let since = Seq(0);
    for (webhook, _) in &webhooks {
        fx.store
            .replay(replay(tenant, webhook.id, &fx.alice.handle, since, now))
            .await
            .unwrap();
    }
    let replayed = claim_all(fx.store.as_ref(), now).await;
    for (webhook, filter) in &webhooks {
        assert_eq!(
            taken(&replayed, webhook.id),
            expected(filter),
            "replay, {filter:?}"
        );
    }
    fx.finish().await;
}
