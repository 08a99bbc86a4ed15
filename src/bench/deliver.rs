//! `bench deliver`: webhook push end to end. `clients` tasks append single events at a steady
//! total `--rate` for `--duration`, each with a client-chosen id, while a receiver in this
//! process, on loopback, notes when each `webhook-id` arrives. Appending then stops and the
//! scenario waits (at most `--drain` seconds) for every acknowledged event to arrive.
//!
//! Figures: events appended; deliveries/s (acknowledged events that arrived ÷ time from the
//! first append to the last arrival); append → arrival latency p50/p99/max (from just before
//! the append is sent to the first arrival of its id, so it includes the append itself, the
//! outbox claim and the delivery request); the append's own p99 (sent → 201), the part of
//! that latency the delivery path cannot remove; missing (acknowledged, never arrived); duplicated
//! (arrived more than once); errors (appends not answered 201).
//!
//! Goal on 2 cores: ≥ 2,000 deliveries/s with p99 ≤ 25 ms, none missing, none duplicated.
//!
//! The server must allow loopback webhooks: `SEQHOOK_ALLOW_PRIVATE_WEBHOOKS=true`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use super::Target;
use super::histogram::Latency;
use super::payload::EventBody;
use super::receiver::{OnArrival, Receiver};
use super::report::{Errors, Report};
use super::setup::{self, Tenant, check};
use crate::id::EventId;

const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// How often the drain checks for stragglers: a load tool may poll.
const DRAIN_POLL: Duration = Duration::from_millis(50);

/// How much of an unexpected registration answer the setup error shows.
const ERROR_BODY_CHARS: usize = 500;

/// The arrivals map is sized for the whole run up front (so it never rehashes under the
/// lock mid-run), up to this many entries; past it, it grows as usual.
const PRESIZE_MAX: usize = 1 << 20;

#[derive(Debug, clap::Args)]
pub struct DeliverArgs {
    /// Events appended per second, in total over the clients.
    #[arg(long, default_value_t = 2500)]
    pub rate: u32,
    /// Identities the events are spread over at random.
    #[arg(long, default_value_t = 100)]
    pub identities: usize,
    /// Appending tasks sharing the rate, each with one request in flight.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Seconds to wait for stragglers once appending stops.
    #[arg(long, default_value_t = 30)]
    pub drain: u64,
}

/// What the receiver saw of one event id.
struct Arrival {
    /// When it first arrived.
    first: Instant,
    /// How many times it arrived: more than 1 is a duplicate.
    count: u32,
}

type Arrivals = Arc<Mutex<HashMap<String, Arrival>>>;

/// An acknowledged append: its event id, the instant just before it was sent and the
/// instant its answer came.
struct Sent {
    id: String,
    at: Instant,
    answered: Instant,
}

pub(crate) async fn run(target: &Target, args: DeliverArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate > 0, "--rate must be at least 1");
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    anyhow::ensure!(args.identities > 0, "--identities must be at least 1");
    let duration = target.duration_or(DEFAULT_DURATION);
    let expected = usize::try_from(u64::from(args.rate).saturating_mul(duration.as_secs()))
        .unwrap_or(usize::MAX)
        .min(PRESIZE_MAX);

    let arrivals: Arrivals = Arc::new(Mutex::new(HashMap::with_capacity(expected)));
    let on_arrival: OnArrival = {
        let arrivals = arrivals.clone();
        Arc::new(move |id: &str, now: Instant| {
            lock(&arrivals)
                .entry(id.to_owned())
                .and_modify(|arrival| arrival.count = arrival.count.saturating_add(1))
                .or_insert(Arrival {
                    first: now,
                    count: 1,
                });
        })
    };
    let receiver = Receiver::start("deliver", on_arrival).await?;

    let tenant = Tenant::create(setup::http_client(args.clients + 4)?, target).await?;
    let handles = tenant.create_identities(args.identities).await?;
    let webhook = register_webhook(&tenant, &receiver.url).await?;
    let identities = handles
        .into_iter()
        .map(|handle| -> anyhow::Result<(Url, String)> {
            Ok((tenant.events_url(&handle)?, handle))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let identities = Arc::new(identities);
    let body = Arc::new(EventBody::new());
    let errors = Arc::new(Errors::default());

    // Each client ticks every `clients / rate` seconds, the clients' first ticks spread over
    // one period so they do not all append in the same instant.
    //
    // `Burst` rather than `Delay`: ticks stay on the fixed schedule `first + n × period`, so
    // the offered rate is `--rate` whatever the timer's 1 ms granularity and after a slow
    // append the client catches up (one request in flight, so a catch-up is at most
    // `clients` appends at once). `Delay` would restart the schedule from each late tick:
    // the offered rate would sag quietly below `--rate` whenever the server slows down,
    // flattering deliveries/s and latency, and the clients' phases would drift together.
    // If the server cannot keep up at all, appending still stops at `--duration`, and the
    // shortfall shows in `appended` (against rate × secs).
    let period = Duration::from_secs_f64(args.clients as f64 / f64::from(args.rate))
        .max(Duration::from_micros(1));
    let per_client = expected / args.clients + 1;
    let start = tokio::time::Instant::now();
    let until = start + duration;
    let mut clients = JoinSet::new();
    for client in 0..args.clients {
        let (tenant, identities, body, errors) = (
            tenant.clone(),
            identities.clone(),
            body.clone(),
            errors.clone(),
        );
        let first = start + period.mul_f64(client as f64 / args.clients as f64);
        let seed = rand::random::<u64>();
        clients.spawn(async move {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut acknowledged: Vec<Sent> = Vec::with_capacity(per_client);
            let mut ticks = tokio::time::interval_at(first, period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
            loop {
                let due = ticks.tick().await;
                if due >= until || tokio::time::Instant::now() >= until {
                    break;
                }
                let (url, handle) = &identities[rng.random_range(0..identities.len())];
                let id = EventId::generate().to_string();
                let request = tenant.post_json(url.clone(), body.with_id(&id, handle));
                let at = Instant::now();
                let sent = request.send().await;
                match check(sent, StatusCode::CREATED).await {
                    Ok(response) => {
                        // 201 is only sent after the commit (spec §3): the event is
                        // acknowledged, and its webhook delivery is owed, from here on.
                        acknowledged.push(Sent {
                            id,
                            at,
                            answered: Instant::now(),
                        });
                        // Read to the end so the connection goes back to the pool.
                        if let Err(error) = response.bytes().await {
                            errors.record("deliver", &format!("reading the append: {error}"));
                        }
                    }
                    Err(why) => errors.record("deliver", &why),
                }
            }
            acknowledged
        });
    }
    let mut sent: Vec<Sent> = Vec::with_capacity(expected);
    while let Some(joined) = clients.join_next().await {
        sent.extend(joined.context("an appending client panicked")?);
    }

    // Wait for the stragglers: every acknowledged id arrived, or --drain is over. Arrived
    // ids are dropped from `pending`, so each check only looks at what is still owed.
    let drain_until = Instant::now() + Duration::from_secs(args.drain);
    let mut pending: Vec<usize> = (0..sent.len()).collect();
    loop {
        {
            let arrivals = lock(&arrivals);
            pending.retain(|&i| !arrivals.contains_key(&sent[i].id));
        }
        if pending.is_empty() || Instant::now() >= drain_until {
            break;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
    // So the server does not go on retrying what is missing against a closed port for hours.
    delete_webhook(&tenant, &webhook).await;
    drop(receiver);

    let arrivals = std::mem::take(&mut *lock(&arrivals));
    let mut latency = Latency::new();
    let mut append_latency = Latency::new();
    let mut delivered = 0_u64;
    let mut last_arrival: Option<Instant> = None;
    for append in &sent {
        append_latency.record(append.answered.saturating_duration_since(append.at));
        if let Some(arrival) = arrivals.get(&append.id) {
            delivered += 1;
            latency.record(arrival.first.saturating_duration_since(append.at));
            last_arrival = last_arrival.max(Some(arrival.first));
        }
    }
    let first_append = sent.iter().map(|append| append.at).min();
    let deliveries_per_sec = match (first_append, last_arrival) {
        (Some(first), Some(last)) if last > first => {
            Some(delivered as f64 / (last - first).as_secs_f64())
        }
        _ => None,
    };
    let measured = latency.count() > 0;
    let missing = sent.len() as u64 - delivered;
    let duplicated = arrivals
        .values()
        .filter(|arrival| arrival.count > 1)
        .count() as u64;

    Report::new("deliver")
        .int("rate", "rate", u64::from(args.rate))
        .int("clients", "clients", args.clients as u64)
        .int("identities", "identities", args.identities as u64)
        .float("durationSecs", "secs", duration.as_secs_f64(), 0)
        .int("appended", "appended", sent.len() as u64)
        .maybe_float("deliveriesPerSec", "deliveries/s", deliveries_per_sec, 0)
        .maybe_float("p50Ms", "p50 ms", measured.then(|| latency.p50_ms()), 3)
        .maybe_float("p99Ms", "p99 ms", measured.then(|| latency.p99_ms()), 3)
        .maybe_float("maxMs", "max ms", measured.then(|| latency.max_ms()), 3)
        .maybe_float(
            "appendP99Ms",
            "append p99 ms",
            (append_latency.count() > 0).then(|| append_latency.p99_ms()),
            3,
        )
        .int("missing", "missing", missing)
        .int("duplicated", "duplicated", duplicated)
        .int("errors", "errors", errors.count())
        .print();
    Ok(())
}

/// Registers the receiver as a webhook for every event of the tenant; answers its id.
pub(super) async fn register_webhook(
    tenant: &Tenant,
    receiver_url: &str,
) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct Created {
        id: String,
    }
    let body = serde_json::to_vec(&serde_json::json!({ "url": receiver_url }))?;
    let response = tenant
        .post_json(tenant.api_url("/v1/webhooks")?, body)
        .send()
        .await
        .context("registering the webhook")?;
    let status = response.status();
    let text = response
        .text()
        .await
        .context("reading the webhook registration")?;
    if status == StatusCode::CREATED {
        let created: Created =
            serde_json::from_str(&text).context("decoding the created webhook")?;
        return Ok(created.id);
    }
    let code = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|error| error["error"]["code"].as_str().map(str::to_owned));
    if status == StatusCode::BAD_REQUEST && code.as_deref() == Some("invalid_url") {
        bail!(
            "the server refused the receiver's loopback URL {receiver_url} (400 invalid_url): \
             start it with SEQHOOK_ALLOW_PRIVATE_WEBHOOKS=true"
        );
    }
    let text: String = text.chars().take(ERROR_BODY_CHARS).collect();
    bail!("registering the webhook: {status}: {text}")
}

/// Best effort: the figures are already measured, so a failure is reported, not fatal.
pub(super) async fn delete_webhook(tenant: &Tenant, id: &str) {
    let url = match tenant.api_url(&format!("/v1/webhooks/{id}")) {
        Ok(url) => url,
        Err(error) => {
            eprintln!("deleting the webhook: {error:#}");
            return;
        }
    };
    if let Err(why) = check(tenant.delete(url).send().await, StatusCode::NO_CONTENT).await {
        eprintln!("deleting the webhook {id}: {why}");
    }
}

/// Nothing panics while holding the lock, but if something did, the map is still sound.
fn lock(arrivals: &Mutex<HashMap<String, Arrival>>) -> MutexGuard<'_, HashMap<String, Arrival>> {
    arrivals.lock().unwrap_or_else(PoisonError::into_inner)
}
