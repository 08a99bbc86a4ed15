//! What every handler can reach: cheap `Clone` handles, no globals, so several apps can
//! run side by side in one test process.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::activity::Activity;
use crate::clock::Clock;
use crate::delivery::pool::DeliveryPool;
use crate::domain::key::KeyHash;
use crate::log::EventLog;
use crate::metrics::Metrics;
use crate::retention::Sweeper;
use crate::sources::Sources;
use crate::store::Store;
use crate::tenancy::keyring::Keyring;
use crate::webhooks::Webhooks;

#[derive(Clone)]
pub struct AppState {
    pub log: Arc<EventLog>,
    pub keyring: Arc<Keyring>,
    pub webhooks: Arc<Webhooks>,
    pub sources: Arc<Sources>,
    pub store: Arc<dyn Store>,
    pub settings: Arc<Settings>,
    pub health: Arc<Health>,
    pub deliveries: Arc<DeliveryPool>,
    pub sweeper: Arc<Sweeper>,
    /// Appends and attempts by the minute, for the stats.
    pub activity: Arc<Activity>,
    /// The time, as the delivery workers see it: tests move it forward.
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
}

pub struct Settings {
    pub admin_token: KeyHash,
    pub max_wait: Duration,
    /// False in `--workers-only` processes: only health routes answer.
    pub api: bool,
    /// How often an idle event stream sends a heartbeat comment.
    pub stream_heartbeat: Duration,
    /// A request body must arrive whole within this.
    pub body_timeout: Duration,
    /// Largest request body accepted.
    pub body_limit: usize,
    /// Where providers reach this server, for ingest URLs.
    pub public_url: Option<url::Url>,
    /// `/openapi.json`, rendered for this server's settings.
    pub document: Arc<str>,
}

/// What `/readyz` reports beyond a database round trip.
pub struct Health {
    listening: watch::Sender<bool>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            listening: watch::channel(false).0,
        }
    }
}

impl Health {
    pub fn set_listening(&self, listening: bool) {
        self.listening.send_replace(listening);
    }

    pub fn listening(&self) -> bool {
        *self.listening.borrow()
    }

    /// Resolves once the wake-up listener is connected: from then on, appends made by
    /// other processes wake this one's waiters.
    pub async fn wait_listening(&self) {
        let mut listening = self.listening.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = listening.wait_for(|listening| *listening).await;
    }
}
