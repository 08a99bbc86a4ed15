//! The application as a value: `App::build(config)` wires the parts, `app.serve(listener,
//! shutdown)` runs them until `shutdown`. Tests, `bench` and the binary all use it.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::activity::Activity;
use crate::clock::{Clock, SystemClock};
use crate::config::ServeConfig;
use crate::delivery::pool::DeliveryPool;
use crate::domain::key::{KeyHash, KeySecret};
use crate::http::serve::ConnectionLimits;
use crate::http::state::{AppState, Health, Settings};
use crate::log::EventLog;
use crate::log::appender::Appender;
use crate::log::broadcast::HeadBroadcast;
use crate::log::hooks::AfterCommit;
use crate::log::wakeups::Wakeups;
use crate::metrics::Metrics;
use crate::retention::Sweeper;
use crate::sources::Sources;
use crate::store::{Notice, NoticeSink, Store};
use crate::tenancy::keyring::Keyring;
use crate::webhooks::Webhooks;

pub struct App {
    state: AppState,
    body_limit: usize,
    limits: ConnectionLimits,
    /// Cancelled when shutdown begins: held long-polls answer at once.
    stopping: CancellationToken,
    /// Cancelled once every append has committed: the last heads are broadcast, then the
    /// listener and broadcaster stop.
    background_stop: CancellationToken,
    writers: TaskTracker,
    background: TaskTracker,
    store: Arc<dyn Store>,
    generated_admin_token: Option<String>,
}

impl App {
    pub async fn build(config: ServeConfig) -> anyhow::Result<App> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As `build`, with the delivery workers' clock given: tests move it forward.
    pub async fn build_with_clock(
        config: ServeConfig,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<App> {
        let store = crate::store::open(&config.database.database()?, config.db_pool).await?;
        let dyn_store = Arc::clone(&store);
        let metrics = Metrics::new();

        let wakeups = Arc::new(Wakeups::default());
        let broadcast = Arc::new(HeadBroadcast::default());
        let writers = TaskTracker::new();
        let background = TaskTracker::new();
        let stopping = CancellationToken::new();
        let background_stop = CancellationToken::new();

        let sweeper = Sweeper::new(
            Arc::clone(&dyn_store),
            Arc::clone(&clock),
            Arc::clone(&metrics),
            config.sweep(),
        );
        // The sweep is background work, like deliveries: an API-only process leaves it to
        // the workers.
        if !config.no_workers {
            background.spawn(Arc::clone(&sweeper).run(background_stop.clone()));
        }

        // Every process counts what it does, whatever its role.
        let activity = Activity::new(Arc::clone(&dyn_store), Arc::clone(&clock));
        background.spawn(Arc::clone(&activity).run(background_stop.clone()));

        let deliveries = DeliveryPool::new(
            Arc::clone(&dyn_store),
            Arc::clone(&clock),
            config.delivery(),
            Arc::clone(&metrics),
            Arc::clone(&activity),
        );
        if !config.no_workers {
            background.spawn(Arc::clone(&deliveries).run(stopping.clone()));
        }

        // A commit wakes this process's waiters first, then is told to other processes.
        let announcers: Vec<Arc<dyn AfterCommit>> = vec![wakeups.clone(), broadcast.clone()];
        let appender = Appender::start(
            Arc::clone(&dyn_store),
            announcers,
            deliveries.clone(),
            config.append_writers,
            &writers,
        );
        background
            .spawn(Arc::clone(&broadcast).run(Arc::clone(&dyn_store), background_stop.clone()));

        let keyring = Arc::new(Keyring::new(Arc::clone(&dyn_store)));
        let health = Arc::new(Health::default());
        let sink = Arc::new(Notices {
            wakeups: Arc::clone(&wakeups),
            keyring: Arc::clone(&keyring),
            health: Arc::clone(&health),
            deliveries: Arc::clone(&deliveries),
        });
        {
            let (store, stop) = (Arc::clone(&dyn_store), background_stop.clone());
            background.spawn(async move { store.listen(sink, stop).await });
        }

        let (admin_token, generated_admin_token) = match &config.admin_token {
            Some(token) => (KeyHash::of(token), None),
            None => {
                let token = KeySecret::generate().expose().replacen("shk_", "sha_", 1);
                (KeyHash::of(&token), Some(token))
            }
        };
        let log = Arc::new(EventLog::new(
            Arc::clone(&dyn_store),
            appender,
            wakeups,
            Arc::clone(&metrics),
            Arc::clone(&activity),
            stopping.clone(),
            config.outcome_wait,
        ));
        let webhooks = Arc::new(Webhooks::new(
            Arc::clone(&dyn_store),
            Arc::clone(&clock),
            Arc::clone(&deliveries),
            config.allows_private_webhooks(),
        ));
        let sources = Arc::new(Sources::new(
            Arc::clone(&dyn_store),
            Arc::clone(&log),
            Arc::clone(&clock),
            Arc::clone(&metrics),
        ));
        let state = AppState {
            log,
            keyring,
            webhooks,
            sources,
            store: dyn_store,
            settings: Arc::new(Settings {
                admin_token,
                max_wait: config.max_wait,
                api: !config.workers_only,
                stream_heartbeat: config.stream_heartbeat,
                body_timeout: config.body_timeout,
                body_limit: config.body_limit,
                public_url: config.public_url.clone(),
                document: crate::http::openapi::render(config.max_wait).into(),
            }),
            metrics,
            health,
            deliveries,
            sweeper,
            activity,
            clock,
        };
        Ok(App {
            state,
            body_limit: config.body_limit,
            limits: ConnectionLimits {
                max_connections: config.max_connections.max(1),
                header_timeout: config.header_timeout,
            },
            stopping,
            background_stop,
            writers,
            background,
            store,
            generated_admin_token,
        })
    }

    /// The admin token this app made up, when none was configured.
    pub fn generated_admin_token(&self) -> Option<&str> {
        self.generated_admin_token.as_deref()
    }

    /// Held long-polls (waiting for an append), as the count changes.
    pub fn held_long_polls(&self) -> tokio::sync::watch::Receiver<usize> {
        self.state.log.wakeups().holding()
    }

    /// The delivery pool, to wake it after moving its clock.
    pub fn deliveries(&self) -> Arc<DeliveryPool> {
        Arc::clone(&self.state.deliveries)
    }

    /// The retention sweep, to run a pass after moving the clock.
    pub fn sweeper(&self) -> Arc<Sweeper> {
        Arc::clone(&self.state.sweeper)
    }

    /// The app's health, to await its wake-up listener.
    pub fn health(&self) -> Arc<Health> {
        Arc::clone(&self.state.health)
    }

    /// Serves until `shutdown`, then: stops accepting, answers held long-polls at once,
    /// lets requests in flight finish (bounded), commits every queued append, broadcasts
    /// the last heads, and closes the pool.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let App {
            state,
            body_limit,
            limits,
            stopping,
            background_stop,
            writers,
            background,
            store,
            ..
        } = self;
        let metrics = Arc::clone(&state.metrics);
        let activity = Arc::clone(&state.activity);
        let router = crate::http::router(state, body_limit);
        {
            let stopping = stopping.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                stopping.cancel();
            });
        }
        crate::http::serve::serve(listener, router, limits, metrics, stopping).await;
        // The router (and with it the last handle on the appender) is gone: the writers
        // commit what is queued and exit.
        writers.close();
        writers.wait().await;
        background_stop.cancel();
        background.close();
        background.wait().await;
        // Everything has stopped counting: the last appends and attempts are stored too.
        if let Err(error) = activity.add().await {
            tracing::warn!(%error, "could not store the last activity counts");
        }
        store.close().await;
        Ok(())
    }
}

/// Where the listener's notices go: other processes' appends wake this one's waiters and,
/// when they wrote deliveries due, its workers; a revoked key is forgotten; a reconnected
/// listener may have missed anything, so everything is looked at again.
struct Notices {
    wakeups: Arc<Wakeups>,
    keyring: Arc<Keyring>,
    health: Arc<Health>,
    deliveries: Arc<DeliveryPool>,
}

impl NoticeSink for Notices {
    fn notice(&self, notice: Notice) {
        match notice {
            Notice::Appended {
                heads,
                deliveries_due,
            } => {
                for (identity, head) in heads {
                    self.wakeups.publish(identity, head);
                }
                if deliveries_due {
                    self.deliveries.wake();
                }
            }
            Notice::KeyRevoked(id) => self.keyring.forget(id),
            Notice::Listening => {
                self.health.set_listening(true);
                self.wakeups.wake_all();
                self.deliveries.wake();
                self.keyring.forget_all();
            }
            Notice::Lost => self.health.set_listening(false),
        }
    }
}
