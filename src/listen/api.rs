//! The pull API as `listen` reads it: one identity, its head and its pages, with each
//! event kept as the API's exact text.

use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use url::Url;

use super::{Failure, PAGE, PULL_MARGIN, SHOWN_BODY_CHARS};
use crate::domain::identity::IdentityHandle;

/// The pull API, as one identity's reader.
pub(super) struct Api {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    handle: IdentityHandle,
}

/// `GET …/events`, with each event kept as the API's exact text: that text is the body
/// forwarded, byte for byte what a webhook delivery of the event would carry.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Page {
    pub events: Vec<Box<RawValue>>,
    pub cursor: u64,
    pub has_more: bool,
}

#[derive(Deserialize)]
pub(super) struct EventHeader {
    pub id: String,
    pub seq: u64,
    #[serde(rename = "type")]
    pub event_type: String,
}

impl Api {
    pub(super) fn new(base: Url, key: &str, handle: IdentityHandle) -> anyhow::Result<Self> {
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
    pub(super) async fn head(&self) -> Result<u64, Failure> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Identity {
            head_seq: u64,
        }
        let identity: Identity = self.get(self.identity_url(&[]), PULL_MARGIN).await?;
        Ok(identity.head_seq)
    }

    pub(super) async fn pull(
        &self,
        since: u64,
        wait: Duration,
        types: Option<&str>,
    ) -> Result<Page, Failure> {
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
            StatusCode::GONE if error["code"] == "cursor_expired" => {
                Failure::Fatal(anyhow::Error::new(CursorExpired {
                    handle: handle.clone(),
                    earliest: error["details"]["earliestSeq"].as_u64().unwrap_or(1),
                }))
            }
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

/// reqwest's own message hides the cause ("error sending request"); the innermost says it.
pub(super) fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

/// The log no longer holds the events after the cursor: they expired or were erased.
#[derive(Debug, thiserror::Error)]
#[error(
    "the events of {handle} after the saved cursor are no longer held (they expired or were \
     erased): its log now starts at seq {earliest}. Pass --skip-expired to go on from there, \
     knowing the events in between never reach the receiver"
)]
pub(super) struct CursorExpired {
    handle: IdentityHandle,
    /// The first seq the log still holds.
    pub earliest: u64,
}
