//! `seqhook listen HANDLE --forward-to URL`: webhooks for a machine without a public URL.
//!
//! Long-polls one identity through the pull API and POSTs each event to a local URL, signed
//! exactly as a webhook delivery is (`delivery::attempt`), one at a time in seq order. An
//! event is retried until the receiver answers 2xx, never skipped; the cursor is saved after
//! each accepted event, so a restart resumes after the last one (at least once: an event in
//! flight when the listener stops is sent again). Owns no server state: it is an API client.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::delivery::attempt::{self, Message};
use crate::delivery::client;
use crate::delivery::schedule::Response;
use crate::delivery::signature::SigningSecret;
use crate::log::identity::IdentityHandle;

/// The same budget a webhook receiver gets.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(15);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const PAGE: u32 = 100;
/// Added to `--wait` for a pull's own timeout, so only a stuck server trips it.
const PULL_MARGIN: Duration = Duration::from_secs(30);
/// How much of a refusing receiver's answer a warning shows.
const SHOWN_BODY_CHARS: usize = 200;

#[derive(clap::Args, Debug)]
pub struct ListenArgs {
    /// The identity whose events are forwarded.
    #[arg(value_parser = IdentityHandle::parse)]
    pub handle: IdentityHandle,

    /// Local URL each event is POSTed to, signed like a webhook delivery (http or https).
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub forward_to: Url,

    /// Forward the events after this seq, ignoring the saved cursor (0: the whole log).
    /// Without it, resume from the state file, or else start at the head: new events only.
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,

    /// Base URL of the seqhook API.
    #[arg(
        long,
        env = "SEQHOOK_API_URL",
        default_value = "http://127.0.0.1:8080",
        value_parser = http_url
    )]
    pub api_url: Url,

    /// API key with the `events:read` scope for the identity.
    #[arg(long, env = "SEQHOOK_API_KEY", hide_env_values = true)]
    pub api_key: String,

    /// `whsec_…` secret the forwarded requests are signed with. Unset: one is generated,
    /// printed, and kept in the state file so the receiver's copy stays valid across runs.
    #[arg(
        long,
        env = "SEQHOOK_LISTEN_SECRET",
        hide_env_values = true,
        value_parser = SigningSecret::parse
    )]
    pub secret: Option<SigningSecret>,

    /// Where the cursor is saved [default: .seqhook-listen-<HANDLE>.json].
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,

    /// Forward only these event types (comma-separated), e.g. `email.replied,email.bounced`.
    #[arg(long, value_name = "TYPES")]
    pub types: Option<String>,

    /// How long each long-poll is held (whole seconds, at most the server's maximum).
    #[arg(long, default_value = "25s", value_parser = long_poll_wait)]
    pub wait: Duration,
}

fn http_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw)
        .map_err(|error| format!("expected an http:// or https:// URL ({error})"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!(
            "only http:// and https:// URLs are supported, not {other}://"
        )),
    }
}

fn long_poll_wait(raw: &str) -> Result<Duration, String> {
    let wait = humantime::parse_duration(raw).map_err(|error| error.to_string())?;
    // The API counts whole seconds, and a wait of 0 would turn the loop into busy polling.
    if wait < Duration::from_secs(1) {
        return Err("the wait must be at least 1s".into());
    }
    Ok(wait)
}

/// What survives a restart. The generated secret is kept with the cursor because the
/// receiver was configured with it; a `--secret` given by the user is never written.
#[derive(Serialize, Deserialize)]
struct SavedState {
    handle: String,
    since: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// Pulls and forwards until `shutdown`; an error only for what waiting cannot fix (a refused
/// key, an unknown identity, a cursor past the head, an unwritable state file).
pub async fn run(args: ListenArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let handle = args.handle;
    let state_path = args
        .state_file
        .unwrap_or_else(|| PathBuf::from(format!(".seqhook-listen-{}.json", handle.as_str())));
    let saved = load(&state_path)?;
    if let Some(saved) = &saved {
        anyhow::ensure!(
            saved.handle == handle.as_str(),
            "{} holds the cursor of identity {}, not {handle}: pass another --state-file",
            state_path.display(),
            saved.handle
        );
    }
    let saved_secret = saved.as_ref().and_then(|saved| saved.secret.clone());
    let (secret, kept_secret) = match (args.secret, saved_secret) {
        (Some(secret), kept) => (secret, kept),
        (None, Some(kept)) => {
            let secret = SigningSecret::parse(&kept)
                .with_context(|| format!("the secret saved in {}", state_path.display()))?;
            eprintln!(
                "seqhook listen: signing with the secret saved in {}: {kept}",
                state_path.display()
            );
            (secret, Some(kept))
        }
        (None, None) => {
            let secret = SigningSecret::generate();
            eprintln!(
                "seqhook listen: signing with a new secret (give it to your receiver): {}",
                secret.expose()
            );
            let kept = secret.expose().to_owned();
            (secret, Some(kept))
        }
    };

    let api = Api::new(args.api_url, &args.api_key, handle.clone())?;
    // Checked before anything is saved, so a mistyped key or handle leaves no state file.
    let Some(head) = retrying(&shutdown, "reading the identity", || api.head()).await? else {
        return Ok(());
    };
    let mut since = match (args.since, &saved) {
        (Some(since), _) => {
            tracing::info!(%handle, "forwarding the events after seq {since} (--since)");
            since
        }
        (None, Some(saved)) => {
            tracing::info!(
                %handle,
                "resuming after seq {}, saved in {}",
                saved.since,
                state_path.display()
            );
            saved.since
        }
        (None, None) => {
            tracing::info!(
                %handle,
                "no saved cursor: forwarding new events only, after seq {head} \
                 (--since 0 forwards the whole log)"
            );
            head
        }
    };
    anyhow::ensure!(
        since <= head,
        "seq {since} is past the head of {handle} (seq {head}): the cursor belongs to another \
         log. Pass --since {head} for new events only, or --since 0 for the whole log"
    );

    let mut state = SavedState {
        handle: handle.as_str().to_owned(),
        since,
        secret: kept_secret,
    };
    // Saved at once, so a listener stopped before any event arrives still resumes here
    // rather than at a later head, which would skip what landed in between.
    save(&state_path, &state).await?;

    let forwarder = Forwarder {
        client: client::build(FORWARD_TIMEOUT, true),
        url: args.forward_to,
        secret,
    };
    let mut has_more = false;
    loop {
        // Only wait when caught up: while the server says more exists, read on at once.
        let wait = if has_more { Duration::ZERO } else { args.wait };
        let types = args.types.as_deref();
        let pulled = retrying(&shutdown, "pulling events", || api.pull(since, wait, types));
        let Some(page) = pulled.await? else {
            return Ok(());
        };
        for event in &page.events {
            let header: EventHeader = serde_json::from_str(event.get())
                .context("the API answered an event without id, seq or type")?;
            let what = format!("forwarding seq {} ({})", header.seq, header.id);
            let forwarded = retrying(&shutdown, &what, || forwarder.forward(&header.id, event));
            let Some(status) = forwarded.await? else {
                return Ok(());
            };
            tracing::info!(
                "{} {} {} -> {status}",
                header.seq,
                header.event_type,
                header.id
            );
            since = header.seq;
            state.since = since;
            save(&state_path, &state).await?;
        }
        // With a `types` filter the cursor passes events that were not asked for; saving it
        // spares rescanning them after a restart.
        if page.cursor > since {
            since = page.cursor;
            state.since = since;
            save(&state_path, &state).await?;
        }
        has_more = page.has_more;
    }
}

/// Why a call failed, and so whether trying again can help.
enum Failure {
    /// A refused key, an unknown identity, a malformed request: waiting changes nothing.
    Fatal(anyhow::Error),
    /// The server or the receiver is down, restarting or failing: try again later.
    Transient(String),
}

/// Runs `call` until it succeeds, retrying transient failures with capped exponential
/// backoff; `None` as soon as `shutdown` is cancelled, even mid-call or mid-backoff.
async fn retrying<T, F, Fut>(
    shutdown: &CancellationToken,
    what: &str,
    mut call: F,
) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut backoff = FIRST_BACKOFF;
    loop {
        let outcome = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(None),
            outcome = call() => outcome,
        };
        match outcome {
            Ok(value) => return Ok(Some(value)),
            Err(Failure::Fatal(error)) => return Err(error),
            Err(Failure::Transient(why)) => {
                tracing::warn!(
                    "{what}: {why}; retrying in {}",
                    humantime::format_duration(backoff)
                );
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return Ok(None),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The pull API, as one identity's reader.
struct Api {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    handle: IdentityHandle,
}

/// `GET …/events`, with each event kept as the API's exact text: that text is the body
/// forwarded, byte for byte what a webhook delivery of the event would carry.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    events: Vec<Box<RawValue>>,
    cursor: u64,
    has_more: bool,
}

#[derive(Deserialize)]
struct EventHeader {
    id: String,
    seq: u64,
    #[serde(rename = "type")]
    event_type: String,
}

impl Api {
    fn new(base: Url, key: &str, handle: IdentityHandle) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !base.cannot_be_a_base(),
            "--api-url must be a base URL such as http://127.0.0.1:8080"
        );
        let mut auth = HeaderValue::from_str(&format!("Bearer {key}"))
            .context("the API key is not a valid header value")?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .user_agent(concat!("seqhook-listen/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base,
            auth,
            handle,
        })
    }

    /// `{base}/v1/identities/{handle}` followed by `more`, keeping any path prefix of the base.
    fn identity_url(&self, more: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked to be a base URL in `new`")
            .pop_if_empty()
            .extend(["v1", "identities", self.handle.as_str()])
            .extend(more);
        url
    }

    /// The identity's `headSeq`; also proves the key and the handle before anything starts.
    async fn head(&self) -> Result<u64, Failure> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Identity {
            head_seq: u64,
        }
        let identity: Identity = self.get(self.identity_url(&[]), PULL_MARGIN).await?;
        Ok(identity.head_seq)
    }

    async fn pull(&self, since: u64, wait: Duration, types: Option<&str>) -> Result<Page, Failure> {
        let mut url = self.identity_url(&["events"]);
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("since", &since.to_string())
                .append_pair("limit", &PAGE.to_string())
                .append_pair("wait", &wait.as_secs().to_string());
            if let Some(types) = types {
                query.append_pair("types", types);
            }
        }
        self.get(url, wait + PULL_MARGIN).await
    }

    async fn get<T: DeserializeOwned>(&self, url: Url, timeout: Duration) -> Result<T, Failure> {
        let sent = self
            .http
            .get(url)
            .header(AUTHORIZATION, self.auth.clone())
            .timeout(timeout)
            .send()
            .await;
        let response = sent.map_err(|error| {
            Failure::Transient(format!(
                "cannot reach {}: {}",
                self.base,
                error_chain(&error)
            ))
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|error| {
            Failure::Transient(format!("reading the answer: {}", error_chain(&error)))
        })?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|error| {
                Failure::Fatal(anyhow::anyhow!(
                    "{} answered something other than seqhook's API: {error}",
                    self.base
                ))
            });
        }
        Err(self.refusal(status, &body))
    }

    fn refusal(&self, status: StatusCode, body: &[u8]) -> Failure {
        let answer: Value = serde_json::from_slice(body).unwrap_or_default();
        let error = &answer["error"];
        let message = error["message"].as_str().map_or_else(
            || {
                String::from_utf8_lossy(body)
                    .chars()
                    .take(SHOWN_BODY_CHARS)
                    .collect()
            },
            str::to_owned,
        );
        let handle = &self.handle;
        let fatal = |message: String| Failure::Fatal(anyhow::anyhow!(message));
        match status {
            StatusCode::UNAUTHORIZED => fatal(format!(
                "the API key was refused ({status}): check --api-key or SEQHOOK_API_KEY"
            )),
            StatusCode::FORBIDDEN => fatal(format!(
                "the API key may not read {handle}'s events ({status}): {message}"
            )),
            StatusCode::NOT_FOUND => fatal(format!(
                "unknown identity {handle} ({status}): it does not exist at {}, or this key \
                 may not see it",
                self.base
            )),
            StatusCode::BAD_REQUEST if error["code"] == "since_beyond_head" => fatal(format!(
                "the cursor is past the head of {handle} (seq {}): the log was reset or the \
                 cursor belongs to another one. Pass --since 0, or --since with the head",
                error["details"]["head"]
            )),
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                Failure::Transient(format!("{status}: {message}"))
            }
            status if status.is_server_error() => {
                Failure::Transient(format!("{status}: {message}"))
            }
            status => fatal(format!("the API refused the request ({status}): {message}")),
        }
    }
}

/// Sends events to the local receiver through the webhook delivery's own client and attempt,
/// so the headers and signature are the ones a real delivery carries.
struct Forwarder {
    client: reqwest::Client,
    url: Url,
    secret: SigningSecret,
}

impl Forwarder {
    /// The receiver's 2xx status; anything else is worth retrying, since the event must not
    /// be skipped.
    async fn forward(&self, id: &str, event: &RawValue) -> Result<u16, Failure> {
        let message = Message {
            url: self.url.as_str(),
            id,
            body: event.get().as_bytes().to_vec(),
            secrets: std::slice::from_ref(&self.secret),
        };
        // The receiver is local by design, so the SSRF guard does not apply.
        let (attempt, response) = attempt::send(&self.client, message, Utc::now(), true).await;
        match response {
            Response::Status { code, .. } if (200..300).contains(&code) => Ok(code),
            Response::Status { code, .. } => {
                let body = attempt
                    .response_body
                    .map(|body| {
                        let shown: String = body.chars().take(SHOWN_BODY_CHARS).collect();
                        format!(": {shown}")
                    })
                    .unwrap_or_default();
                Err(Failure::Transient(format!(
                    "{} answered {code}{body}",
                    self.url
                )))
            }
            Response::NoResponse => Err(Failure::Transient(format!(
                "{}: {}",
                self.url,
                attempt.error.as_deref().unwrap_or("no answer")
            ))),
        }
    }
}

/// reqwest's own message hides the cause ("error sending request"); the innermost says it.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

fn load(path: &Path) -> anyhow::Result<Option<SavedState>> {
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
async fn save(path: &Path, state: &SavedState) -> anyhow::Result<()> {
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
    fn only_http_and_https_urls_are_forwarded_to() {
        assert!(http_url("http://127.0.0.1:3000/hook").is_ok());
        assert!(http_url("https://example.com/hook").is_ok());
        for bad in [
            "ftp://127.0.0.1/hook",
            "file:///etc/passwd",
            "localhost:3000",
            "",
        ] {
            assert!(http_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_wait_under_a_second_is_refused() {
        assert_eq!(long_poll_wait("25s"), Ok(Duration::from_secs(25)));
        assert!(long_poll_wait("0s").is_err());
        assert!(long_poll_wait("500ms").is_err());
    }

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
