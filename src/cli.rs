//! The command line: `seqhook [serve] | migrate | tenants create | bench | listen`.

use clap::{Parser, Subcommand};

use crate::bench::BenchArgs;
use crate::config::{DatabaseArgs, ServeConfig};
use crate::listen::ListenArgs;

#[derive(Parser, Debug)]
#[command(
    name = "seqhook",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// With no subcommand, seqhook serves.
    #[command(flatten)]
    pub serve: ServeConfig,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the API (the default).
    Serve(Box<ServeConfig>),
    /// Apply the embedded database migrations, then exit.
    Migrate(DatabaseArgs),
    /// Manage tenants.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Drive a running server and report throughput and latency.
    Bench(BenchArgs),
    /// Forward one identity's events, signed like webhook deliveries, to a local URL.
    ///
    /// Webhooks for a machine without a public URL: long-polls the identity and POSTs each
    /// event in seq order, retrying until the receiver answers 2xx. The cursor is saved after
    /// every accepted event, so a restart resumes where it stopped.
    Listen(Box<ListenArgs>),
}

#[derive(Subcommand, Debug)]
pub enum TenantsCommand {
    /// Create a tenant and print its first API key (shown only once).
    Create {
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}
