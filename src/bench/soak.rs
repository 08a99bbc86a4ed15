//! `bench soak`: the steady state. `clients` tasks append single events at a constant total
//! `--rate` to `--identities` logs for `--duration` (30 min by default), a webhook pushes
//! every event to a receiver in this process, and `--pollers` long-polls follow one log each.
//! The bench's tenant gets a short retention (`--retention`, 2 min), so the server's sweep
//! removes events, deliveries and attempts all along.
//!
//! Every `--every` (a minute) it prints one line: appends/s, append p99, delivery p99
//! (append sent → webhook arrival), wake p99 (append sent → a long-poll's answer holding
//! it), the server's RSS, the database's size and the outbox depth (from `/metrics`). At the
//! end, one JSON line with every series and, for each, whether it stayed flat: the median
//! of the last third of the lines after warm-up (the retention plus one line, the time the
//! log takes to reach its steady size) within 15 % of the first third's, or within a floor
//! for series that sit near zero. The median, because a single minute's stall (a checkpoint,
//! another program on the machine) moves a third's mean of per-minute p99s by a quarter,
//! where growth moves its median. And whether anything was lost: an acknowledged event that never
//! reached the webhook, or a followed log whose long-poll saw a gap, a duplicate or a 410.
//!
//! The server must allow loopback webhooks: `SEQHOOK_ALLOW_PRIVATE_WEBHOOKS=true`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use super::Target;
use super::deliver::{delete_webhook, register_webhook};
use super::flatness::flatness;
use super::histogram::Latency;
use super::hold::{find_server_pid, rss_mb_of};
use super::payload::EventBody;
use super::receiver::{OnArrival, Receiver};
use super::report::Errors;
use super::setup::{self, Tenant, check};
use crate::domain::retention::Retention;
use crate::id::EventId;

const DEFAULT_DURATION: Duration = Duration::from_secs(30 * 60);
/// How long a long-poll waits for news.
const POLL_WAIT_SECS: u64 = 25;
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// Events appended per second, in total over the clients.
    #[arg(long, default_value_t = 500)]
    pub rate: u32,
    /// Logs the events are spread over at random.
    #[arg(long, default_value_t = 1000)]
    pub identities: usize,
    /// Appending tasks sharing the rate, each with one request in flight.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Long-polls, each following one log from its start.
    #[arg(long, default_value_t = 32)]
    pub pollers: usize,
    /// The bench tenant's retention: short, so the sweep runs throughout.
    #[arg(long, default_value = "2m", value_parser = Retention::parse)]
    pub retention: Retention,
    /// How often a line is printed.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub every: Duration,
    /// Seconds to wait for stragglers once appending stops.
    #[arg(long, default_value_t = 60)]
    pub drain: u64,
    /// The server process whose RSS is sampled [default: found by its command line].
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// An acknowledged (or in-flight) append, until its delivery and, for a followed log, its
/// long-poll have both been seen.
struct Pending {
    sent: Instant,
    followed: bool,
    delivered: bool,
    woken: bool,
}

/// What one line measures, reset after each.
#[derive(Default)]
struct Window {
    appends: u64,
    append: Latency,
    delivery: Latency,
    wake: Latency,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<HashMap<String, Pending>>,
    window: Mutex<Window>,
    /// Gaps, duplicates and expired cursors seen by the long-polls.
    lost_on_poll: AtomicU64,
    stopping: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One series' value on a line, where it was measured.
type Reading = fn(&Line) -> Option<f64>;

/// One printed line.
struct Line {
    minute: f64,
    appends_per_sec: f64,
    append_p99_ms: f64,
    delivery_p99_ms: f64,
    wake_p99_ms: f64,
    rss_mb: Option<f64>,
    database_mb: Option<f64>,
    outbox_depth: Option<f64>,
}

pub(crate) async fn run(target: &Target, args: SoakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate > 0, "--rate must be at least 1");
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    anyhow::ensure!(args.identities > 0, "--identities must be at least 1");
    anyhow::ensure!(
        args.every >= Duration::from_secs(1),
        "--every must be at least 1s"
    );
    let duration = target.duration_or(DEFAULT_DURATION);
    let server_pid = args.server_pid.or_else(find_server_pid);
    if server_pid.is_none() {
        eprintln!("soak: no `seqhook … serve` process found; RSS not measured (pass --server-pid)");
    }

    let shared = Arc::new(Shared::default());
    let on_arrival: OnArrival = {
        let shared = shared.clone();
        Arc::new(move |id: &str, now: Instant| arrived(&shared, id, now))
    };
    let receiver = Receiver::start("soak", on_arrival).await?;
    let connections = args.clients + args.pollers + 4;
    let tenant = Tenant::create(setup::http_client(connections)?, target).await?;
    set_retention(&tenant, target, args.retention).await?;
    let handles = tenant.create_identities(args.identities).await?;
    let webhook = register_webhook(&tenant, &receiver.url).await?;
    let followed = args.pollers.min(handles.len());
    let logs: Arc<Vec<(Url, String)>> = Arc::new(
        handles
            .iter()
            .map(|handle| Ok((tenant.events_url(handle)?, handle.clone())))
            .collect::<anyhow::Result<_>>()?,
    );
    let errors = Arc::new(Errors::default());

    let mut pollers = JoinSet::new();
    for (url, _) in logs.iter().take(followed) {
        pollers.spawn(follow(
            tenant.clone(),
            url.clone(),
            shared.clone(),
            errors.clone(),
        ));
    }

    let start = tokio::time::Instant::now();
    let until = start + duration;
    let period = Duration::from_secs_f64(args.clients as f64 / f64::from(args.rate))
        .max(Duration::from_micros(1));
    let body = Arc::new(EventBody::new());
    let mut appenders = JoinSet::new();
    for client in 0..args.clients {
        let (tenant, logs, body, shared, errors) = (
            tenant.clone(),
            logs.clone(),
            body.clone(),
            shared.clone(),
            errors.clone(),
        );
        let first = start + period.mul_f64(client as f64 / args.clients as f64);
        let seed = rand::random::<u64>();
        appenders.spawn(async move {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut ticks = tokio::time::interval_at(first, period);
            // A steady offered rate: a slow append is caught up on, not forgotten.
            ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
            loop {
                let due = ticks.tick().await;
                if due >= until || tokio::time::Instant::now() >= until {
                    return;
                }
                let index = rng.random_range(0..logs.len());
                let (url, handle) = &logs[index];
                append(
                    &tenant,
                    url,
                    handle,
                    index < followed,
                    &body,
                    &shared,
                    &errors,
                )
                .await;
            }
        });
    }

    println!(
        "{:>6} {:>10} {:>13} {:>15} {:>11} {:>8} {:>9} {:>7}",
        "minute",
        "appends/s",
        "append p99 ms",
        "delivery p99 ms",
        "wake p99 ms",
        "RSS MB",
        "DB MB",
        "outbox"
    );
    let mut lines: Vec<Line> = Vec::new();
    let mut ticks = tokio::time::interval_at(start + args.every, args.every);
    loop {
        let at = ticks.tick().await;
        if at > until {
            break;
        }
        let window = std::mem::take(&mut *lock(&shared.window));
        let scraped = scrape(&tenant).await;
        let line = Line {
            minute: (at - start).as_secs_f64() / 60.0,
            appends_per_sec: window.appends as f64 / args.every.as_secs_f64(),
            append_p99_ms: window.append.p99_ms(),
            delivery_p99_ms: window.delivery.p99_ms(),
            wake_p99_ms: window.wake.p99_ms(),
            rss_mb: server_pid.and_then(rss_mb_of),
            database_mb: scraped.get("seqhook_database_bytes").map(|b| b / 1e6),
            outbox_depth: scraped.get("seqhook_outbox_depth").copied(),
        };
        let shown = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:.1}"));
        println!(
            "{:>6.1} {:>10.0} {:>13.2} {:>15.2} {:>11.2} {:>8} {:>9} {:>7}",
            line.minute,
            line.appends_per_sec,
            line.append_p99_ms,
            line.delivery_p99_ms,
            line.wake_p99_ms,
            shown(line.rss_mb),
            shown(line.database_mb),
            shown(line.outbox_depth),
        );
        lines.push(line);
    }
    while appenders.join_next().await.is_some() {}

    // Stragglers: every acknowledged event reaches the webhook, or --drain runs out.
    let drain_until = Instant::now() + Duration::from_secs(args.drain);
    let missing = loop {
        let missing = lock(&shared.pending)
            .values()
            .filter(|pending| !pending.delivered)
            .count();
        if missing == 0 || Instant::now() >= drain_until {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    shared.stopping.store(true, Ordering::Relaxed);
    pollers.abort_all();
    delete_webhook(&tenant, &webhook).await;
    drop(receiver);

    let warmup = args.retention.as_secs() as f64 / 60.0 + args.every.as_secs_f64() / 60.0;
    let steady: Vec<&Line> = lines.iter().filter(|line| line.minute > warmup).collect();
    let series: [(&str, Reading, f64); 7] = [
        ("appendsPerSec", |l| Some(l.appends_per_sec), 0.0),
        ("appendP99Ms", |l| Some(l.append_p99_ms), 2.0),
        ("deliveryP99Ms", |l| Some(l.delivery_p99_ms), 2.0),
        ("wakeP99Ms", |l| Some(l.wake_p99_ms), 2.0),
        ("rssMb", |l| l.rss_mb, 0.0),
        ("databaseMb", |l| l.database_mb, 0.0),
        ("outboxDepth", |l| l.outbox_depth, 100.0),
    ];
    let mut report = serde_json::Map::new();
    report.insert("scenario".into(), json!("soak"));
    report.insert("rate".into(), json!(args.rate));
    report.insert("identities".into(), json!(args.identities));
    report.insert("pollers".into(), json!(followed));
    report.insert("retention".into(), json!(args.retention.to_string()));
    report.insert("durationSecs".into(), json!(duration.as_secs()));
    report.insert("warmupMinutes".into(), json!(warmup));
    let mut all_flat = true;
    for (name, value, floor) in series {
        let values: Vec<f64> = steady.iter().filter_map(|line| value(line)).collect();
        let flat = flatness(&values, floor);
        // A series not measured at all (no RSS without a server pid) says nothing; one
        // measured on too few lines proves nothing.
        all_flat &= flat == Some(true) || values.is_empty();
        report.insert(
            name.into(),
            json!({ "series": lines.iter().map(value).collect::<Vec<_>>(), "flat": flat }),
        );
    }
    let lost_on_poll = shared.lost_on_poll.load(Ordering::Relaxed);
    report.insert("missing".into(), json!(missing));
    report.insert("lostOnPoll".into(), json!(lost_on_poll));
    report.insert("errors".into(), json!(errors.count()));
    report.insert("flat".into(), json!(all_flat));
    report.insert(
        "nothingLost".into(),
        json!(missing == 0 && lost_on_poll == 0),
    );
    println!(
        "flat: {all_flat}; missing: {missing}; lost on poll: {lost_on_poll}; errors: {}",
        errors.count()
    );
    println!("{}", Value::Object(report));
    Ok(())
}

async fn append(
    tenant: &Tenant,
    url: &Url,
    handle: &str,
    followed: bool,
    body: &EventBody,
    shared: &Shared,
    errors: &Errors,
) {
    let id = EventId::generate().to_string();
    let sent = Instant::now();
    // Noted before sending: the webhook may arrive before the append's answer does.
    lock(&shared.pending).insert(
        id.clone(),
        Pending {
            sent,
            followed,
            delivered: false,
            woken: false,
        },
    );
    let request = tenant.post_json(url.clone(), body.with_id(&id, handle));
    match check(request.send().await, StatusCode::CREATED).await {
        Ok(response) => {
            let answered = Instant::now();
            {
                let mut window = lock(&shared.window);
                window.appends += 1;
                window.append.record(answered - sent);
            }
            if let Err(error) = response.bytes().await {
                errors.record("soak", &format!("reading the append: {error}"));
            }
        }
        Err(why) => {
            // Not acknowledged: not owed to the webhook.
            lock(&shared.pending).remove(&id);
            errors.record("soak", &why);
        }
    }
}

fn arrived(shared: &Shared, id: &str, now: Instant) {
    let mut pending = lock(&shared.pending);
    let Some(entry) = pending.get_mut(id) else {
        return; // a retry of a delivery already counted
    };
    if entry.delivered {
        return;
    }
    entry.delivered = true;
    let latency = now - entry.sent;
    if entry.woken || !entry.followed {
        pending.remove(id);
    }
    drop(pending);
    lock(&shared.window).delivery.record(latency);
}

#[derive(Deserialize)]
struct PollPage {
    events: Vec<PollEvent>,
    cursor: u64,
}

#[derive(Deserialize)]
struct PollEvent {
    id: String,
    seq: u64,
}

/// Follows one log from its start with long-polls: every seq once, in order.
async fn follow(tenant: Tenant, url: Url, shared: Arc<Shared>, errors: Arc<Errors>) {
    let mut cursor = 0_u64;
    while !shared.stopping.load(Ordering::Relaxed) {
        let mut poll = url.clone();
        poll.query_pairs_mut()
            .append_pair("since", &cursor.to_string())
            .append_pair("wait", &POLL_WAIT_SECS.to_string())
            .append_pair("limit", "1000");
        let response = match tenant.get(poll).send().await {
            Ok(response) => response,
            Err(error) => {
                errors.record("soak", &format!("long-poll: {error}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let now = Instant::now();
        if response.status() == StatusCode::GONE {
            // The log moved on without this reader: events it never saw are gone.
            let body: Value = response.json().await.unwrap_or_default();
            let Some(earliest) = body["error"]["details"]["earliestSeq"].as_u64() else {
                errors.record("soak", "a 410 without `earliestSeq`");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            shared
                .lost_on_poll
                .fetch_add(earliest.saturating_sub(cursor + 1), Ordering::Relaxed);
            cursor = earliest.saturating_sub(1);
            continue;
        }
        let page: PollPage = match check(Ok(response), StatusCode::OK).await {
            Ok(response) => match response.json().await {
                Ok(page) => page,
                Err(error) => {
                    errors.record("soak", &format!("decoding a page: {error}"));
                    continue;
                }
            },
            Err(why) => {
                errors.record("soak", &why);
                continue;
            }
        };
        let mut latencies = Vec::with_capacity(page.events.len());
        {
            let mut pending = lock(&shared.pending);
            for event in &page.events {
                // Seqs skipped, or one seen again.
                if event.seq != cursor + 1 {
                    let lost = event.seq.checked_sub(cursor + 1).unwrap_or(1);
                    shared.lost_on_poll.fetch_add(lost, Ordering::Relaxed);
                }
                cursor = event.seq;
                if let Some(entry) = pending.get_mut(&event.id) {
                    if !entry.woken {
                        entry.woken = true;
                        latencies.push(now - entry.sent);
                    }
                    if entry.delivered {
                        pending.remove(&event.id);
                    }
                }
            }
        }
        cursor = cursor.max(page.cursor);
        let mut window = lock(&shared.window);
        for latency in latencies {
            window.wake.record(latency);
        }
    }
}

/// The bench tenant's retention, through the operator's route.
async fn set_retention(
    tenant: &Tenant,
    target: &Target,
    retention: Retention,
) -> anyhow::Result<()> {
    let url = tenant.api_url(&format!("/v1/admin/tenants/{}/retention", tenant.id))?;
    let sent = reqwest::Client::new()
        .put(url)
        .bearer_auth(&target.admin_token)
        .json(&json!({ "retention": retention }))
        .send()
        .await;
    check(sent, StatusCode::OK)
        .await
        .map(drop)
        .map_err(|why| anyhow::anyhow!("setting the bench tenant's retention: {why}"))
}

/// The gauges of `/metrics`, by name (unlabelled samples only).
async fn scrape(tenant: &Tenant) -> HashMap<String, f64> {
    let Ok(url) = tenant.api_url("/metrics") else {
        return HashMap::new();
    };
    let Ok(response) = tenant.get(url).send().await else {
        return HashMap::new();
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.split_once(' ')?;
            Some((name.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}
