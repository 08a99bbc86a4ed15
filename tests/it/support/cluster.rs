//! A real database per test: a SQLite file, or a PostgreSQL database. For PostgreSQL, owns the one server of the test process (the one
//! `DATABASE_URL` points at, or a throwaway cluster started here and torn down by a watchdog
//! once the process is gone), the migrated template database, and the per-test databases
//! cloned from it.
//!
//! Nothing is cleaned up on a `DATABASE_URL` server: leftovers are named `seqhook_tpl_<pid>`
//! and `t_<pid>_<n>`. A failed test panics before `drop`, so its database stays for inspection.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;

use super::Backend;

pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// A fresh, empty database on the suite's backend.
    pub async fn create() -> Self {
        match crate::BACKEND {
            Backend::Postgres => Self::create_postgres().await,
            Backend::Sqlite => Self::create_sqlite(),
        }
    }

    async fn create_postgres() -> Self {
        let server = server().await;
        let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
        let name = format!("t_{}_{n}", std::process::id());
        // Pids repeat across containers sharing a DATABASE_URL server, so a kept database of
        // an older run may hold this name.
        server
            .admin(&[
                format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#),
                format!(r#"CREATE DATABASE "{name}" TEMPLATE "{}""#, server.template),
            ])
            .await;
        TestDatabase {
            url: server.url(&name),
            name,
        }
    }

    /// The app creates and migrates the file itself, as it does for a user.
    fn create_sqlite() -> Self {
        let dir = sqlite_dir();
        let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
        let name = format!("t_{n}");
        let path = dir.join(format!("{name}.db"));
        TestDatabase {
            url: format!("sqlite://{}", path.display()),
            name,
        }
    }

    /// A pool on the database, to check what was stored. Queries must be plain SQL that
    /// both backends read alike.
    pub async fn pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        // A SQLite file the app never opened is created empty rather than refused.
        let url = match crate::BACKEND {
            Backend::Postgres => self.url.clone(),
            Backend::Sqlite => format!("{}?mode=rwc", self.url),
        };
        sqlx::AnyPool::connect(&url)
            .await
            .expect("connect to the test database")
    }

    /// FORCE, because the test may still hold pools on it.
    pub async fn drop(self) {
        match crate::BACKEND {
            Backend::Postgres => {
                let sql = format!(r#"DROP DATABASE "{}" WITH (FORCE)"#, self.name);
                server().await.admin(&[sql]).await;
            }
            Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{path}{suffix}"));
                }
            }
        }
    }
}

/// This test process's directory of SQLite files.
fn sqlite_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seqhook-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the test database directory");
    dir
}

// Every #[tokio::test] has its own runtime and a pool dies with the runtime that made it,
// so the static holds plain data only.
static SERVER: OnceCell<Server> = OnceCell::const_new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

struct Server {
    /// A database's URL is `prefix + name + suffix`; the suffix keeps DATABASE_URL's `?…`.
    prefix: String,
    suffix: String,
    admin_db: String,
    template: String,
}

impl Server {
    fn url(&self, db: &str) -> String {
        format!("{}{db}{}", self.prefix, self.suffix)
    }

    async fn admin(&self, statements: &[String]) {
        let url = self.url(&self.admin_db);
        let mut conn = PgConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connecting to the test server at {url}: {e}"));
        for sql in statements {
            let done = sqlx::query(sql).execute(&mut conn).await;
            done.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let _ = conn.close().await;
    }
}

async fn server() -> &'static Server {
    SERVER.get_or_init(init).await
}

async fn init() -> Server {
    let pid = std::process::id();
    let server = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let (rest, suffix) = url.split_at(url.find('?').unwrap_or(url.len()));
            let host = rest.find("://").expect("DATABASE_URL must be a URL") + 3;
            let (prefix, db) = match rest[host..].find('/') {
                Some(slash) => rest.split_at(host + slash + 1),
                None => (rest, ""),
            };
            Server {
                prefix: format!("{}/", prefix.trim_end_matches('/')),
                suffix: suffix.into(),
                admin_db: Some(db)
                    .filter(|db| !db.is_empty())
                    .unwrap_or("postgres")
                    .into(),
                template: format!("seqhook_tpl_{pid}"),
            }
        }
        // Blocks this test's runtime for a second; all other tests are waiting on us anyway.
        _ => Server {
            prefix: {
                // Kept for the life of the process; its watchdog stops it.
                let cluster = std::mem::ManuallyDrop::new(Cluster::start());
                cluster.url_prefix()
            },
            suffix: String::new(),
            admin_db: "postgres".into(),
            template: "seqhook_tpl".into(),
        },
    };
    let tpl = &server.template;
    server
        .admin(&[
            format!(r#"DROP DATABASE IF EXISTS "{tpl}" WITH (FORCE)"#),
            format!(r#"CREATE DATABASE "{tpl}""#),
        ])
        .await;
    let pool = PgPool::connect(&server.url(tpl))
        .await
        .expect("connecting to the template");
    let migrated = sqlx::migrate!("./migrations/postgres").run(&pool).await;
    migrated.expect("running the migrations into the template");
    // CREATE DATABASE … TEMPLATE fails while anyone is connected to the template.
    pool.close().await;
    server
}

/// A PostgreSQL cluster of this test process's own, from the machine's binaries: the
/// suite's shared server when `DATABASE_URL` is unset, and the private clusters that fault
/// tests restart and stop under a running app. The directory holds the data, the log and
/// the unix socket; a watchdog stops the cluster and removes it once this process is gone.
pub struct Cluster {
    bindir: PathBuf,
    dir: PathBuf,
    port: u16,
    root: bool,
    /// Commits wait for their WAL to be written, as in production, so a crash of the
    /// server loses nothing it acknowledged. The shared cluster skips that, for speed.
    durable: bool,
}

#[allow(dead_code, reason = "only the PostgreSQL suite restarts its database")]
impl Cluster {
    /// A cluster for the suite's databases: fast, not crash-safe.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// A cluster whose crash (`restart -m immediate`) loses no acknowledged commit.
    pub fn start_durable() -> Self {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let bindir = find_bindir();
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        let pid = std::process::id().to_string();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("seqhook-it-pg-{pid}-{n}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("finding a free port")
            .port();
        let cluster = Cluster {
            bindir,
            dir,
            port,
            root,
            durable,
        };
        let dir_s = cluster.dir.display().to_string();
        // An earlier process with our pid on a machine that died before its watchdog ran.
        let _ = std::fs::remove_dir_all(&cluster.dir);
        std::fs::create_dir_all(&cluster.dir).unwrap_or_else(|e| panic!("creating {dir_s}: {e}"));
        if root {
            run(
                &cluster.dir,
                &["chown".into(), "nobody".into(), dir_s.clone()],
                None,
            );
        }

        // Statics are never dropped, so nothing in this process can stop the shared
        // cluster. Spawned before initdb so that a failure below is cleaned up too; setsid
        // keeps it out of Ctrl-C's reach, and null stdio keeps it off cargo's pipes, which
        // would otherwise never see EOF.
        let script = r#"pid=$1 dir=$2; shift 2; while kill -0 "$pid" 2>/dev/null; do sleep 1; done; "$@"; rm -rf "$dir""#;
        // Never waited on: it must outlive this process, which is the point.
        #[allow(clippy::zombie_processes)]
        Command::new("setsid")
            .args(["sh", "-c", script, "seqhook-pg-watchdog"])
            .args([&pid, &dir_s])
            .args(cluster.pg("pg_ctl", &["stop", "-m", "immediate"]))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning the cluster watchdog (setsid sh)");

        let initdb = ["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"];
        run(&cluster.dir, &cluster.pg("initdb", &initdb), None);
        cluster.pg_ctl(&["start"]);
        cluster
    }

    /// The server's URL up to the database name.
    pub fn url_prefix(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/", self.port)
    }

    /// `pg_ctl restart -m <mode>` (`fast` or `immediate`); returns once it accepts
    /// connections again.
    pub async fn restart(&self, mode: &str) {
        self.pg_ctl_async(vec!["restart".into(), "-m".into(), mode.into()])
            .await;
    }

    /// `pg_ctl stop -m <mode>`.
    pub async fn stop(&self, mode: &str) {
        let argv = self.pg("pg_ctl", &["stop", "-m", mode, "-w"]);
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || run(&dir, &argv, None))
            .await
            .unwrap();
    }

    /// Starts it again after `stop`; returns once it accepts connections.
    pub async fn resume(&self) {
        self.pg_ctl_async(vec!["start".into()]).await;
    }

    /// Runs `pg_ctl <action>` with the server options, waiting for it.
    fn pg_ctl(&self, action: &[&str]) {
        let argv = self.pg_ctl_argv(action);
        let log = self.log();
        run(&self.dir, &argv, Some(&log));
    }

    async fn pg_ctl_async(&self, action: Vec<String>) {
        let action: Vec<&str> = action.iter().map(String::as_str).collect();
        let argv = self.pg_ctl_argv(&action);
        let (dir, log) = (self.dir.clone(), self.log());
        tokio::task::spawn_blocking(move || run(&dir, &argv, Some(&log)))
            .await
            .unwrap();
    }

    fn pg_ctl_argv(&self, action: &[&str]) -> Vec<String> {
        let dir_s = self.dir.display().to_string();
        // fsync stays off even when durable: the tests crash the server, never the machine.
        let commit = if self.durable {
            ""
        } else {
            "-c synchronous_commit=off"
        };
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={dir_s} -c fsync=off \
             {commit} -c full_page_writes=off -c max_connections=400 -c shared_buffers=128MB",
            self.port
        );
        let log = self.log();
        let mut args = vec!["-o", &options, "-w", "-l", &log];
        args.extend_from_slice(action);
        self.pg("pg_ctl", &args)
    }

    fn log(&self) -> String {
        format!("{}/log", self.dir.display())
    }

    /// The command line of a PostgreSQL tool on this cluster. PostgreSQL refuses to run as
    /// root, so as root it runs as `nobody`.
    fn pg(&self, tool: &str, args: &[&str]) -> Vec<String> {
        let data = format!("{}/data", self.dir.display());
        let run_as = if self.root {
            "runuser -u nobody --"
        } else {
            ""
        };
        let tool = self.bindir.join(tool).display().to_string();
        let argv = run_as
            .split_whitespace()
            .chain([tool.as_str(), "-D", data.as_str()]);
        argv.chain(args.iter().copied()).map(String::from).collect()
    }
}

/// Private clusters go with their test; the shared one lives in a static and is left to
/// its watchdog.
impl Drop for Cluster {
    fn drop(&mut self) {
        let argv = self.pg("pg_ctl", &["stop", "-m", "immediate"]);
        let _ = Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs in `dir` because `nobody` may not be allowed into our working directory.
fn run(dir: &Path, argv: &[String], log: Option<&str>) {
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output();
    let out = out.unwrap_or_else(|e| panic!("running {}: {e}", argv[0]));
    if !out.status.success() {
        let tail = log.map_or(String::new(), |log| {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            format!(
                "\n--- tail of {log}:\n{}",
                lines[lines.len().saturating_sub(20)..].join("\n")
            )
        });
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        panic!(
            "`{}` failed ({}):\n{stdout}{stderr}{tail}",
            argv.join(" "),
            out.status
        );
    }
}

fn find_bindir() -> PathBuf {
    let has_initdb = |dir: &PathBuf| dir.join("initdb").is_file();
    let pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success());
    // Debian's pg_config comes with libpq-dev and may name a version whose server isn't installed.
    let highest_installed = || -> Option<PathBuf> {
        let versions = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                Some((
                    entry.file_name().to_str()?.parse::<f64>().ok()?,
                    entry.path().join("bin"),
                ))
            });
        versions
            .filter(|(_, bin)| has_initdb(bin))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, bin)| bin)
    };
    pg_config
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(has_initdb)
        .or_else(highest_installed)
        .expect("no PostgreSQL server binaries (pg_config --bindir, /usr/lib/postgresql/*/bin): install postgresql, or set DATABASE_URL")
}
