//! `bench wake`: how long after an append is acknowledged a held long-poll on the same
//! identity answers with it — the headline "milliseconds, not a polling interval" figure.
//!
//! The raw-pg limits have no counterpart (they have no waiters): read it beside the append
//! p50 of `bench append`, since a wake-up costs about one notification round trip on top of
//! the commit. Each of `pairs` concurrent pairs owns an identity, so pairs never wake each
//! other; `--pairs` above 1 measures wake-ups under concurrent appends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::{StatusCode, Url};
use tokio::task::JoinSet;

use super::Target;
use super::histogram::Latency;
use super::payload::EventBody;
use super::report::{Errors, Report};
use super::setup::{self, Appended, Page, Tenant, check};

/// Time for the long-poll to reach the server and be registered as a waiter before the
/// append. The API has no "armed" signal for clients, and this is a load tool rather than a
/// test: a poll that is not yet held still answers correctly (it reads the event at once),
/// it only measures a different path, so a sleep is the honest trade-off here.
const ARM_DELAY: Duration = Duration::from_millis(5);

const ERROR_PAUSE: Duration = Duration::from_millis(100);

#[derive(Debug, clap::Args)]
pub struct WakeArgs {
    /// Wake-ups to measure, split evenly over the pairs.
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    /// Concurrent (long-poll, appender) pairs, each on its own identity.
    #[arg(long, default_value_t = 1)]
    pub pairs: usize,
    /// Hold the long-polls on this second server, sharing the first one's database
    /// (appends still go to `--url`): the wake-up then crosses processes through
    /// `LISTEN/NOTIFY`.
    #[arg(long)]
    pub poll_url: Option<String>,
}

/// What one pair measured.
#[derive(Default)]
struct Tally {
    latency: Latency,
    /// The long-poll answered before the append's response arrived: legitimate, since the
    /// server wakes waiters at commit, before it writes the append's response.
    poll_first: u64,
}

pub(crate) async fn run(target: &Target, args: WakeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.pairs > 0, "--pairs must be at least 1");
    anyhow::ensure!(
        args.samples >= args.pairs,
        "--samples must be at least --pairs"
    );
    let per_pair = args.samples / args.pairs;

    let tenant = Tenant::create(setup::http_client(2 * args.pairs)?, target).await?;
    let handles = tenant.create_identities(args.pairs).await?;
    let body = Arc::new(EventBody::new());
    let errors = Arc::new(Errors::default());

    let poll_base = args
        .poll_url
        .as_deref()
        .map(|url| url.trim_end_matches('/'));
    let mut pairs = JoinSet::new();
    for handle in handles {
        let urls = Urls {
            append: tenant.events_url(&handle)?,
            poll: match poll_base {
                Some(base) => {
                    let url = format!("{base}/v1/identities/{handle}/events");
                    Url::parse(&url).with_context(|| format!("invalid URL {url}"))?
                }
                None => tenant.events_url(&handle)?,
            },
        };
        let (tenant, body, errors) = (tenant.clone(), body.clone(), errors.clone());
        pairs.spawn(async move { pair(tenant, handle, urls, body, per_pair, errors).await });
    }
    let mut total = Tally::default();
    while let Some(joined) = pairs.join_next().await {
        let tally = joined.context("a wake pair panicked")?;
        total.latency.merge(&tally.latency);
        total.poll_first += tally.poll_first;
    }

    Report::new("wake")
        .text(
            "wakeUp",
            "wake-up",
            if args.poll_url.is_some() {
                "cross-process"
            } else {
                "in-process"
            },
        )
        .int("pairs", "pairs", args.pairs as u64)
        .int("samples", "samples", total.latency.count())
        .float("p50Ms", "p50 ms", total.latency.p50_ms(), 3)
        .float("p99Ms", "p99 ms", total.latency.p99_ms(), 3)
        .float("maxMs", "max ms", total.latency.max_ms(), 3)
        .int("pollFirst", "poll first", total.poll_first)
        .int("errors", "errors", errors.count())
        .print();
    Ok(())
}

/// Where a pair appends, and where it long-polls: the same server, or another one.
struct Urls {
    append: Url,
    poll: Url,
}

async fn pair(
    tenant: Tenant,
    handle: String,
    urls: Urls,
    body: Arc<EventBody>,
    samples: usize,
    errors: Arc<Errors>,
) -> Tally {
    let mut tally = Tally::default();
    let mut head = 0_u64;
    for _ in 0..samples {
        let mut poll_url = urls.poll.clone();
        poll_url.set_query(Some(&format!("since={head}&wait=25")));
        let poll = tokio::spawn(long_poll(tenant.get(poll_url)));
        tokio::time::sleep(ARM_DELAY).await;

        let sent = tenant
            .post_json(urls.append.clone(), body.body(&handle, 1))
            .send()
            .await;
        let appended = match check(sent, StatusCode::CREATED).await {
            Ok(response) => match response.bytes().await {
                Ok(bytes) => {
                    let arrived = Instant::now();
                    serde_json::from_slice::<Appended>(&bytes)
                        .map_err(|e| format!("decoding the append: {e}"))
                        .and_then(|a| {
                            a.events
                                .first()
                                .map(|e| (e.seq, arrived))
                                .ok_or_else(|| "append answered no event".to_owned())
                        })
                }
                Err(e) => Err(format!("reading the append: {e}")),
            },
            Err(why) => Err(why),
        };
        let (seq, append_arrived) = match appended {
            Ok(appended) => appended,
            Err(why) => {
                // The append may still have committed: start the next sample from the head.
                poll.abort();
                errors.record("wake", &why);
                tokio::time::sleep(ERROR_PAUSE).await;
                match tenant.head_seq(&handle).await {
                    Ok(seq) => head = seq,
                    Err(why) => errors.record("wake", &why),
                }
                continue;
            }
        };

        let expected = head + 1;
        head = seq;
        let polled = match poll.await {
            Ok(polled) => polled,
            Err(e) => Err(format!("the long-poll task failed: {e}")),
        };
        match polled {
            Ok((first, poll_arrived)) if first == Some(expected) && seq == expected => {
                if poll_arrived < append_arrived {
                    tally.poll_first += 1;
                }
                tally
                    .latency
                    .record(poll_arrived.saturating_duration_since(append_arrived));
            }
            Ok((first, _)) => errors.record(
                "wake",
                &format!(
                    "expected seq {expected}, the append got {seq} and the long-poll {first:?}"
                ),
            ),
            Err(why) => errors.record("wake", &why),
        }
    }
    tally
}

/// The first seq the long-poll answered (None: it timed out empty) and when its body arrived.
async fn long_poll(request: reqwest::RequestBuilder) -> Result<(Option<u64>, Instant), String> {
    let response = check(request.send().await, StatusCode::OK).await?;
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("reading the long-poll: {e}"))?;
    let arrived = Instant::now();
    let page: Page =
        serde_json::from_slice(&bytes).map_err(|e| format!("decoding the long-poll: {e}"))?;
    Ok((page.events.first().map(|e| e.seq), arrived))
}
