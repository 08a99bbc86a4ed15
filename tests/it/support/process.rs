//! `seqhook serve` as a real child process, for what only a process can show: signals and
//! being killed.

use std::path::Path;
use std::process::Stdio;

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr};
use tokio::sync::mpsc;

use super::ADMIN_TOKEN;

pub struct ServerProcess {
    pub child: Child,
    pub port: u16,
    /// Reads the process's stderr from the moment it serves, so a process that logs a lot
    /// never blocks on a full pipe; ends when the process exits.
    stderr: tokio::task::JoinHandle<Vec<String>>,
    /// The same lines as they come, for a test to await one.
    lines: mpsc::UnboundedReceiver<String>,
}

impl ServerProcess {
    /// Starts the binary on `database_url` and returns once it says it serves.
    pub async fn spawn(database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_seqhook"));
        command
            .env("DATABASE_URL", database_url)
            .envs(env.iter().copied());
        Self::start(command).await
    }

    /// Starts the binary as a newcomer would: no `DATABASE_URL`, in `dir`, so it keeps its
    /// data in `dir/seqhook.db`.
    #[allow(dead_code, reason = "only the SQLite suite tests the embedded default")]
    pub async fn spawn_embedded(dir: &Path) -> Self {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_seqhook"));
        command.env_remove("DATABASE_URL").current_dir(dir);
        Self::start(command).await
    }

    async fn start(mut command: tokio::process::Command) -> Self {
        let chosen_filter = command
            .as_std()
            .get_envs()
            .any(|(name, _)| name == "RUST_LOG");
        if !chosen_filter {
            command.env("RUST_LOG", "info");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = command
            .arg("serve")
            .env("SEQHOOK_LISTEN", format!("127.0.0.1:{port}"))
            .env("SEQHOOK_ADMIN_TOKEN", ADMIN_TOKEN)
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("seqhook starts");
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        // The process says when it serves; wait for that line rather than for time.
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.contains("seqhook serving") {
                break;
            }
        }
        let (sender, lines) = mpsc::unbounded_channel();
        Self {
            child,
            port,
            stderr: tokio::spawn(collect(stderr, sender)),
            lines,
        }
    }

    /// Waits for the next line the process logs that `wanted` accepts, and answers it:
    /// what another process does is awaited in its own words, not polled for.
    pub async fn logged(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let next = async {
            while let Some(line) = self.lines.recv().await {
                if wanted(&line) {
                    return line;
                }
            }
            panic!("the process exited before logging the line awaited");
        };
        tokio::time::timeout(Duration::from_secs(60), next)
            .await
            .expect("the line awaited is logged within 60 s")
    }

    /// What the process wrote to stderr after it started serving, once it has exited.
    pub async fn remaining_stderr(self) -> Vec<String> {
        self.stderr.await.expect("the stderr reader")
    }
}

async fn collect(
    mut stderr: Lines<BufReader<ChildStderr>>,
    sender: mpsc::UnboundedSender<String>,
) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(Some(line)) = stderr.next_line().await {
        // Nobody awaiting lines is no reason to stop reading them.
        let _ = sender.send(line.clone());
        lines.push(line);
    }
    lines
}
