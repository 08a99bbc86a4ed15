//! `bench append`: events/s and request latency of `POST /v1/identities/{h}/events`, with
//! `clients` connections each keeping one request in flight for the duration.
//!
//! Compare with `shared/bench/raw-pg/run.sh`, which runs the bare SQL of the same append
//! (counter-row `UPDATE … RETURNING`, then the `INSERT`) with the same 64 clients and 10 s:
//! - defaults (`--identities 10000 --batch 1`) against "append 1/txn, 10k identities";
//! - `--identities 1` against "append 1/txn, one identity": every client contends on one
//!   counter row, so this is the per-identity ordering cost, not a throughput figure;
//! - `--batch 100` against "append 100/txn, 10k ids".
//!
//! The gap is what HTTP, auth, schema validation, the outbox and the wake-up cost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use reqwest::{StatusCode, Url};
use tokio::task::JoinSet;

use super::Target;
use super::histogram::Latency;
use super::payload::EventBody;
use super::report::{Errors, Report, Window};
use super::setup::{self, Tenant, check};

const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// After a failure, so a refusing server does not turn the clients into a busy loop that
/// steals the cores the server needs.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

#[derive(Debug, clap::Args)]
pub struct AppendArgs {
    /// Concurrent clients, each with one request in flight.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Identities the appends are spread over at random (1: every client on one identity).
    #[arg(long, default_value_t = 10_000)]
    pub identities: usize,
    /// Events per request: 1 sends `{"type","data"}`, more sends `{"events":[…]}` (≤ 1000).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
}

/// What one client task measured.
struct Tally {
    requests: u64,
    latency: Latency,
}

pub(crate) async fn run(target: &Target, args: AppendArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    anyhow::ensure!(args.identities > 0, "--identities must be at least 1");
    anyhow::ensure!(
        (1..=1000).contains(&args.batch),
        "--batch must be 1..=1000 (the API's batch limit)"
    );

    let tenant = Tenant::create(setup::http_client(args.clients)?, target).await?;
    let handles = tenant.create_identities(args.identities).await?;
    let identities = handles
        .into_iter()
        .map(|handle| -> anyhow::Result<(Url, String)> {
            Ok((tenant.events_url(&handle)?, handle))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let identities = Arc::new(identities);
    let body = Arc::new(EventBody::new());
    let errors = Arc::new(Errors::default());
    let window = Window::after_warmup(target.duration_or(DEFAULT_DURATION));

    let mut clients = JoinSet::new();
    for _ in 0..args.clients {
        let (tenant, identities, body, errors) = (
            tenant.clone(),
            identities.clone(),
            body.clone(),
            errors.clone(),
        );
        let (seed, batch) = (rand::random::<u64>(), args.batch);
        clients.spawn(async move {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut tally = Tally {
                requests: 0,
                latency: Latency::new(),
            };
            while !window.is_over() {
                let (url, handle) = &identities[rng.random_range(0..identities.len())];
                let started = Instant::now();
                let sent = tenant
                    .post_json(url.clone(), body.body(handle, batch))
                    .send()
                    .await;
                let outcome = match check(sent, StatusCode::CREATED).await {
                    // Read to the end so the connection goes back to the pool.
                    Ok(response) => response
                        .bytes()
                        .await
                        .map(drop)
                        .map_err(|e| format!("reading the response: {e}")),
                    Err(why) => Err(why),
                };
                let done = Instant::now();
                match outcome {
                    Ok(()) if window.counts(done) => {
                        tally.requests += 1;
                        tally.latency.record(done - started);
                    }
                    Ok(()) => {}
                    Err(why) => {
                        errors.record("append", &why);
                        tokio::time::sleep(ERROR_PAUSE).await;
                    }
                }
            }
            tally
        });
    }

    let mut total = Tally {
        requests: 0,
        latency: Latency::new(),
    };
    while let Some(joined) = clients.join_next().await {
        let tally = joined.context("an append client panicked")?;
        total.requests += tally.requests;
        total.latency.merge(&tally.latency);
    }

    let secs = window.secs();
    Report::new("append")
        .int("clients", "clients", args.clients as u64)
        .int("identities", "identities", args.identities as u64)
        .int("batch", "batch", args.batch as u64)
        .float("durationSecs", "secs", secs, 0)
        .float(
            "eventsPerSec",
            "events/s",
            (total.requests * args.batch as u64) as f64 / secs,
            0,
        )
        .float(
            "requestsPerSec",
            "requests/s",
            total.requests as f64 / secs,
            0,
        )
        .float("p50Ms", "p50 ms", total.latency.p50_ms(), 3)
        .float("p99Ms", "p99 ms", total.latency.p99_ms(), 3)
        .float("maxMs", "max ms", total.latency.max_ms(), 3)
        .int("errors", "errors", errors.count())
        .print();
    Ok(())
}
