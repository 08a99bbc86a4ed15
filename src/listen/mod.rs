//! `seqhook listen HANDLE --forward-to URL`: webhooks for a machine without a public URL.
//!
//! Long-polls one identity through the pull API and POSTs each event to a local URL, signed
//! exactly as a webhook delivery is (`delivery::attempt`), one at a time in seq order. An
//! event is retried until the receiver answers 2xx, never skipped; the cursor is saved after
//! each accepted event, so a restart resumes after the last one (at least once: an event in
//! flight when the listener stops is sent again). Owns no server state: it is an API client.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::delivery::attempt::{self, Message};
use crate::delivery::client;
use crate::delivery::schedule::Response;
use crate::domain::dialect::SignatureDialect;
use crate::domain::identity::IdentityHandle;
use crate::domain::secret::SigningSecret;

mod api;
mod state;

use api::{Api, CursorExpired, EventHeader};
use state::{SavedState, load, save};

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

    /// How the forwarded requests are signed: a preset (`standard-webhooks`, `stripe`,
    /// `github`, `x-signature`, `x-webhook-signature`, `sequenzy`) or a dialect's fields as
    /// JSON, as a webhook's `dialect` takes them.
    #[arg(long, value_name = "DIALECT", default_value = "standard-webhooks", value_parser = dialect)]
    pub dialect: SignatureDialect,

    /// Where the cursor is saved [default: .seqhook-listen-<HANDLE>.json].
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,

    /// Forward only these event types (comma-separated), e.g. `email.replied,email.bounced`.
    #[arg(long, value_name = "TYPES")]
    pub types: Option<String>,

    /// When the events after the cursor are no longer held (the tenant's retention removed
    /// them, or the identity was erased), go on from the first one still held instead of
    /// stopping. The events in between are lost to the receiver, and a warning says so.
    #[arg(long)]
    pub skip_expired: bool,

    /// How long each long-poll is held (whole seconds, at most the server's maximum).
    #[arg(long, default_value = "25s", value_parser = long_poll_wait)]
    pub wait: Duration,
}

/// A preset's name, or a dialect's fields as a JSON object.
fn dialect(text: &str) -> Result<SignatureDialect, String> {
    let value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?
    } else {
        serde_json::Value::String(text.to_owned())
    };
    SignatureDialect::from_json(&value).map_err(|error| error.to_string())
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
        dialect: args.dialect,
    };
    let mut has_more = false;
    loop {
        // Only wait when caught up: while the server says more exists, read on at once.
        let wait = if has_more { Duration::ZERO } else { args.wait };
        let types = args.types.as_deref();
        let pulled = retrying(&shutdown, "pulling events", || api.pull(since, wait, types));
        let page = match pulled.await {
            Ok(Some(page)) => page,
            Ok(None) => return Ok(()),
            Err(error) => match error.downcast_ref::<CursorExpired>() {
                Some(expired) if args.skip_expired => {
                    let skipped_to = expired.earliest.saturating_sub(1);
                    tracing::warn!(
                        %handle,
                        "seqs {} to {skipped_to} are no longer held and were not forwarded; \
                         going on after seq {skipped_to} (--skip-expired)",
                        since + 1
                    );
                    since = skipped_to;
                    state.since = since;
                    save(&state_path, &state).await?;
                    has_more = true;
                    continue;
                }
                _ => return Err(error),
            },
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

/// Sends events to the local receiver through the webhook delivery's own client and attempt,
/// so the headers and signature are the ones a real delivery carries.
struct Forwarder {
    client: reqwest::Client,
    url: Url,
    secret: SigningSecret,
    dialect: SignatureDialect,
}

impl Forwarder {
    /// The receiver's 2xx status; anything else is worth retrying, since the event must not
    /// be skipped.
    async fn forward(&self, id: &str, event: &RawValue) -> Result<u16, Failure> {
        let message = Message {
            url: &self.url,
            id,
            body: event.get().as_bytes().to_vec(),
            secrets: std::slice::from_ref(&self.secret),
            dialect: &self.dialect,
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
}
