//! `bench deliver`: webhook push end to end. Events are appended at a steady rate while a
//! receiver in this process, on loopback, records when each arrives. Figures: deliveries/s,
//! append → arrival latency (from just before the append is sent to the delivery's
//! arrival), and events that never arrived or arrived twice. Goal on 2 cores: ≥ 2,000
//! deliveries/s, p99 ≤ 25 ms, none missing, none duplicated.
//!
//! The server must allow loopback webhooks: `SEQHOOK_ALLOW_PRIVATE_WEBHOOKS=true`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use rand::Rng;
use reqwest::StatusCode as ClientStatus;
use tokio::task::JoinSet;

use super::Target;
use super::histogram::Latency;
use super::payload::EventBody;
use super::report::{Errors, Report};
use super::setup::{self, Tenant, check};

/// When each event id first arrived, and how many times it did.
type Arrivals = Arc<Mutex<HashMap<String, (Instant, u32)>>>;

#[derive(Debug, clap::Args)]
pub struct DeliverArgs {
    /// Events appended per second, in total.
    #[arg(long, default_value_t = 2500)]
    pub rate: u32,
    /// Identities the events are spread over.
    #[arg(long, default_value_t = 100)]
    pub identities: usize,
    /// Appending tasks sharing the rate.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Seconds to wait for stragglers once appending stops.
    #[arg(long, default_value_t = 30)]
    pub drain: u64,
}

pub(crate) async fn run(target: &Target, args: DeliverArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rate > 0 && args.clients > 0 && args.identities > 0,
        "--rate, --clients and --identities must be positive"
    );
    let duration = target.duration_or(Duration::from_secs(10));
    let arrivals: Arrivals = Arc::default();
    let (receiver_url, receiver) = start_receiver(arrivals.clone()).await?;

    let tenant = Tenant::create(setup::http_client(args.clients + 4)?, target).await?;
    let handles = tenant.create_identities(args.identities).await?;
    let webhook = serde_json::to_vec(&serde_json::json!({ "url": receiver_url }))?;
    let registered = tenant
        .post_json(tenant.api_url("/v1/webhooks")?, webhook)
        .send()
        .await;
    if let Err(why) = check(registered, ClientStatus::CREATED).await {
        bail!(
            "registering the webhook: {why} (does the server run with SEQHOOK_ALLOW_PRIVATE_WEBHOOKS=true?)"
        );
    }

    let urls = Arc::new(
        handles
            .iter()
            .map(|handle| Ok((tenant.events_url(handle)?, handle.clone())))
            .collect::<anyhow::Result<Vec<_>>>()?,
    );
    let body = Arc::new(EventBody::new());
    let errors = Arc::new(Errors::default());
    let started = Instant::now();
    let until = started + duration;
    // Each client ticks at rate/clients; `Delay` keeps the pace steady after a slow
    // append instead of bursting to catch up, so latency reflects the server, not a burst.
    let period = Duration::from_secs_f64(args.clients as f64 / f64::from(args.rate));
    let mut clients = JoinSet::new();
    for _ in 0..args.clients {
        let (tenant, urls, body, errors) =
            (tenant.clone(), urls.clone(), body.clone(), errors.clone());
        clients.spawn(async move {
            let mut sent: Vec<(String, Instant)> = Vec::new();
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while Instant::now() < until {
                ticks.tick().await;
                let (url, handle) = &urls[rand::rng().random_range(0..urls.len())];
                let id = format!("evt_{}", ulid::Ulid::new());
                let event = body.body(handle, 1);
                let mut with_id = format!("{{\"id\":\"{id}\",").into_bytes();
                with_id.extend_from_slice(&event[1..]);
                let at = Instant::now();
                match check(
                    tenant.post_json(url.clone(), with_id).send().await,
                    ClientStatus::CREATED,
                )
                .await
                {
                    Ok(_) => sent.push((id, at)),
                    Err(why) => errors.record("deliver", &why),
                }
            }
            sent
        });
    }
    let mut sent: Vec<(String, Instant)> = Vec::new();
    while let Some(batch) = clients.join_next().await {
        sent.extend(batch.context("an appending task failed")?);
    }

    // A load tool may poll: wait for the last deliveries, bounded by --drain.
    let drain_until = Instant::now() + Duration::from_secs(args.drain);
    loop {
        let arrived = arrivals.lock().expect("arrivals lock").len();
        if arrived >= sent.len() || Instant::now() >= drain_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    receiver.abort();

    let arrivals = arrivals.lock().expect("arrivals lock");
    let mut latency = Latency::new();
    let (mut missing, mut last) = (0u64, started);
    for (id, at) in &sent {
        match arrivals.get(id) {
            Some((arrived, _)) => {
                latency.record(arrived.saturating_duration_since(*at));
                last = last.max(*arrived);
            }
            None => missing += 1,
        }
    }
    let duplicated = arrivals.values().filter(|(_, count)| *count > 1).count() as u64;
    let delivered = sent.len() as u64 - missing;
    let secs = last.duration_since(started).as_secs_f64().max(f64::EPSILON);
    Report::new("deliver")
        .int("rate", "rate", u64::from(args.rate))
        .int("identities", "identities", args.identities as u64)
        .int("appended", "appended", sent.len() as u64)
        .float(
            "deliveriesPerSec",
            "deliveries/s",
            delivered as f64 / secs,
            0,
        )
        .float("p50Ms", "p50 ms", latency.p50_ms(), 3)
        .float("p99Ms", "p99 ms", latency.p99_ms(), 3)
        .float("maxMs", "max ms", latency.max_ms(), 3)
        .int("missing", "missing", missing)
        .int("duplicated", "duplicated", duplicated)
        .int("errors", "errors", errors.count())
        .print();
    Ok(())
}

async fn start_receiver(
    arrivals: Arrivals,
) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the receiver")?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(arrivals);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, server))
}

async fn receive(State(arrivals): State<Arrivals>, headers: HeaderMap) -> StatusCode {
    let now = Instant::now();
    if let Some(id) = headers.get("webhook-id").and_then(|id| id.to_str().ok()) {
        let mut arrivals = arrivals.lock().expect("arrivals lock");
        arrivals.entry(id.to_owned()).or_insert((now, 0)).1 += 1;
    }
    StatusCode::NO_CONTENT
}
