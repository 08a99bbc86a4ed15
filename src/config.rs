//! Configuration, from flags or the environment (flags win).

use std::net::SocketAddr;
use std::time::Duration;

use crate::delivery::schedule::RetrySchedule;
use crate::domain::retention::Retention;
use crate::store::Database;

/// Where seqhook keeps its data when `DATABASE_URL` is unset: a file in the working directory.
pub const EMBEDDED_DATABASE: &str = "sqlite://seqhook.db";

#[derive(clap::Args, Clone, Debug)]
pub struct DatabaseArgs {
    /// `postgres://user@host:port/db`, or `sqlite://path`; unset, the embedded `./seqhook.db`.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub url: Option<String>,
}

impl DatabaseArgs {
    pub fn database(&self) -> anyhow::Result<Database> {
        let url = self
            .url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .unwrap_or(EMBEDDED_DATABASE);
        // Only the scheme is ever echoed back: the rest may hold a password.
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        match scheme {
            "postgres" | "postgresql" => Ok(Database::Postgres(url.to_owned())),
            "sqlite" => Ok(Database::Sqlite(url.to_owned())),
            _ => anyhow::bail!(
                "DATABASE_URL has the scheme `{scheme}:`; use postgres://user@host:port/db or sqlite://path, or unset it for the embedded ./seqhook.db"
            ),
        }
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct ServeConfig {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Address to serve the API on.
    #[arg(long, env = "SEQHOOK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Bearer token for `/v1/admin/*`; generated and printed at start when unset.
    #[arg(long, env = "SEQHOOK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Longest long-poll `wait` a client may ask for.
    #[arg(long, env = "SEQHOOK_MAX_WAIT", default_value = "25s", value_parser = humantime::parse_duration)]
    pub max_wait: Duration,

    /// The URL this server is reached at from outside, for the ingest URLs inbound sources
    /// hand to providers [default: `http://` and the request's `Host`].
    #[arg(long, env = "SEQHOOK_PUBLIC_URL", value_parser = url::Url::parse)]
    pub public_url: Option<url::Url>,

    /// Largest request body accepted (larger answers 413).
    #[arg(long, env = "SEQHOOK_BODY_LIMIT", default_value = "1MiB", value_parser = parse_size)]
    pub body_limit: usize,

    /// HTTP connections open at once (held long-polls and streams count); past it, new
    /// connections are answered 503.
    #[arg(long, env = "SEQHOOK_MAX_CONNECTIONS", default_value_t = 16_384)]
    pub max_connections: usize,

    /// A request's headers must arrive within this; a keep-alive connection idle this long
    /// is closed.
    #[arg(long, env = "SEQHOOK_HEADER_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub header_timeout: Duration,

    /// A request's body must arrive whole within this, or the request is answered 408.
    #[arg(long, env = "SEQHOOK_BODY_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub body_timeout: Duration,

    /// Database connections in the pool (the wake-up listener has one more of its own).
    #[arg(long, env = "SEQHOOK_DB_POOL", default_value_t = 14)]
    pub db_pool: u32,

    /// Writer tasks committing appends; each commits a group of requests at a time.
    #[arg(long, env = "SEQHOOK_APPEND_WRITERS", default_value_t = 4)]
    pub append_writers: usize,

    /// Delay before each delivery attempt, counted from the previous one.
    #[arg(
        long,
        env = "SEQHOOK_RETRY_SCHEDULE",
        default_value = "0s,5s,30s,2m,10m,30m,1h,2h"
    )]
    pub retry_schedule: RetrySchedule,

    /// A delivery not answered with a 2xx within this long has failed.
    #[arg(long, env = "SEQHOOK_DELIVERY_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub delivery_timeout: Duration,

    /// Webhook requests in flight per process.
    #[arg(long, env = "SEQHOOK_DELIVERY_CONCURRENCY", default_value_t = 256)]
    pub delivery_concurrency: usize,

    /// Webhook requests in flight per webhook per process.
    #[arg(long, env = "SEQHOOK_WEBHOOK_CONCURRENCY", default_value_t = 16)]
    pub webhook_concurrency: u32,

    /// Allow webhook URLs on loopback, private and link-local addresses [default: true on
    /// the embedded database, a developer's machine; false on PostgreSQL].
    #[arg(long, env = "SEQHOOK_ALLOW_PRIVATE_WEBHOOKS", action = clap::ArgAction::Set)]
    pub allow_private_webhooks: Option<bool>,

    /// A webhook whose deliveries have all failed for this long is disabled.
    #[arg(long, env = "SEQHOOK_DISABLE_AFTER", default_value = "5d", value_parser = humantime::parse_duration)]
    pub disable_after: Duration,

    /// How often workers look for due retries when no wake-up came.
    #[arg(long, env = "SEQHOOK_DELIVERY_POLL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub delivery_poll: Duration,

    /// How long a claimed delivery is leased before another worker may retry it.
    #[arg(long, env = "SEQHOOK_DELIVERY_LEASE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub delivery_lease: Duration,

    /// How often an idle event stream sends a heartbeat comment.
    #[arg(long, env = "SEQHOOK_STREAM_HEARTBEAT", default_value = "15s", value_parser = parse_heartbeat)]
    pub stream_heartbeat: Duration,

    /// How long an append whose commit went unacknowledged (the connection broke) keeps
    /// looking its events up before it answers 503 `outcome_unknown`.
    #[arg(long, env = "SEQHOOK_OUTCOME_WAIT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub outcome_wait: Duration,

    /// How long events are held, for tenants that set no retention of their own: a
    /// duration (`90d`, `12h`, `10s`) or `forever`.
    #[arg(long, env = "SEQHOOK_RETENTION", default_value = "90d", value_parser = Retention::parse)]
    pub retention: Retention,

    /// How long finished deliveries and their attempts are kept, if shorter than their
    /// events' retention (unset: as long as their events).
    #[arg(long, env = "SEQHOOK_DELIVERY_LOG_RETENTION", value_parser = parse_delivery_log_retention)]
    pub delivery_log_retention: Option<Duration>,

    /// How often the retention sweep looks for expired events when the last pass left
    /// nothing behind.
    #[arg(long, env = "SEQHOOK_SWEEP_INTERVAL", default_value = "10s", value_parser = parse_sweep_interval)]
    pub sweep_interval: Duration,

    /// Run the API only, no delivery workers.
    #[arg(long, conflicts_with = "workers_only")]
    pub no_workers: bool,

    /// Run the delivery workers only, no API (health routes stay).
    #[arg(long)]
    pub workers_only: bool,
}

/// At least a millisecond: a zero interval would have every idle stream send comments
/// without pause.
fn parse_heartbeat(raw: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(raw).map_err(|error| error.to_string())?;
    if interval < Duration::from_millis(1) {
        return Err("the heartbeat interval must be at least 1ms".into());
    }
    Ok(interval)
}

/// At least a millisecond: a zero deadline would refuse every request.
fn parse_timeout(raw: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(raw).map_err(|error| error.to_string())?;
    if timeout < Duration::from_millis(1) {
        return Err("a timeout must be at least 1ms".into());
    }
    Ok(timeout)
}

/// A window as a retention reads it; `forever` is the same as none.
fn parse_delivery_log_retention(raw: &str) -> Result<Duration, String> {
    match Retention::parse(raw).map_err(|error| error.to_string())? {
        Retention::Window(window) => Ok(window),
        Retention::Forever => Ok(Retention::MAX),
    }
}

/// At least 10ms and at most an hour: expired events go within a pass or two of expiring.
fn parse_sweep_interval(raw: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(raw).map_err(|error| error.to_string())?;
    if !(Duration::from_millis(10)..=Duration::from_secs(3_600)).contains(&interval) {
        return Err("the sweep interval must be between 10ms and 1h".into());
    }
    Ok(interval)
}

fn parse_size(raw: &str) -> Result<usize, String> {
    let size: bytesize::ByteSize = raw.parse()?;
    usize::try_from(size.as_u64()).map_err(|_| "size too large".to_owned())
}

impl ServeConfig {
    pub fn sweep(&self) -> crate::retention::SweepSettings {
        crate::retention::SweepSettings {
            default: self.retention,
            interval: self.sweep_interval,
            delivery_log: self.delivery_log_retention,
        }
    }

    pub fn delivery(&self) -> crate::delivery::DeliveryConfig {
        crate::delivery::DeliveryConfig {
            schedule: self.retry_schedule.clone(),
            timeout: self.delivery_timeout,
            concurrency: self.delivery_concurrency.max(1),
            per_webhook: self.webhook_concurrency.max(1),
            allow_private: self.allows_private_webhooks(),
            disable_after: self.disable_after,
            poll_interval: self.delivery_poll,
            lease: self
                .delivery_lease
                .max(self.delivery_timeout + Duration::from_secs(1)),
        }
    }

    /// Whether webhooks may point at internal addresses: as configured, or by default only
    /// on the embedded database, where the receiver is usually on the same machine.
    pub fn allows_private_webhooks(&self) -> bool {
        self.allow_private_webhooks
            .unwrap_or_else(|| matches!(self.database.database(), Ok(Database::Sqlite(_))))
    }

    /// A configuration for tests and tools: everything default but the database.
    pub fn for_database(url: &str) -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: ServeConfig,
        }
        let mut config = Wrapper::parse_from(["seqhook"]).config;
        config.database.url = Some(url.to_owned());
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("1MiB"), Ok(1024 * 1024));
        assert_eq!(parse_size("64KiB"), Ok(64 * 1024));
        assert!(parse_size("lots").is_err());
    }

    fn database(url: Option<&str>) -> anyhow::Result<Database> {
        DatabaseArgs {
            url: url.map(str::to_owned),
        }
        .database()
    }

    #[test]
    fn database_urls_choose_the_backend() {
        assert_eq!(
            database(None).unwrap(),
            Database::Sqlite(EMBEDDED_DATABASE.into())
        );
        assert_eq!(
            database(Some("")).unwrap(),
            Database::Sqlite(EMBEDDED_DATABASE.into())
        );
        assert_eq!(
            database(Some("sqlite:///tmp/x.db")).unwrap(),
            Database::Sqlite("sqlite:///tmp/x.db".into())
        );
        assert_eq!(
            database(Some("postgresql://u@h/db")).unwrap(),
            Database::Postgres("postgresql://u@h/db".into())
        );
    }

    #[test]
    fn private_webhooks_are_allowed_by_default_only_on_the_embedded_database() {
        let mut config = ServeConfig::for_database("sqlite://x.db");
        assert!(config.allows_private_webhooks());
        config.allow_private_webhooks = Some(false);
        assert!(!config.allows_private_webhooks());
        let mut config = ServeConfig::for_database("postgres://u@h/db");
        assert!(!config.allows_private_webhooks());
        config.allow_private_webhooks = Some(true);
        assert!(config.allows_private_webhooks());
    }

    #[test]
    fn a_zero_heartbeat_is_refused() {
        assert_eq!(parse_heartbeat("15s"), Ok(Duration::from_secs(15)));
        assert!(parse_heartbeat("0s").is_err());
    }

    #[test]
    fn an_unknown_scheme_is_refused_without_echoing_the_url() {
        let error = database(Some("mysql://root:hunter2@db/x"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("`mysql:`"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}
