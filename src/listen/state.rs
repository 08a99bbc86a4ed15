//! The state file: the cursor (and a generated secret) that lets `listen` resume where it
//! stopped, replaced atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// What survives a restart. The generated secret is kept with the cursor because the
/// receiver was configured with it; a `--secret` given by the user is never written.
#[derive(Serialize, Deserialize)]
pub(super) struct SavedState {
    pub handle: String,
    pub since: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

pub(super) fn load(path: &Path) -> anyhow::Result<Option<SavedState>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
            format!(
                "{} is not a `seqhook listen` state file; delete it or pass another --state-file",
                path.display()
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Replaces the state file atomically: a crash leaves the old cursor or the new one, never a
/// torn file.
pub(super) async fn save(path: &Path, state: &SavedState) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(state).context("serialising the listen state")?;
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        write_atomically(&path, &bytes).with_context(|| format!("saving {}", path.display()))
    })
    .await
    .context("the state file writer panicked")?
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = private_file_options().open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    sync_directory_of(path);
    Ok(())
}

/// The file may hold the signing secret: readable by its owner only.
#[cfg(unix)]
fn private_file_options() -> std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    options
}

/// A rename is durable only once its directory is synced. Best effort: the file itself is
/// already complete, and some filesystems refuse to sync a directory.
#[cfg(unix)]
fn sync_directory_of(path: &Path) {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if let Ok(directory) = std::fs::File::open(directory) {
        let _ = directory.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_directory_of(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_file_is_replaced_whole() {
        let path = std::env::temp_dir().join(format!(
            "seqhook-listen-unit-{}-{:016x}.json",
            std::process::id(),
            rand::random::<u64>()
        ));
        write_atomically(&path, b"{\"handle\":\"a\",\"since\":1}").unwrap();
        write_atomically(&path, b"{\"handle\":\"a\",\"since\":2}").unwrap();
        let saved = load(&path).unwrap().unwrap();
        assert_eq!(saved.since, 2);
        assert!(saved.secret.is_none());
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        assert!(!PathBuf::from(temporary).exists());
        std::fs::remove_file(&path).unwrap();
    }
}
