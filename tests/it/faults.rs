//! Faults with real processes: a commit whose acknowledgement is lost on the wire,
//! PostgreSQL restarted under load, PostgreSQL down. Whatever happens, nothing acknowledged
//! is lost, no seq is skipped or repeated, nothing answers 500, and seqhook recovers
//! without a restart of its own.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use seqhook::config::ServeConfig;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::support::cluster::Cluster;
use crate::support::process::ServerProcess;
use crate::support::proxy::{Fault, FaultyProxy};
use crate::support::receiver::WebhookReceiver;
use crate::support::{ApiClient, TestApp, TestDatabase, assert_error, seqs};

/// An `email.no_reply` event whose data carries `marker`, for the proxy to recognise.
fn marked(marker: &str) -> Value {
    json!({
        "type": "email.no_reply",
        "data": { "convId": marker, "identity": "a", "afterMessageId": "<m>", "waitedMs": 1 }
    })
}

/// `host:port` of a database URL.
fn address(url: &str) -> String {
    let url = reqwest::Url::parse(url).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
}

/// The same database URL, through a proxy on `port`.
fn via(url: &str, port: u16) -> String {
    let mut url = reqwest::Url::parse(url).unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(port)).unwrap();
    url.to_string()
}

#[tokio::test]
async fn an_append_whose_acknowledgement_is_lost_is_found_committed_and_answered_201() {
    let db = TestDatabase::create().await;
    let proxy = FaultyProxy::start(&address(&db.url)).await;
    let app = TestApp::spawn(&via(&db.url, proxy.port)).await;
    let tenant = app.tenant_with_identity("alice").await;
    let poll = app.spawn_pull(&tenant.key, "alice", "since=0&wait=25");
    app.held(1).await;

    proxy.arm("lost-answer", Fault::LoseAnswer);
    let events = app
        .append_ok(&tenant.key, "alice", &marked("lost-answer"))
        .await;
    assert!(proxy.struck(), "the append's answer was lost on the wire");
    assert_eq!(seqs(&events), [1]);
    // The writer never saw the commit; the wake-up still went out once it was found.
    let page: Value = poll.await.unwrap().json().await.unwrap();
    assert_eq!(page["events"][0]["id"], events[0]["id"]);

    let log = app.pull_ok(&tenant.key, "alice", "since=0").await;
    assert_eq!(log["events"].as_array().unwrap().len(), 1, "appended once");
    let next = app
        .append_ok(&tenant.key, "alice", &marked("the next one"))
        .await;
    assert_eq!(seqs(&next), [2]);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn an_append_cut_off_before_the_database_is_appended_once_under_the_same_ids() {
    let db = TestDatabase::create().await;
    let proxy = FaultyProxy::start(&address(&db.url)).await;
    let app = TestApp::spawn(&via(&db.url, proxy.port)).await;
    let tenant = app.tenant_with_identity("alice").await;

    proxy.arm("dropped", Fault::DropRequest);
    let events = app
        .append_ok(
            &tenant.key,
            "alice",
            &json!({ "events": [marked("dropped"), marked("its neighbour")] }),
        )
        .await;
    assert!(proxy.struck(), "the first try never reached the database");
    assert_eq!(seqs(&events), [1, 2]);
    let log = app.pull_ok(&tenant.key, "alice", "since=0").await;
    let logged: Vec<&Value> = log["events"].as_array().unwrap().iter().collect();
    assert_eq!(logged.len(), 2, "appended once");
    assert_eq!(logged[0]["id"], events[0]["id"]);
    app.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn an_append_whose_outcome_cannot_be_learned_answers_503_with_ids_that_make_a_retry_safe() {
    let db = TestDatabase::create().await;
    let proxy = FaultyProxy::start(&address(&db.url)).await;
    let mut config = ServeConfig::for_database(&via(&db.url, proxy.port));
    config.outcome_wait = Duration::from_millis(300);
    let app = TestApp::spawn_with(config).await;
    let tenant = app.tenant_with_identity("alice").await;

    proxy.arm("unknowable", Fault::LoseAnswerThenGoDown);
    let batch = json!({ "events": [marked("unknowable"), marked("its neighbour")] });
    let answer = assert_error(
        app.append(&tenant.key, "alice", &batch).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "outcome_unknown",
    )
    .await;
    let ids = answer["error"]["details"]["ids"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(ids.len(), 2, "{answer}");

    // The database is back; the client sends the same events again, with the ids.
    proxy.come_back();
    let mut retry = batch.clone();
    for (event, id) in retry["events"].as_array_mut().unwrap().iter_mut().zip(&ids) {
        event["id"] = id.clone();
    }
    let response = app.append(&tenant.key, "alice", &retry).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the lost commit had happened: answered from the log"
    );
    let events: Value = response.json().await.unwrap();
    assert_eq!(seqs(events["events"].as_array().unwrap()), [1, 2]);
    let log = app.pull_ok(&tenant.key, "alice", "since=0").await;
    assert_eq!(log["events"].as_array().unwrap().len(), 2, "appended once");
    app.stop().await;
    db.drop().await;
}

/// What one identity's appenders were told, by event id.
type Acked = Arc<Mutex<BTreeMap<String, HashMap<String, u64>>>>;

#[tokio::test]
async fn a_fast_postgres_restart_under_load_loses_and_repeats_nothing() {
    restart_under_load("fast").await;
}

#[tokio::test]
async fn an_immediate_postgres_restart_under_load_loses_and_repeats_nothing() {
    restart_under_load("immediate").await;
}

const IDENTITIES: usize = 3;
const PER_APPENDER: usize = 40;

/// Two seqhook processes on one private cluster, each appending to every identity, each
/// long-polling every identity, and a webhook receiving everything; the cluster restarts
/// a third of the way through.
async fn restart_under_load(mode: &str) {
    let cluster = Cluster::start_durable();
    let url = format!("{}postgres", cluster.url_prefix());
    let env = [
        ("SEQHOOK_ALLOW_PRIVATE_WEBHOOKS", "true"),
        ("SEQHOOK_DELIVERY_TIMEOUT", "2s"),
        ("SEQHOOK_DELIVERY_LEASE", "3s"),
        ("SEQHOOK_DELIVERY_POLL", "200ms"),
    ];
    let first = ServerProcess::spawn(&url, &env).await;
    let second = ServerProcess::spawn(&url, &env).await;
    let apis = [
        TestApp::client_for(first.port),
        TestApp::client_for(second.port),
    ];
    let tenant = apis[0].create_tenant("acme").await;
    let receiver = WebhookReceiver::start().await;
    apis[0]
        .create_webhook(&tenant.key, &json!({ "url": receiver.url }))
        .await;
    let handles: Vec<String> = (0..IDENTITIES).map(|n| format!("id-{n}")).collect();
    for handle in &handles {
        let created = apis[0].put_identity(&tenant.key, handle).await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }

    let acked: Acked = Arc::default();
    let (acknowledged, mut progress) = tokio::sync::watch::channel(0usize);
    let acknowledged = Arc::new(acknowledged);
    let mut appenders = JoinSet::new();
    for handle in &handles {
        for port in [first.port, second.port] {
            let (handle, key, acked) = (handle.clone(), tenant.key.clone(), Arc::clone(&acked));
            let acknowledged = Arc::clone(&acknowledged);
            appenders.spawn(async move {
                append_through_faults(port, handle, key, acked, &acknowledged).await;
            });
        }
    }
    let mut pullers = JoinSet::new();
    let (done, finished) = tokio::sync::watch::channel(None::<BTreeMap<String, u64>>);
    for handle in &handles {
        for port in [first.port, second.port] {
            let (handle, key) = (handle.clone(), tenant.key.clone());
            pullers.spawn(follow_through_faults(port, handle, key, finished.clone()));
        }
    }

    // A third of the way in, the database restarts under everything.
    let total = IDENTITIES * 2 * PER_APPENDER;
    progress
        .wait_for(|acknowledged| *acknowledged >= total / 3)
        .await
        .unwrap();
    cluster.restart(mode).await;
    while let Some(joined) = appenders.join_next().await {
        joined.expect("an appender");
    }

    // Every identity's log is exactly what was acknowledged, seqs 1..=head without a gap.
    let acked = acked.lock().unwrap().clone();
    let mut heads = BTreeMap::new();
    for (handle, events) in &acked {
        let page = apis[1]
            .pull_ok(&tenant.key, handle, "since=0&limit=1000")
            .await;
        let logged = page["events"].as_array().unwrap();
        assert_eq!(
            seqs(logged),
            (1..=logged.len() as u64).collect::<Vec<_>>(),
            "{handle}: seqs gap-free"
        );
        let logged: HashMap<String, u64> = logged
            .iter()
            .map(|event| {
                let id = event["id"].as_str().unwrap().to_owned();
                (id, event["seq"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(
            &logged, events,
            "{handle}: the log is what was acknowledged"
        );
        heads.insert(handle.clone(), logged.len() as u64);
    }
    // Every long-poll saw each event once, in order (checked as they came).
    done.send_replace(Some(heads));
    while let Some(joined) = pullers.join_next().await {
        joined.expect("a puller");
    }
    // Every acknowledged event reached the webhook, at least once.
    let mut unseen: HashSet<String> = acked
        .values()
        .flat_map(|events| events.keys().cloned())
        .collect();
    while !unseen.is_empty() {
        let delivery = receiver.next().await;
        unseen.remove(delivery.webhook_id());
    }
    // Both processes are ready again, without a restart of their own.
    for api in &apis {
        await_ready(api).await;
    }
}

/// Appends `PER_APPENDER` events one at a time, each with its own id, sending it again on a
/// 503 or a broken connection after a short pause, as a careful client does. Anything else
/// is a failure.
async fn append_through_faults(
    port: u16,
    handle: String,
    key: String,
    acked: Acked,
    acknowledged: &tokio::sync::watch::Sender<usize>,
) {
    let api = TestApp::client_for(port);
    for n in 0..PER_APPENDER {
        let id = format!("evt_{}", ulid::Ulid::new());
        let mut body = marked(&format!("{port}-{n}"));
        body["id"] = json!(id);
        let seq = loop {
            let Ok(response) = api
                .client
                .post(api.url(&format!("/v1/identities/{handle}/events")))
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await
            else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or_default();
            match status {
                StatusCode::CREATED | StatusCode::OK => {
                    assert_eq!(answer["events"][0]["id"], id.as_str(), "{answer}");
                    break answer["events"][0]["seq"].as_u64().unwrap();
                }
                StatusCode::SERVICE_UNAVAILABLE => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => panic!("an append answered {other}: {answer}"),
            }
        };
        acked
            .lock()
            .unwrap()
            .entry(handle.clone())
            .or_default()
            .insert(id, seq);
        acknowledged.send_modify(|count| *count += 1);
    }
}

/// Long-polls one identity from the start until it has read up to the final head, asserting
/// that every event comes once and in order.
async fn follow_through_faults(
    port: u16,
    handle: String,
    key: String,
    mut finished: tokio::sync::watch::Receiver<Option<BTreeMap<String, u64>>>,
) {
    let api = TestApp::client_for(port);
    let mut cursor = 0u64;
    loop {
        let target = finished
            .borrow_and_update()
            .as_ref()
            .map(|heads| heads[&handle]);
        if target == Some(cursor) {
            return;
        }
        let request = api
            .client
            .get(api.url(&format!(
                "/v1/identities/{handle}/events?since={cursor}&wait=1"
            )))
            .bearer_auth(&key)
            .send();
        let Ok(response) = request.await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let status = response.status();
        let page: Value = response.json().await.unwrap_or_default();
        match status {
            StatusCode::OK => {
                for event in page["events"].as_array().unwrap() {
                    let seq = event["seq"].as_u64().unwrap();
                    assert_eq!(seq, cursor + 1, "{handle} on {port}: no gap, no repeat");
                    cursor = seq;
                }
                assert_eq!(page["cursor"].as_u64().unwrap(), cursor);
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("a pull answered {other}: {page}"),
        }
    }
}

/// Waits until `/readyz` answers 200: the database answers and the listener is back.
async fn await_ready(api: &ApiClient) {
    for _ in 0..600 {
        if let Ok(response) = api.client.get(api.url("/readyz")).send().await {
            if response.status() == StatusCode::OK {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not ready again within 30 s");
}

#[tokio::test]
async fn readiness_answers_within_a_second_while_postgres_is_down_and_recovers_by_itself() {
    let cluster = Cluster::start_durable();
    let url = format!("{}postgres", cluster.url_prefix());
    let server = ServerProcess::spawn(&url, &[]).await;
    let api = TestApp::client_for(server.port);
    await_ready(&api).await;
    let tenant = api.create_tenant("acme").await;

    cluster.stop("fast").await;
    // A probe with a short timeout of its own sees a 503 saying what is down, not a hang.
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let response = probe
        .get(api.url("/readyz"))
        .send()
        .await
        .expect("readyz answers while the database is down");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"], false, "{body}");
    // Requests that need the database say so, and nothing is a 500.
    assert_error(
        api.put_identity(&tenant.key, "alice").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;

    cluster.resume().await;
    await_ready(&api).await;
    assert_eq!(
        api.put_identity(&tenant.key, "alice").await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn stats_counted_while_postgres_is_down_are_kept_and_stored_once_it_is_back() {
    let cluster = Cluster::start_durable();
    let url = format!("{}postgres", cluster.url_prefix());
    let app = TestApp::spawn(&url).await;
    let tenant = app.tenant_with_identity("alice").await;
    app.append_ok(&tenant.key, "alice", &marked("one")).await;
    app.append_ok(&tenant.key, "alice", &marked("two")).await;

    cluster.stop("fast").await;
    // The report stores this process's counts first; that fails, and they are kept.
    assert_error(
        app.get(&tenant.key, "/v1/stats").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;

    cluster.resume().await;
    await_ready(&app).await;
    let stats: Value = app
        .get(&tenant.key, "/v1/stats")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["totals"]["appended"], 2, "{stats}");
    app.stop().await;
}
