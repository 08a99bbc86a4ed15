//! A real webhook receiver on 127.0.0.1: records every request and answers as the test
//! scripts it (a status, a `Retry-After`, or holding the request until told).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

#[derive(Clone)]
pub enum Reply {
    Status(u16),
    RetryAfter(u16, u64),
    /// Keeps the request in flight until the notify fires, then answers 200.
    HoldUntil(Arc<Notify>),
    /// A status with this body.
    Body(u16, &'static [u8]),
}

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn webhook_id(&self) -> &str {
        self.headers["webhook-id"].to_str().unwrap()
    }

    /// Verifies the signature with the `standardwebhooks` crate, not our own signer.
    pub fn verify(&self, secret: &str) -> bool {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&self.body, &self.headers)
            .is_ok()
    }
}

struct Shared {
    script: Mutex<VecDeque<Reply>>,
    sender: mpsc::UnboundedSender<Received>,
}

pub struct WebhookReceiver {
    pub url: String,
    shared: Arc<Shared>,
    received: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    server: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let (sender, received) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            script: Mutex::default(),
            sender,
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            shared,
            received: tokio::sync::Mutex::new(received),
            server,
        }
    }

    /// Replies for the next requests, in order; after them, 204.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.script.lock().unwrap().extend(replies);
    }

    /// The next request, waiting for it (and failing the test if none comes).
    pub async fn next(&self) -> Received {
        let mut received = self.received.lock().await;
        tokio::time::timeout(Duration::from_secs(30), received.recv())
            .await
            .expect("a webhook request within 30 s")
            .expect("receiver alive")
    }

    /// Requests already received and not yet taken, without waiting.
    pub async fn pending(&self) -> usize {
        self.received.lock().await.len()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let reply = shared.script.lock().unwrap().pop_front();
    let _ = shared.sender.send(Received { headers, body });
    match reply {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(Reply::Status(code)) => {
            (StatusCode::from_u16(code).unwrap(), "scripted reply").into_response()
        }
        Some(Reply::RetryAfter(code, seconds)) => (
            StatusCode::from_u16(code).unwrap(),
            [("retry-after", seconds.to_string())],
            "slow down",
        )
            .into_response(),
        Some(Reply::Body(code, body)) => {
            (StatusCode::from_u16(code).unwrap(), body).into_response()
        }
        Some(Reply::HoldUntil(release)) => {
            release.notified().await;
            StatusCode::OK.into_response()
        }
    }
}
