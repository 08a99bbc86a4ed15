//! The HTTP server around the router: a cap on open connections, a deadline for each
//! request's headers (which also closes keep-alive connections left idle), and a drain at
//! shutdown. A slow or silent client costs a connection for a bounded time only, while the
//! long-polls and streams that legitimately stay open for minutes are left alone: they
//! have sent their headers.

use std::pin::pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::metrics::Metrics;

/// How long the connections open at shutdown get to finish what they are doing.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refused connection is given to read its 503 before it is dropped.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Refusals being written at once; past them, a connection over the cap is closed without
/// a word, so a flood cannot hold more descriptors than the cap and these.
const REFUSALS_AT_ONCE: usize = 64;
/// Descriptors kept for everything but client connections: database connections, the
/// listener, webhook requests, files.
const OTHER_DESCRIPTORS: u64 = 1_024;

const REFUSAL_BODY: &str = r#"{"error":{"code":"too_many_connections","message":"the server is at its connection limit; retry shortly","details":{}}}"#;

static REFUSAL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{REFUSAL_BODY}",
        REFUSAL_BODY.len()
    )
});

type Connection = http1::UpgradeableConnection<TokioIo<TcpStream>, TowerToHyperService<Connected>>;

/// The router, handing each request its connection's hold: a request that takes its
/// connection over (a WebSocket) keeps the connection counted, under the cap, and drained
/// at shutdown for as long as it runs, after hyper has let go of it.
#[derive(Clone)]
struct Connected {
    router: Router,
    hold: ConnectionHold,
}

/// A connection's place under the cap and in the drain; the connection lasts as long as a
/// clone of it.
#[derive(Clone)]
pub struct ConnectionHold(#[allow(dead_code, reason = "held, not read")] Arc<Open>);

impl tower::Service<Request<Incoming>> for Connected {
    type Response = <Router as tower::Service<Request<Incoming>>>::Response;
    type Error = <Router as tower::Service<Request<Incoming>>>::Error;
    type Future = <Router as tower::Service<Request<Incoming>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::<Request<Incoming>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(self.hold.clone());
        self.router.call(request)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Connections open at once; past it, new ones are answered 503 and closed.
    pub max_connections: usize,
    /// A request's headers must arrive within this, counted from the end of the previous
    /// response on a keep-alive connection.
    pub header_timeout: Duration,
}

/// Serves `router` on `listener` until `stopping`, then stops accepting, lets open
/// connections finish their requests for up to `DRAIN_TIMEOUT`, and closes the rest.
pub async fn serve(
    mut listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    stopping: CancellationToken,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let room = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    let connections = TaskTracker::new();
    let abandon = CancellationToken::new();
    loop {
        // Errors (say, out of file descriptors) are logged and retried by `accept` itself.
        let (stream, _peer) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = stopping.cancelled() => break,
        };
        let Ok(permit) = Arc::clone(&room).try_acquire_owned() else {
            metrics.connections_refused.increment(1);
            if let Ok(refusing) = Arc::clone(&refusals).try_acquire_owned() {
                connections.spawn(async move {
                    refuse(stream).await;
                    drop(refusing);
                });
            }
            continue;
        };
        // Answers are written whole; waiting to coalesce them only delays wake-ups.
        let _ = stream.set_nodelay(true);
        // A clone of the router is a reference count: every connection shares one route
        // table (a table per connection would cost ~6 KB each, times 10,000 long-polls).
        // Upgrades are kept for WebSocket streams.
        let hold = ConnectionHold(Arc::new(Open::new(
            Arc::clone(&metrics),
            permit,
            connections.token(),
        )));
        let service = Connected {
            router: router.clone(),
            hold: hold.clone(),
        };
        let connection = http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        connections.spawn(drive(connection, hold, stopping.clone(), abandon.clone()));
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "connections still busy after the drain timeout; closing them"
        );
        abandon.cancel();
        connections.wait().await;
    }
}

/// Raises this process's open-file limit as far as the system lets it, since every
/// connection holds a descriptor (the usual default, 1,024, would stop a server holding
/// 10,000 long-polls at a tenth of them), and says so if the cap cannot be reached.
pub fn raise_open_file_limit(max_connections: usize) {
    let wanted = max_connections as u64 + OTHER_DESCRIPTORS;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit < wanted => tracing::warn!(
            limit,
            max_connections,
            "the open-file limit is below the connection cap; connections past it fail to open"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not raise the open-file limit"),
    }
}

/// Runs one connection. At shutdown it is asked to finish: an idle one closes at once, a
/// busy one after its current response (held long-polls answer at once, streams end).
async fn drive(
    connection: Connection,
    open: ConnectionHold,
    stopping: CancellationToken,
    abandon: CancellationToken,
) {
    let mut connection = pin!(connection);
    let mut asked_to_finish = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    // A client that went away or sent garbage, or a header deadline missed.
                    tracing::debug!(%error, "connection ended");
                }
                break;
            }
            () = stopping.cancelled(), if !asked_to_finish => {
                asked_to_finish = true;
                connection.as_mut().graceful_shutdown();
            }
            () = abandon.cancelled() => break,
        }
    }
    drop(open);
}

/// Answers 503 on a connection past the cap. The request is read (as far as it came) until
/// the client closes, so closing does not reset the connection under the answer.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, async {
        stream.write_all(REFUSAL.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// Counts a connection as open, holds its place under the cap, and keeps the drain
/// waiting, for as long as it lives.
struct Open {
    metrics: Arc<Metrics>,
    _permit: OwnedSemaphorePermit,
    _drained: TaskTrackerToken,
}

impl Open {
    fn new(metrics: Arc<Metrics>, permit: OwnedSemaphorePermit, drained: TaskTrackerToken) -> Self {
        metrics.connections_open.increment(1.0);
        Self {
            metrics,
            _permit: permit,
            _drained: drained,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.metrics.connections_open.decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_well_formed_json_answer() {
        let text = REFUSAL.as_str();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "too_many_connections");
    }
}
