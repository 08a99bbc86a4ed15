//! Cross-process signals over `LISTEN/NOTIFY`: heads that moved, keys revoked. A hint only:
//! the tables are the truth, so a lost notice delays a waiter and never loses an event.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::PgStore;
use crate::domain::cursor::Seq;
use crate::domain::identity::IdentityKey;
use crate::id::ApiKeyId;
use crate::store::{Notice, NoticeSink, Notices, StoreError, StoreResult};

const EVENTS_CHANNEL: &str = "seqhook_events";
const KEYS_CHANNEL: &str = "seqhook_keys";
/// Marks a head notice whose commits wrote deliveries due for a claim.
const DUE: &str = "due";
/// NOTIFY payloads must stay under 8,000 bytes; an entry is at most ~40.
const HEADS_PER_NOTICE: usize = 150;

/// A process's mark on the heads it publishes. Its own appends have already woken its own
/// waiters and workers, so the echo of its notices from the database is skipped: each
/// would otherwise cost a claim that finds nothing.
pub struct Origin(String);

impl Origin {
    pub fn generate() -> Self {
        Self(format!("from:{:016x}", rand::random::<u64>()))
    }
}

#[async_trait]
impl Notices for PgStore {
    /// Sends every moved head in one statement: the origin, `due` if deliveries were written
    /// due, then `identity:seq` pairs. Runs after the append committed: a NOTIFY inside the
    /// append transaction would take the cluster-wide notify lock at commit and serialise every
    /// append.
    async fn publish_heads(
        &self,
        heads: &[(IdentityKey, Seq)],
        deliveries_due: bool,
    ) -> StoreResult<()> {
        let payloads: Vec<String> = heads
            .chunks(HEADS_PER_NOTICE)
            .map(|chunk| {
                std::iter::once(self.origin.0.clone())
                    .chain(deliveries_due.then(|| DUE.to_owned()))
                    .chain(
                        chunk
                            .iter()
                            .map(|(identity, seq)| format!("{}:{}", identity.0, seq.0)),
                    )
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        notify(&self.notifier, EVENTS_CHANNEL, &payloads).await
    }

    /// The process's one listening connection. Reconnects and, once listening again, reports
    /// `Listening` so every waiter re-reads what it may have missed.
    async fn listen(&self, sink: Arc<dyn NoticeSink>, shutdown: CancellationToken) {
        let mut retry = Retry::default();
        while !shutdown.is_cancelled() {
            let mut listener = match connect(&self.url).await {
                Ok(listener) => listener,
                Err(error) => {
                    let pause = retry.next_pause();
                    if retry.attempts == 1 {
                        tracing::warn!(%error, "wake-up listener cannot connect; retrying");
                    } else {
                        tracing::debug!(%error, retry_in = ?pause, "wake-up listener cannot connect");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.cancelled() => return,
                    }
                    continue;
                }
            };
            if retry.attempts > 0 {
                tracing::info!(attempts = retry.attempts, "wake-up listener reconnected");
            }
            retry = Retry::default();
            sink.notice(Notice::Listening);
            loop {
                let received = tokio::select! {
                    received = listener.try_recv() => received,
                    _ = shutdown.cancelled() => return,
                };
                match received {
                    Ok(Some(notification)) => {
                        let notice =
                            parse(notification.channel(), notification.payload(), &self.origin);
                        if let Some(notice) = notice {
                            sink.notice(notice);
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, "wake-up listener failed");
                        break;
                    }
                }
            }
            tracing::warn!("wake-up listener lost its connection; reconnecting");
            sink.notice(Notice::Lost);
        }
    }
}

pub async fn publish_key_revoked(pool: &PgPool, id: ApiKeyId) -> StoreResult<()> {
    notify(pool, KEYS_CHANNEL, &[id.to_string()]).await
}

/// One statement for any number of payloads. Tried twice: the notices' one connection sits
/// idle between bursts and is not tested before use, so after a database restart the first
/// notice meets a dead connection; the pool replaces it, and the second try goes through.
async fn notify(pool: &PgPool, channel: &str, payloads: &[String]) -> StoreResult<()> {
    let send = || {
        sqlx::query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
            .bind(channel)
            .bind(payloads)
            .execute(pool)
    };
    match send().await.map_err(StoreError::from) {
        Err(StoreError::Unavailable(_)) => send().await?,
        sent => sent?,
    };
    Ok(())
}

/// When to try connecting again. A restart or a failover usually takes seconds, and every
/// moment without the listener delays other processes' wake-ups, so the first tries come
/// fast; an outage that lasts backs off, so a down server is not hammered.
#[derive(Default)]
struct Retry {
    attempts: u32,
}

impl Retry {
    const FAST: Duration = Duration::from_millis(100);
    const FAST_ATTEMPTS: u32 = 50;
    const LONGEST: Duration = Duration::from_secs(5);

    fn next_pause(&mut self) -> Duration {
        self.attempts += 1;
        let slow = self.attempts.saturating_sub(Self::FAST_ATTEMPTS).min(6);
        (Self::FAST * 2u32.pow(slow)).min(Self::LONGEST)
    }
}

async fn connect(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen_all([EVENTS_CHANNEL, KEYS_CHANNEL]).await?;
    Ok(listener)
}

fn parse(channel: &str, payload: &str, own: &Origin) -> Option<Notice> {
    match channel {
        EVENTS_CHANNEL => {
            // A payload with no origin comes from a process that marks neither its own
            // notices nor whether deliveries are due: assume they are.
            let mut pairs = payload.split(' ').peekable();
            let origin = pairs.next_if(|first| first.starts_with("from:"));
            if origin == Some(own.0.as_str()) {
                return None;
            }
            let deliveries_due = pairs.next_if_eq(&DUE).is_some() || origin.is_none();
            let heads = pairs
                .filter_map(|pair| {
                    let (identity, seq) = pair.split_once(':')?;
                    Some((IdentityKey(identity.parse().ok()?), Seq(seq.parse().ok()?)))
                })
                .collect();
            Some(Notice::Appended {
                heads,
                deliveries_due,
            })
        }
        KEYS_CHANNEL => payload.parse().ok().map(Notice::KeyRevoked),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_notices_parse_and_skip_garbage() {
        let own = Origin::generate();
        for (payload, due) in [
            ("1:5 2:7 x:1 3", true),
            ("from:00000000000000ff 1:5 2:7 x:1 3", false),
            ("from:00000000000000ff due 1:5 2:7 x:1 3", true),
        ] {
            let Some(Notice::Appended {
                heads,
                deliveries_due,
            }) = parse(EVENTS_CHANNEL, payload, &own)
            else {
                panic!("expected heads from {payload:?}");
            };
            assert_eq!(
                heads,
                vec![(IdentityKey(1), Seq(5)), (IdentityKey(2), Seq(7))]
            );
            assert_eq!(deliveries_due, due, "{payload}");
        }
    }

    #[test]
    fn reconnecting_retries_fast_for_five_seconds_then_backs_off() {
        let mut retry = Retry::default();
        let pauses: Vec<Duration> = (0..60).map(|_| retry.next_pause()).collect();
        assert!(
            pauses[..50]
                .iter()
                .all(|pause| *pause == Duration::from_millis(100))
        );
        assert_eq!(pauses[50], Duration::from_millis(200));
        assert_eq!(pauses[59], Duration::from_secs(5));
    }

    #[test]
    fn a_process_skips_the_echo_of_its_own_head_notices() {
        let own = Origin::generate();
        let echo = format!("{} 1:5", own.0);
        assert!(parse(EVENTS_CHANNEL, &echo, &own).is_none());
        let other = Origin::generate();
        assert!(parse(EVENTS_CHANNEL, &echo, &other).is_some());
    }
}
