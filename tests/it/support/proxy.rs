//! A TCP proxy between the app and PostgreSQL that fails on cue: it loses the answer to the
//! statement carrying a marker (the commit happened, its acknowledgement never arrived), or
//! drops that statement before it reaches the server, or plays a server that is down.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What happens to the next statement carrying the marker.
#[derive(Clone, Debug)]
pub enum Fault {
    /// It reaches the server and commits; the connection is cut once the server is ready
    /// for the next statement, so its answer never comes back.
    LoseAnswer,
    /// As `LoseAnswer`, and then the server seems down until `come_back`.
    LoseAnswerThenGoDown,
    /// The connection is cut as it passes: the server never sees it.
    DropRequest,
}

pub struct FaultyProxy {
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    upstream: String,
    armed: Mutex<Option<(Vec<u8>, Fault)>>,
    /// True while the proxy plays a server that is down: open connections are cut and new
    /// ones refused.
    down: watch::Sender<bool>,
}

impl FaultyProxy {
    /// A proxy to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            armed: Mutex::new(None),
            down: watch::channel(false).0,
        });
        let task = tokio::spawn(accept(listener, Arc::clone(&shared)));
        Self { port, shared, task }
    }

    /// The next statement whose bytes hold `marker` meets `fault`.
    pub fn arm(&self, marker: &str, fault: Fault) {
        *self.shared.armed.lock().unwrap() = Some((marker.as_bytes().to_vec(), fault));
    }

    /// Whether the armed fault has struck.
    pub fn struck(&self) -> bool {
        self.shared.armed.lock().unwrap().is_none()
    }

    pub fn come_back(&self) {
        self.shared.down.send_replace(false);
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if *shared.down.borrow() {
            continue; // dropped: refused
        }
        let Ok(server) = TcpStream::connect(&shared.upstream).await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        tokio::spawn(relay(client, server, Arc::clone(&shared)));
    }
}

/// Relays both ways until either side closes, the server "goes down", or a fault strikes.
async fn relay(client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mut down = shared.down.subscribe();
    // Set once the marked statement went through: the server's answer is swallowed, and
    // with `true` the server goes down once it has committed.
    let (lose_answer, mut losing) = watch::channel(None::<bool>);
    let outbound = async {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let read = client_read.read(&mut buffer).await.unwrap_or(0);
            if read == 0 {
                return;
            }
            let chunk = &buffer[..read];
            let fault = {
                let mut armed = shared.armed.lock().unwrap();
                let mut window = std::mem::take(&mut tail);
                window.extend_from_slice(chunk);
                let hit = armed
                    .as_ref()
                    .is_some_and(|(marker, _)| contains(&window, marker));
                let keep = armed.as_ref().map_or(0, |(marker, _)| marker.len());
                tail = window[window.len().saturating_sub(keep)..].to_vec();
                if hit {
                    armed.take().map(|(_, fault)| fault)
                } else {
                    None
                }
            };
            match fault {
                Some(Fault::DropRequest) => return,
                Some(Fault::LoseAnswer) => {
                    lose_answer.send_replace(Some(false));
                }
                Some(Fault::LoseAnswerThenGoDown) => {
                    lose_answer.send_replace(Some(true));
                }
                None => {}
            }
            if server_write.write_all(chunk).await.is_err() {
                return;
            }
        }
    };
    let inbound = async {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut swallowed: Vec<u8> = Vec::new();
        loop {
            let read = server_read.read(&mut buffer).await.unwrap_or(0);
            if read == 0 {
                return;
            }
            let chunk = &buffer[..read];
            if let Some(then_go_down) = *losing.borrow_and_update() {
                // ReadyForQuery ('Z', length 5): the statement's transaction is over, so
                // it committed; cut before the client hears of it.
                swallowed.extend_from_slice(chunk);
                if contains(&swallowed, &[b'Z', 0, 0, 0, 5]) {
                    if then_go_down {
                        shared.down.send_replace(true);
                    }
                    return;
                }
                continue;
            }
            if client_write.write_all(chunk).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = outbound => {}
        () = inbound => {}
        _ = down.wait_for(|down| *down) => {}
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}
