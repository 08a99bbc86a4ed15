//! `bench catchup`: how fast a consumer that was away reads its backlog — `readers`
//! identities pre-filled with `events` events each, paged through from `since=0` with
//! `limit=<page>`, following `cursor` while `hasMore`, again and again for the duration.
//!
//! Compare with "read pages of 100" of `shared/bench/raw-pg/run.sh` (the bare indexed
//! `SELECT … WHERE identity_id = $1 AND seq > $2 ORDER BY seq LIMIT 100`) by running with
//! `--page 100`; the gap is HTTP, auth and rendering envelopes as JSON. The default page of
//! 1,000 is what a catching-up consumer would ask for. Every full pass must see seq
//! 1..=events in order: an ordering or gap violation counts as an error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::{StatusCode, Url};
use tokio::task::JoinSet;

use super::Target;
use super::histogram::Latency;
use super::payload::EventBody;
use super::report::{Errors, Report, Window};
use super::setup::{self, Page, Tenant, check};

const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// The API's largest batch: the fewest requests to pre-fill with.
const FILL_BATCH: u64 = 1_000;

const ERROR_PAUSE: Duration = Duration::from_millis(10);

#[derive(Debug, clap::Args)]
pub struct CatchupArgs {
    /// Events pre-filled into each reader's identity (not timed).
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Events per page (`limit`, 1..=1000).
    #[arg(long, default_value_t = 1_000)]
    pub page: u64,
    /// Concurrent readers, each paging through its own identity.
    #[arg(long, default_value_t = 4)]
    pub readers: usize,
}

/// What one reader measured.
#[derive(Default)]
struct Tally {
    events: u64,
    pages: u64,
    latency: Latency,
}

pub(crate) async fn run(target: &Target, args: CatchupArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=1000).contains(&args.page),
        "--page must be 1..=1000 (the API's limit)"
    );
    anyhow::ensure!(
        args.events > 0 && args.readers > 0,
        "--events and --readers must be at least 1"
    );

    let tenant = Tenant::create(setup::http_client(args.readers)?, target).await?;
    let handles = tenant.create_identities(args.readers).await?;
    eprintln!(
        "catchup: pre-filling {} identities with {} events each",
        args.readers, args.events
    );
    let mut fills = JoinSet::new();
    for handle in &handles {
        let (tenant, handle, url, events) = (
            tenant.clone(),
            handle.clone(),
            tenant.events_url(handle)?,
            args.events,
        );
        fills.spawn(async move { fill(&tenant, &handle, url, events).await });
    }
    while let Some(joined) = fills.join_next().await {
        joined.context("a pre-filling task panicked")??;
    }

    let errors = Arc::new(Errors::default());
    let window = Window::after_warmup(target.duration_or(DEFAULT_DURATION));
    let mut readers = JoinSet::new();
    for handle in &handles {
        let (tenant, url, errors) = (tenant.clone(), tenant.events_url(handle)?, errors.clone());
        readers.spawn(read(tenant, url, args.events, args.page, window, errors));
    }
    let mut total = Tally::default();
    while let Some(joined) = readers.join_next().await {
        let tally = joined.context("a reader panicked")?;
        total.events += tally.events;
        total.pages += tally.pages;
        total.latency.merge(&tally.latency);
    }

    let secs = window.secs();
    Report::new("catchup")
        .int("events", "events", args.events)
        .int("page", "page", args.page)
        .int("readers", "readers", args.readers as u64)
        .float("durationSecs", "secs", secs, 0)
        .float("eventsPerSec", "events/s", total.events as f64 / secs, 0)
        .float("pagesPerSec", "pages/s", total.pages as f64 / secs, 0)
        .float("p50Ms", "p50 ms", total.latency.p50_ms(), 3)
        .float("p99Ms", "p99 ms", total.latency.p99_ms(), 3)
        .float("maxMs", "max ms", total.latency.max_ms(), 3)
        .int("errors", "errors", errors.count())
        .print();
    Ok(())
}

/// Appends `events` events in batches; a failure here is a setup failure.
async fn fill(tenant: &Tenant, handle: &str, url: Url, events: u64) -> anyhow::Result<()> {
    let body = EventBody::new();
    let mut filled = 0;
    while filled < events {
        let batch = FILL_BATCH.min(events - filled);
        let sent = tenant
            .post_json(url.clone(), body.body(handle, batch as usize))
            .send()
            .await;
        match check(sent, StatusCode::CREATED).await {
            Ok(response) => drop(
                response
                    .bytes()
                    .await
                    .context("reading a pre-fill append")?,
            ),
            Err(why) => bail!("pre-filling {handle} at event {filled}: {why}"),
        }
        filled += batch;
    }
    Ok(())
}

/// Pages through the identity from 0 until the window ends, checking each pass is 1..=events.
async fn read(
    tenant: Tenant,
    mut url: Url,
    events: u64,
    limit: u64,
    window: Window,
    errors: Arc<Errors>,
) -> Tally {
    let mut tally = Tally::default();
    let (mut since, mut expected) = (0_u64, 1_u64);
    while !window.is_over() {
        url.set_query(Some(&format!("since={since}&limit={limit}")));
        let started = Instant::now();
        let outcome = match check(tenant.get(url.clone()).send().await, StatusCode::OK).await {
            Ok(response) => match response.bytes().await {
                Ok(bytes) => serde_json::from_slice::<Page>(&bytes)
                    .map_err(|e| format!("decoding a page: {e}")),
                Err(e) => Err(format!("reading a page: {e}")),
            },
            Err(why) => Err(why),
        };
        let done = Instant::now();
        let page = match outcome {
            Ok(page) => page,
            Err(why) => {
                errors.record("catchup", &why);
                (since, expected) = (0, 1);
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        if window.counts(done) {
            tally.events += page.events.len() as u64;
            tally.pages += 1;
            tally.latency.record(done - started);
        }
        for event in &page.events {
            if event.seq != expected {
                errors.record(
                    "catchup",
                    &format!("expected seq {expected}, read {}", event.seq),
                );
            }
            expected = event.seq + 1;
        }
        if page.has_more && page.cursor > since {
            since = page.cursor;
            continue;
        }
        if page.has_more {
            errors.record(
                "catchup",
                &format!(
                    "hasMore with a cursor ({}) that did not advance",
                    page.cursor
                ),
            );
        } else if expected != events + 1 {
            errors.record(
                "catchup",
                &format!("a pass ended at seq {} of {events}", expected - 1),
            );
        }
        (since, expected) = (0, 1);
    }
    tally
}
