//! `bench hold`: what `connections` concurrent held long-polls (or, with `--streams`, open
//! SSE streams; with `--ws`, open WebSockets) cost the server — its peak RSS, the errors it answers, and how many
//! PostgreSQL connections it uses meanwhile.
//!
//! The raw-pg limits have no counterpart: this checks the design claim of spec §1 that a
//! held long-poll holds no database connection, so the PostgreSQL figure should stay at the
//! server's pool size (plus its one listener) however many polls are held. Both this process
//! and the server need an open-files limit above `connections` (`ulimit -n`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::{StatusCode, Url};
use sqlx::{Connection, PgConnection};
use tokio::task::JoinSet;

use super::Target;
use super::report::{Errors, Report};
use super::setup::{self, Tenant, check};

/// Long enough for every connection to be re-issued at least once after its 25 s wait.
const DEFAULT_DURATION: Duration = Duration::from_secs(30);

/// Long-polls opened per tick while ramping, so the server's accept queue is never flooded.
const WAVE: usize = 500;
const WAVE_GAP: Duration = Duration::from_millis(200);
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

const ERROR_PAUSE: Duration = Duration::from_secs(1);

#[derive(Debug, clap::Args)]
pub struct HoldArgs {
    /// Concurrent long-polls to hold, each on its own connection.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Identities the long-polls are spread over.
    #[arg(long, default_value_t = 1_000)]
    pub identities: usize,
    /// The server process whose RSS is sampled [default: found by its command line].
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Hold SSE streams (`…/events/stream`) instead of long-polls.
    #[arg(long, conflicts_with = "ws")]
    pub streams: bool,
    /// Hold WebSockets (`…/events/ws`) instead of long-polls.
    #[arg(long)]
    pub ws: bool,
    /// PostgreSQL to count the server's connections in (a `postgres://` URL).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

pub(crate) async fn run(target: &Target, args: HoldArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.connections > 0 && args.identities > 0,
        "--connections and --identities must be at least 1"
    );
    warn_if_few_files(args.connections);
    let pid = args.server_pid.or_else(find_server_pid);
    if pid.is_none() {
        eprintln!("hold: no `seqhook … serve` process found; RSS not measured (pass --server-pid)");
    }
    let mut pg = match args.database_url.as_deref() {
        Some(url) if url.starts_with("postgres") => Some(
            PgConnection::connect(url)
                .await
                .context("connecting to DATABASE_URL to count connections")?,
        ),
        Some(_) => {
            eprintln!("hold: DATABASE_URL is not PostgreSQL; database connections not counted");
            None
        }
        None => None,
    };

    // No idle limit: every held poll is its own connection, and each is reused when re-issued.
    let tenant = Tenant::create(setup::http_client(usize::MAX)?, target).await?;
    let handles = tenant.create_identities(args.identities).await?;
    let urls = handles
        .iter()
        .map(|handle| -> anyhow::Result<Url> {
            if args.streams {
                return tenant.api_url(&format!("/v1/identities/{handle}/events/stream"));
            }
            if args.ws {
                let mut url = tenant.api_url(&format!("/v1/identities/{handle}/events/ws"))?;
                let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
                url.set_scheme(scheme)
                    .map_err(|()| anyhow::anyhow!("{url} cannot be a WebSocket URL"))?;
                return Ok(url);
            }
            let mut url = tenant.events_url(handle)?;
            url.set_query(Some("since=0&wait=25"));
            Ok(url)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let in_flight = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Errors::default());
    let end = Instant::now() + target.duration_or(DEFAULT_DURATION);
    let (mut held, mut rss_mb, mut pg_connections) = (0_usize, None::<f64>, None::<u64>);
    let mut last_sample: Option<Instant> = None;
    let mut holders = JoinSet::new();
    let mut ticks = tokio::time::interval(WAVE_GAP);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        if Instant::now() >= end {
            break;
        }
        let wave = (args.connections - holders.len()).min(WAVE);
        for _ in 0..wave {
            let url = urls[holders.len() % urls.len()].clone();
            let (tenant, in_flight, errors) = (tenant.clone(), in_flight.clone(), errors.clone());
            if args.streams {
                holders.spawn(hold_stream(tenant, url, in_flight, errors));
            } else if args.ws {
                holders.spawn(hold_socket(tenant, url, in_flight, errors));
            } else {
                holders.spawn(hold_one(tenant, url, in_flight, errors));
            }
        }
        if last_sample.is_none_or(|at| at.elapsed() >= SAMPLE_EVERY) {
            last_sample = Some(Instant::now());
            held = held.max(in_flight.load(Ordering::Relaxed));
            if let Some(rss) = pid.and_then(rss_mb_of) {
                rss_mb = Some(rss_mb.map_or(rss, |max| max.max(rss)));
            }
            if let Some(conn) = pg.as_mut() {
                if let Some(count) = count_pg_connections(conn).await {
                    pg_connections = Some(pg_connections.map_or(count, |max| max.max(count)));
                }
            }
        }
    }
    // Bounded: the polls never end by themselves, so the scenario ends them.
    holders.abort_all();

    let scenario = match (args.streams, args.ws) {
        (true, _) => "hold-streams",
        (_, true) => "hold-ws",
        _ => "hold",
    };
    Report::new(scenario)
        .int("connections", "connections", args.connections as u64)
        .int("identities", "identities", args.identities as u64)
        .int("held", "held", held as u64)
        .int("errors", "errors", errors.count())
        .maybe_float("maxRssMb", "max RSS MB", rss_mb, 1)
        .maybe_int("pgConnections", "PG conns", pg_connections)
        .print();
    Ok(())
}

/// Keeps one long-poll open, re-issuing it as soon as it answers (an empty answer after
/// 25 s is the normal case: nothing is appended here).
async fn hold_one(tenant: Tenant, url: Url, in_flight: Arc<AtomicUsize>, errors: Arc<Errors>) {
    loop {
        in_flight.fetch_add(1, Ordering::Relaxed);
        let outcome = match check(tenant.get(url.clone()).send().await, StatusCode::OK).await {
            Ok(response) => response
                .bytes()
                .await
                .map(drop)
                .map_err(|e| format!("reading a long-poll: {e}")),
            Err(why) => Err(why),
        };
        in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Err(why) = outcome {
            errors.record("hold", &why);
            tokio::time::sleep(ERROR_PAUSE).await;
        }
    }
}

/// Keeps one SSE stream open, re-opening it if it ends or fails. Nothing is appended, so
/// only heartbeats arrive.
async fn hold_stream(tenant: Tenant, url: Url, in_flight: Arc<AtomicUsize>, errors: Arc<Errors>) {
    loop {
        // A stream only ever ends in error here: nothing is appended, and the server only
        // ends streams when it shuts down.
        let why = match check(tenant.get(url.clone()).send().await, StatusCode::OK).await {
            Ok(mut response) => {
                in_flight.fetch_add(1, Ordering::Relaxed);
                let ended = loop {
                    match response.chunk().await {
                        Ok(Some(_)) => continue,
                        Ok(None) => break "the server ended a stream".to_owned(),
                        Err(e) => break format!("reading a stream: {e}"),
                    }
                };
                in_flight.fetch_sub(1, Ordering::Relaxed);
                ended
            }
            Err(why) => why,
        };
        errors.record("hold", &why);
        tokio::time::sleep(ERROR_PAUSE).await;
    }
}

/// Keeps one WebSocket open, re-opening it if it closes or fails. Nothing is appended, so
/// only the first `cursor` message and pings arrive (the client answers the pings).
async fn hold_socket(tenant: Tenant, url: Url, in_flight: Arc<AtomicUsize>, errors: Arc<Errors>) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    loop {
        let mut request = match url.as_str().into_client_request() {
            Ok(request) => request,
            Err(e) => return errors.record("hold", &format!("a WebSocket request: {e}")),
        };
        request.headers_mut().insert(
            reqwest::header::AUTHORIZATION,
            tenant.authorization().clone(),
        );
        let why = match tokio_tungstenite::connect_async(request).await {
            Ok((mut socket, _)) => {
                in_flight.fetch_add(1, Ordering::Relaxed);
                let ended = loop {
                    match socket.next().await {
                        Some(Ok(_)) => continue,
                        None => break "the server closed a WebSocket".to_owned(),
                        Some(Err(e)) => break format!("reading a WebSocket: {e}"),
                    }
                };
                in_flight.fetch_sub(1, Ordering::Relaxed);
                ended
            }
            Err(e) => format!("opening a WebSocket: {e}"),
        };
        errors.record("hold", &why);
        tokio::time::sleep(ERROR_PAUSE).await;
    }
}

/// The server's connections to its database: ours is in `pg_stat_activity` too, so minus one.
async fn count_pg_connections(conn: &mut PgConnection) -> Option<u64> {
    let sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()";
    let count: i64 = sqlx::query_scalar::<sqlx::Postgres, i64>(sql)
        .fetch_one(&mut *conn)
        .await
        .ok()?;
    u64::try_from(count - 1).ok()
}

pub(super) fn rss_mb_of(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?;
    let kib: f64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}

/// A process whose argv[0] ends with `seqhook` and whose arguments include `serve`; not us.
pub(super) fn find_server_pid() -> Option<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .find(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let mut argv = cmdline.split(|&b| b == 0);
            argv.next().is_some_and(|argv0| argv0.ends_with(b"seqhook"))
                && argv.any(|arg| arg == b"serve")
        })
}

/// Each held poll is a file descriptor here; past the soft limit, connects fail as errors.
fn warn_if_few_files(connections: usize) {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<usize>().ok());
    if let Some(soft) = soft.filter(|&soft| soft < connections + 100) {
        eprintln!(
            "hold: open-files limit is {soft}, below {connections} connections; raise it (`ulimit -n`) here and for the server"
        );
    }
}
