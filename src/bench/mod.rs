//! `seqhook bench`: a load tool that drives a running server over HTTP, never the store
//! directly, so its figures include everything a user pays for (HTTP, auth, JSON Schema,
//! the append transaction, wake-ups).
//!
//! One scenario per file: `append` (throughput and latency), `wake` (append → long-poll
//! latency), `hold` (many held long-polls: server memory, database connections), `catchup`
//! (paging through a long log), `deliver` (webhook push to an in-process receiver), `soak`
//! (hours of constant load with the retention sweep running: does anything grow?). Each
//! creates its own tenant, so runs never see each other's data, and prints an aligned table
//! plus one JSON line on stdout (§7 of the spec). The figures are meant to be read beside
//! `shared/bench/raw-pg/run.sh`, the bare-SQL limit of the same database on the same
//! machine, run in the same session.
//!
//! Not here: timing assertions. Speed is measured by this tool, never by tests.

pub mod append;
pub mod catchup;
pub mod deliver;
pub mod hold;
pub mod soak;
pub mod wake;

mod flatness;
mod histogram;
mod payload;
mod receiver;
mod report;
mod setup;

use std::time::Duration;

/// Drive a running server with one scenario and print its figures (spec §7).
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub scenario: Scenario,

    /// Base URL of the seqhook server to drive.
    #[arg(
        long,
        env = "SEQHOOK_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,

    /// Operator token; used once, to create the bench's own tenant. Not global because clap
    /// forbids global arguments that are required: give it before the scenario, or by env.
    #[arg(long, env = "SEQHOOK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,

    /// Seconds to measure [default: 10; hold: 30]. `wake` runs for its --samples instead.
    #[arg(long, global = true)]
    pub duration: Option<u64>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Scenario {
    /// Append throughput and latency: clients × identities × batch size.
    Append(append::AppendArgs),
    /// Wake-up latency: append response → held long-poll response.
    Wake(wake::WakeArgs),
    /// Many concurrent held long-polls: server RSS, errors, PostgreSQL connections.
    Hold(hold::HoldArgs),
    /// Reading a long log in pages from seq 0.
    Catchup(catchup::CatchupArgs),
    /// Webhook push: deliveries/s and append → arrival latency, to an in-process receiver.
    Deliver(deliver::DeliverArgs),
    /// A steady state under constant load with a short retention: one line a minute, and
    /// whether every series stayed flat and nothing was lost.
    Soak(soak::SoakArgs),
}

/// What every scenario needs to know about the server and the run.
pub(crate) struct Target {
    url: String,
    admin_token: String,
    duration: Option<Duration>,
}

impl Target {
    /// The measured duration: `--duration` if given, else the scenario's own default.
    fn duration_or(&self, default: Duration) -> Duration {
        self.duration.unwrap_or(default)
    }
}

/// Runs one scenario against the server and prints its figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.duration != Some(0),
        "--duration must be at least 1 second"
    );
    let target = Target {
        url: args.url.trim_end_matches('/').to_owned(),
        admin_token: args.admin_token,
        duration: args.duration.map(Duration::from_secs),
    };
    match args.scenario {
        Scenario::Append(scenario) => append::run(&target, scenario).await,
        Scenario::Wake(scenario) => wake::run(&target, scenario).await,
        Scenario::Hold(scenario) => hold::run(&target, scenario).await,
        Scenario::Catchup(scenario) => catchup::run(&target, scenario).await,
        Scenario::Deliver(scenario) => deliver::run(&target, scenario).await,
        Scenario::Soak(scenario) => soak::run(&target, scenario).await,
    }
}
