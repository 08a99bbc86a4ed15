//! The harness: a real database per test (PostgreSQL or SQLite), the real app on 127.0.0.1:0, and one
//! helper per endpoint so tests read as a user's actions.

pub mod browser;
pub mod cluster;
pub mod process;
pub mod providers;
#[allow(dead_code, reason = "only the PostgreSQL suite proxies its database")]
pub mod proxy;
pub mod receiver;
pub mod verifiers;

use std::net::SocketAddr;

use reqwest::{Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;

use seqhook::app::App;
use seqhook::clock::ManualClock;
use seqhook::config::ServeConfig;
use seqhook::delivery::pool::DeliveryPool;
use seqhook::retention::Sweeper;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use cluster::TestDatabase;

/// The store the suite runs on; each test binary picks one.
#[allow(dead_code, reason = "each test binary constructs one variant")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Several seqhook processes may share a PostgreSQL database; the embedded one is one
/// process's.
pub const MULTI_PROCESS: bool = matches!(crate::BACKEND, Backend::Postgres);

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// Requests to a running seqhook, one helper per endpoint.
pub struct ApiClient {
    pub base: String,
    pub client: reqwest::Client,
}

impl ApiClient {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn create_tenant(&self, name: &str) -> Tenant {
        let response = self
            .client
            .post(self.url("/v1/admin/tenants"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        Tenant {
            id: body["tenant"]["id"].as_str().expect("id").to_owned(),
            key: body["apiKey"]["key"].as_str().expect("key").to_owned(),
        }
    }

    pub async fn put_identity(&self, key: &str, handle: &str) -> Response {
        self.client
            .put(self.url(&format!("/v1/identities/{handle}")))
            .bearer_auth(key)
            .send()
            .await
            .expect("request")
    }

    /// A tenant with one identity, ready to append to.
    pub async fn tenant_with_identity(&self, handle: &str) -> Tenant {
        let tenant = self.create_tenant("acme").await;
        assert_eq!(
            self.put_identity(&tenant.key, handle).await.status(),
            StatusCode::CREATED
        );
        tenant
    }

    pub async fn append(&self, key: &str, handle: &str, body: &Value) -> Response {
        self.client
            .post(self.url(&format!("/v1/identities/{handle}/events")))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Appends and returns the envelopes, asserting 201.
    pub async fn append_ok(&self, key: &str, handle: &str, body: &Value) -> Vec<Value> {
        let response = self.append(key, handle, body).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["events"].as_array().expect("events").clone()
    }

    pub async fn pull(&self, key: &str, handle: &str, query: &str) -> Response {
        self.client
            .get(self.url(&format!("/v1/identities/{handle}/events?{query}")))
            .bearer_auth(key)
            .send()
            .await
            .expect("request")
    }

    /// Starts a pull in its own task, for long-polls held while the test goes on.
    pub fn spawn_pull(&self, key: &str, handle: &str, query: &str) -> JoinHandle<Response> {
        let request = self
            .client
            .get(self.url(&format!("/v1/identities/{handle}/events?{query}")))
            .bearer_auth(key);
        tokio::spawn(async move { request.send().await.expect("request") })
    }

    /// Pulls and returns the body, asserting 200.
    pub async fn pull_ok(&self, key: &str, handle: &str, query: &str) -> Value {
        let response = self.pull(key, handle, query).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn post(&self, key: &str, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch(&self, key: &str, path: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Registers a webhook and returns its body (with the secret), asserting 201.
    pub async fn create_webhook(&self, key: &str, body: &Value) -> Value {
        let response = self.post(key, "/v1/webhooks", body).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Mints a key (`admin`) and returns it, secret included, asserting 201.
    pub async fn create_key(&self, admin_key: &str, body: &Value) -> Value {
        let response = self.post(admin_key, "/v1/api-keys", body).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Revokes a key, asserting 204.
    pub async fn revoke_key(&self, admin_key: &str, id: &Value) {
        let response = self
            .client
            .delete(self.url(&format!("/v1/api-keys/{}", id.as_str().expect("key id"))))
            .bearer_auth(admin_key)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    /// Sets a tenant's own retention through the admin API.
    pub async fn set_retention(&self, tenant: &Tenant, retention: &Value) -> Response {
        self.client
            .put(self.url(&format!("/v1/admin/tenants/{}/retention", tenant.id)))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "retention": retention }))
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, key: &str, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, key: &str, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request")
    }
}

pub struct TestApp {
    pub api: ApiClient,
    /// Held long-polls: lets a test append only once a long-poll has read and is waiting.
    pub armed: watch::Receiver<usize>,
    /// The delivery workers' clock: tests move it forward to make retries due.
    pub clock: Arc<ManualClock>,
    deliveries: Arc<DeliveryPool>,
    sweeper: Arc<Sweeper>,
    shutdown: CancellationToken,
    served: JoinHandle<anyhow::Result<()>>,
}

/// A tenant, as its first key.
#[derive(Clone)]
pub struct Tenant {
    pub id: String,
    pub key: String,
}

impl std::ops::Deref for TestApp {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

impl TestApp {
    /// Requests to a seqhook process the test started itself.
    pub fn client_for(port: u16) -> ApiClient {
        ApiClient {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        }
    }

    /// An app on `database_url`, with its listener connected.
    pub async fn spawn(database_url: &str) -> TestApp {
        Self::spawn_with(ServeConfig::for_database(database_url)).await
    }

    pub async fn spawn_with(mut config: ServeConfig) -> TestApp {
        config.allow_private_webhooks = Some(true);
        Self::spawn_guarded(config).await
    }

    /// As `spawn_with`, keeping the config's SSRF guard as it is.
    pub async fn spawn_guarded(mut config: ServeConfig) -> TestApp {
        // `RUST_LOG=seqhook=debug cargo test …` shows the app's logs with a failing test.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
        config.admin_token = Some(ADMIN_TOKEN.into());
        // Only a wake-up can start a delivery: a prompt one proves the wake-up path.
        config.delivery_poll = Duration::from_secs(3600);
        // Sweep passes run when a test asks (`sweep`), not on a timer beside it.
        config.sweep_interval = Duration::from_secs(3600);
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("bound address");
        let clock = Arc::new(ManualClock::default());
        let app = App::build_with_clock(config, clock.clone())
            .await
            .expect("app builds");
        let deliveries = app.deliveries();
        let sweeper = app.sweeper();
        let health = app.health();
        let armed = app.held_long_polls();
        let shutdown = CancellationToken::new();
        let served = tokio::spawn(app.serve(listener, shutdown.clone()));
        health.wait_listening().await;
        TestApp {
            api: ApiClient {
                base: format!("http://{address}"),
                client: reqwest::Client::new(),
            },
            armed,
            clock,
            deliveries,
            sweeper,
            shutdown,
            served,
        }
    }

    /// Begins graceful shutdown and waits for it to finish.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.served
            .await
            .expect("serve task")
            .expect("clean shutdown");
    }

    /// Waits until this app has recorded `n` delivery attempts in all.
    pub async fn recorded(&self, n: u64) {
        let mut recorded = self.deliveries.recorded();
        tokio::time::timeout(
            Duration::from_secs(30),
            recorded.wait_for(|recorded| *recorded >= n),
        )
        .await
        .expect("attempts recorded within 30 s")
        .expect("app alive");
    }

    /// Moves the delivery clock forward and wakes the workers to look again.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.deliveries.wake();
    }

    /// Runs retention sweep passes until one leaves nothing behind; answers the events
    /// removed.
    pub async fn sweep(&self) -> u64 {
        let mut removed = 0;
        loop {
            let pass = self.sweeper.pass().await.expect("a sweep pass");
            removed += pass.events_removed;
            if !pass.more {
                return removed;
            }
        }
    }

    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until at least `n` long-polls are held by this app.
    pub async fn held(&self, n: usize) {
        let mut armed = self.armed.clone();
        armed
            .wait_for(|armed| *armed >= n)
            .await
            .expect("app alive");
    }
}

/// A valid `email.sent` payload.
pub fn email_sent(n: u64) -> Value {
    json!({
        "type": "email.sent",
        "data": {
            "convId": format!("conv_{n}"),
            "identity": "alice.acme@inboxbase.ai",
            "message": {
                "id": format!("<{n}@provider>"),
                "messageIdHeader": "<x@tryacme.com>",
                "from": "alice.chen@tryacme.com",
                "to": "morgan@northwindrobotics.com",
                "subject": "Quick intro",
                "snippet": "Hi Morgan",
                "ts": 1_777_200_000_000u64
            },
            "account": { "id": "acc_1", "email": "alice.chen@tryacme.com" }
        }
    })
}

/// A valid `email.no_reply` payload: small, for bulk appends.
pub fn no_reply(n: u64) -> Value {
    json!({
        "type": "email.no_reply",
        "data": { "convId": format!("conv_{n}"), "identity": "a", "afterMessageId": "<m>", "waitedMs": n }
    })
}

/// The seqs of a list of envelopes.
pub fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|event| event["seq"].as_u64().expect("seq"))
        .collect()
}

/// Asserts a JSON error response: status, `error.code`, and a human message.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(actual, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["error"]["details"].is_object(), "{body}");
    body
}
