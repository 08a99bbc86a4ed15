//! The in-process webhook receiver on loopback that push scenarios count arrivals with.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tokio::task::JoinHandle;

/// Told of each request's `webhook-id` and the instant it arrived.
pub type OnArrival = Arc<dyn Fn(&str, Instant) + Send + Sync>;

/// Stopped when dropped, so an early return (a failed setup) does not leave it running.
pub struct Receiver {
    pub url: String,
    task: JoinHandle<()>,
}

impl Receiver {
    pub async fn start(scenario: &'static str, on_arrival: OnArrival) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the webhook receiver on loopback")?;
        let address = listener
            .local_addr()
            .context("reading the receiver's address")?;
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(on_arrival);
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("{scenario}: the webhook receiver stopped: {error}");
            }
        });
        Ok(Self {
            url: format!("http://{address}/hook"),
            task,
        })
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `POST /hook`: notes the arrival, answers 204. It reads the body to the end, so the
/// server's connection stays reusable, but does not verify the signature: the scenarios
/// measure delivery, the tests check signing.
async fn receive(
    State(on_arrival): State<OnArrival>,
    headers: HeaderMap,
    _body: Bytes,
) -> StatusCode {
    // Taken first, so whatever the callback waits for is not counted as delivery latency.
    let now = Instant::now();
    if let Some(id) = headers.get("webhook-id").and_then(|id| id.to_str().ok()) {
        on_arrival(id, now);
    }
    StatusCode::NO_CONTENT
}
