//! Talking to the server: the shared HTTP client, the bench's own tenant and identities,
//! and the few response shapes the scenarios read. Setup failures abort the run with a
//! clear message (nothing can be measured without a tenant); request failures during a
//! measurement are the scenarios' to count.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Client, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;
use tokio::task::JoinSet;

use super::Target;

/// Identity creations in flight during setup: enough to hide round trips, few enough not
/// to queue behind the server's own pool.
const SETUP_CONCURRENCY: usize = 64;

/// Longer than the longest long-poll (25 s), so only a stuck server trips it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of an error body the first-error line shows.
const ERROR_BODY_CHARS: usize = 500;

/// One client for the whole scenario, keeping up to `connections` idle so every worker
/// task reuses its connection instead of opening one per request.
pub fn http_client(connections: usize) -> anyhow::Result<Client> {
    Client::builder()
        .pool_max_idle_per_host(connections)
        // Small requests and responses: Nagle's delay would show up as latency.
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")
}

/// `bench-<n>@example.com`: unique within the tenant, which is fresh per run.
pub fn handle(n: usize) -> String {
    format!("bench-{n}@example.com")
}

/// A tenant created for this run, and its all-scopes key as a ready header.
#[derive(Clone)]
pub struct Tenant {
    /// The tenant's id, for the operator's routes.
    pub id: Arc<str>,
    http: Client,
    base: Arc<str>,
    auth: HeaderValue,
}

#[derive(Deserialize)]
struct TenantCreated {
    tenant: CreatedId,
    #[serde(rename = "apiKey")]
    api_key: ApiKey,
}

#[derive(Deserialize)]
struct CreatedId {
    id: String,
}

#[derive(Deserialize)]
struct ApiKey {
    key: String,
}

impl Tenant {
    pub async fn create(http: Client, target: &Target) -> anyhow::Result<Self> {
        let base = target.url.as_str();
        let name = format!("bench-{:016x}", rand::random::<u64>());
        let sent = http
            .post(format!("{base}/v1/admin/tenants"))
            .bearer_auth(&target.admin_token)
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .with_context(|| format!("cannot reach seqhook at {base}"))?;
        let created: TenantCreated = match check(Ok(sent), StatusCode::CREATED).await {
            Ok(response) => response
                .json()
                .await
                .context("decoding the created tenant")?,
            Err(why) => bail!("creating the bench tenant at {base}: {why}"),
        };
        // Built once: every request clones it (a reference count), none formats it.
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", created.api_key.key))
            .context("the server answered an API key that is not a valid header value")?;
        auth.set_sensitive(true);
        Ok(Self {
            id: created.tenant.id.into(),
            http,
            base: base.into(),
            auth,
        })
    }

    /// `…/v1/identities/{handle}/events`, parsed once per identity rather than per request.
    pub fn events_url(&self, handle: &str) -> anyhow::Result<Url> {
        let url = format!("{}/v1/identities/{handle}/events", self.base);
        Url::parse(&url).with_context(|| format!("invalid URL {url}"))
    }

    /// Any API path, e.g. `/v1/webhooks`.
    pub fn api_url(&self, path: &str) -> anyhow::Result<Url> {
        let url = format!("{}{path}", self.base);
        Url::parse(&url).with_context(|| format!("invalid URL {url}"))
    }

    /// The `Authorization` header the tenant's requests carry.
    pub fn authorization(&self) -> &HeaderValue {
        &self.auth
    }

    pub fn get(&self, url: Url) -> RequestBuilder {
        self.http.get(url).header(AUTHORIZATION, self.auth.clone())
    }

    pub fn delete(&self, url: Url) -> RequestBuilder {
        self.http
            .delete(url)
            .header(AUTHORIZATION, self.auth.clone())
    }

    /// A pre-serialised JSON body. A `Vec` clone per request costs a memcpy; the crate does
    /// not depend on `bytes`, which would make it free, and it is not worth the dependency.
    pub fn post_json(&self, url: Url, body: Vec<u8>) -> RequestBuilder {
        self.http
            .post(url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
    }

    /// Creates `bench-0…bench-{count-1}`, `SETUP_CONCURRENCY` at a time; answers the handles.
    pub async fn create_identities(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let handles: Arc<Vec<String>> = Arc::new((0..count).map(handle).collect());
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = JoinSet::new();
        for _ in 0..SETUP_CONCURRENCY.min(count) {
            let (tenant, handles, next) = (self.clone(), handles.clone(), next.clone());
            workers.spawn(async move {
                while let Some(handle) = handles.get(next.fetch_add(1, Ordering::Relaxed)) {
                    tenant.create_identity(handle).await?;
                }
                anyhow::Ok(())
            });
        }
        // Returning early drops the set, which aborts the remaining workers.
        while let Some(joined) = workers.join_next().await {
            joined.context("an identity-creating task panicked")??;
        }
        Ok(Arc::try_unwrap(handles).unwrap_or_else(|shared| shared.as_ref().clone()))
    }

    async fn create_identity(&self, handle: &str) -> anyhow::Result<()> {
        let url = format!("{}/v1/identities/{handle}", self.base);
        let sent = self
            .http
            .put(&url)
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await;
        match sent.map_err(anyhow::Error::from) {
            Ok(response) if matches!(response.status(), StatusCode::CREATED | StatusCode::OK) => {
                // Read to the end so the connection goes back to the pool.
                response
                    .bytes()
                    .await
                    .map(drop)
                    .context("reading the identity")
            }
            Ok(response) => bail!("creating identity {handle}: {}", describe(response).await),
            Err(error) => Err(error.context(format!("creating identity {handle}"))),
        }
    }

    /// The identity's current `headSeq`; used to resynchronise after a failed append.
    pub async fn head_seq(&self, handle: &str) -> Result<u64, String> {
        #[derive(Deserialize)]
        struct Identity {
            #[serde(rename = "headSeq")]
            head_seq: u64,
        }
        let url = format!("{}/v1/identities/{handle}", self.base);
        let sent = self
            .http
            .get(&url)
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await;
        let response = check(sent, StatusCode::OK).await?;
        let identity: Identity = response
            .json()
            .await
            .map_err(|error| format!("decoding identity {handle}: {error}"))?;
        Ok(identity.head_seq)
    }
}

/// The response if it has the status the scenario expects; otherwise why not, as a line
/// for the first-error report (status and the start of the body).
pub async fn check(
    sent: reqwest::Result<Response>,
    expected: StatusCode,
) -> Result<Response, String> {
    let response = sent.map_err(|error| format!("request failed: {error}"))?;
    if response.status() == expected {
        Ok(response)
    } else {
        Err(describe(response).await)
    }
}

async fn describe(response: Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let body: String = body.chars().take(ERROR_BODY_CHARS).collect();
    format!("{status}: {body}")
}

/// An event as the scenarios read it: only its `seq` matters to them.
#[derive(Deserialize)]
pub struct Envelope {
    pub seq: u64,
}

/// `POST …/events` → 201.
#[derive(Deserialize)]
pub struct Appended {
    pub events: Vec<Envelope>,
}

/// `GET …/events` → 200.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub events: Vec<Envelope>,
    pub cursor: u64,
    pub has_more: bool,
}
