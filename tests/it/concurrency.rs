//! The log's central invariant under load: per identity, seqs are 1..=N with no gap and no
//! duplicate, and a reader following the cursor sees every one exactly once, in order.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{MULTI_PROCESS, TestApp, TestDatabase, no_reply, seqs};

const WRITERS: usize = 24;
const APPENDS_PER_WRITER: usize = 15;
const BATCH_EVERY: usize = 5;
const BATCH_SIZE: usize = 4;
const READERS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_on_one_identity_get_gap_free_seqs_that_readers_see_once_in_order() {
    let db = TestDatabase::create().await;
    // On PostgreSQL, two processes on one database: appends race across processes as well
    // as within one.
    let first = TestApp::spawn(&db.url).await;
    let second = if MULTI_PROCESS {
        Some(TestApp::spawn(&db.url).await)
    } else {
        None
    };
    let tenant = first.tenant_with_identity("hot").await;
    let per_writer = (APPENDS_PER_WRITER - APPENDS_PER_WRITER / BATCH_EVERY)
        + (APPENDS_PER_WRITER / BATCH_EVERY) * BATCH_SIZE;
    let total = (WRITERS * per_writer) as u64;

    let mut readers = tokio::task::JoinSet::new();
    for reader in 0..READERS {
        let app = either(&first, &second, reader);
        let (client, url, key) = (
            app.client.clone(),
            app.url("/v1/identities/hot/events"),
            tenant.key.clone(),
        );
        readers.spawn(async move {
            let mut seen = Vec::new();
            let mut since = 0u64;
            while since < total {
                let page: Value = client
                    .get(&url)
                    .query(&[
                        ("since", since.to_string()),
                        ("wait", "5".into()),
                        ("limit", "50".into()),
                    ])
                    .bearer_auth(&key)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                seen.extend(seqs(page["events"].as_array().unwrap()));
                since = page["cursor"].as_u64().unwrap();
            }
            seen
        });
    }

    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let app = either(&first, &second, writer);
        let (client, url, key) = (
            app.client.clone(),
            app.url("/v1/identities/hot/events"),
            tenant.key.clone(),
        );
        writers.spawn(async move {
            let mut got = Vec::new();
            for n in 0..APPENDS_PER_WRITER {
                let body = if n % BATCH_EVERY == BATCH_EVERY - 1 {
                    json!({ "events": (0..BATCH_SIZE as u64).map(no_reply).collect::<Vec<_>>() })
                } else {
                    no_reply(n as u64)
                };
                let response = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), reqwest::StatusCode::CREATED);
                let body: Value = response.json().await.unwrap();
                let batch = seqs(body["events"].as_array().unwrap());
                // A batch's seqs are contiguous even while others append.
                assert!(
                    batch.windows(2).all(|pair| pair[1] == pair[0] + 1),
                    "{batch:?}"
                );
                got.extend(batch);
            }
            got
        });
    }

    let mut acknowledged = BTreeSet::new();
    while let Some(seqs) = writers.join_next().await {
        for seq in seqs.unwrap() {
            assert!(acknowledged.insert(seq), "seq {seq} handed out twice");
        }
    }
    assert_eq!(
        acknowledged,
        (1..=total).collect::<BTreeSet<_>>(),
        "gap-free 1..=N"
    );

    while let Some(seen) = readers.join_next().await {
        assert_eq!(
            seen.unwrap(),
            (1..=total).collect::<Vec<_>>(),
            "every reader saw each seq once, in order"
        );
    }
    let head: Value = first
        .get(&tenant.key, "/v1/identities/hot")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(head["headSeq"], total);
    first.stop().await;
    if let Some(second) = second {
        second.stop().await;
    }
    db.drop().await;
}

/// Alternates between the two processes, where there are two.
fn either<'a>(first: &'a TestApp, second: &'a Option<TestApp>, n: usize) -> &'a TestApp {
    match second {
        Some(second) if n % 2 == 1 => second,
        _ => first,
    }
}
