//! Prometheus metrics. Each `App` owns its recorder rather than installing a global one,
//! so several apps in one process (tests, `bench`) each count only their own work.

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::domain::delivery::AttemptOutcome;

const METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// Seconds; from a loopback receiver's sub-millisecond answer to the 15 s timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
];
/// Seconds from an event's append to its delivery: retries push it to hours.
const LAG_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0, 21600.0,
];

const DELIVERY_OUTCOMES: [&str; 4] = ["delivered", "retrying", "failed", "webhook_gone"];
const SOURCE_POST_OUTCOMES: [&str; 2] = ["taken", "refused"];

pub struct Metrics {
    handle: PrometheusHandle,
    pub events_appended: Counter,
    pub pulls: Counter,
    pub held_long_polls: Gauge,
    pub open_streams: Gauge,
    deliveries: [Counter; DELIVERY_OUTCOMES.len()],
    source_posts: [Counter; SOURCE_POST_OUTCOMES.len()],
    pub delivery_duration: Histogram,
    pub delivery_lag: Histogram,
    pub outbox_depth: Gauge,
    pub connections_open: Gauge,
    pub connections_refused: Counter,
    pub events_removed: Counter,
    pub deliveries_trimmed: Counter,
    pub sweep_last_run: Gauge,
    pub oldest_event_age: Gauge,
    pub database_bytes: Gauge,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("seqhook_delivery_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full("seqhook_delivery_lag_seconds".into()),
                    LAG_BUCKETS,
                )
            })
            .expect("bucket lists are not empty")
            .build_recorder();
        let counter = |name: &'static str, help: &'static str| {
            recorder.describe_counter(KeyName::from_const_str(name), None, help.into());
            recorder.register_counter(&Key::from_static_name(name), &METADATA)
        };
        let gauge = |name: &'static str, help: &'static str| {
            recorder.describe_gauge(KeyName::from_const_str(name), None, help.into());
            recorder.register_gauge(&Key::from_static_name(name), &METADATA)
        };
        let histogram = |name: &'static str, help: &'static str| {
            recorder.describe_histogram(KeyName::from_const_str(name), None, help.into());
            recorder.register_histogram(&Key::from_static_name(name), &METADATA)
        };
        let events_appended = counter(
            "seqhook_events_appended_total",
            "Events appended (idempotent re-sends not counted).",
        );
        let pulls = counter("seqhook_pulls_total", "Pull requests answered.");
        let held_long_polls = gauge(
            "seqhook_long_polls_held",
            "Long-polls waiting for an event now.",
        );
        let open_streams = gauge(
            "seqhook_streams_open",
            "Event streams (SSE and WebSocket) open now.",
        );
        let delivery_duration = histogram(
            "seqhook_delivery_duration_seconds",
            "Webhook request durations, answered or not.",
        );
        let delivery_lag = histogram(
            "seqhook_delivery_lag_seconds",
            "From an event's append to its successful delivery.",
        );
        let outbox_depth = gauge(
            "seqhook_outbox_depth",
            "Deliveries pending: due, leased, held or waiting for a retry.",
        );
        let connections_open = gauge(
            "seqhook_connections_open",
            "HTTP connections open now, held long-polls and streams included.",
        );
        let connections_refused = counter(
            "seqhook_connections_refused_total",
            "HTTP connections answered 503 because the connection cap was reached.",
        );
        let events_removed = counter(
            "seqhook_events_removed_total",
            "Events removed by the retention sweep and by erasures, with their deliveries.",
        );
        let deliveries_trimmed = counter(
            "seqhook_delivery_log_removed_total",
            "Finished deliveries removed, with their attempts, by the delivery log's window.",
        );
        let sweep_last_run = gauge(
            "seqhook_sweep_last_run_timestamp_seconds",
            "When the retention sweep last finished a pass (Unix time).",
        );
        let oldest_event_age = gauge(
            "seqhook_oldest_event_age_seconds",
            "Age of the oldest event any log holds, as of the sweep's last pass.",
        );
        let database_bytes = gauge(
            "seqhook_database_bytes",
            "The database's size on disk, tables and indexes together.",
        );
        recorder.describe_counter(
            KeyName::from_const_str("seqhook_deliveries_total"),
            None,
            "Webhook delivery attempts, by outcome.".into(),
        );
        let deliveries = DELIVERY_OUTCOMES.map(|outcome| {
            recorder.register_counter(
                &Key::from_parts(
                    "seqhook_deliveries_total",
                    vec![Label::from_static_parts("outcome", outcome)],
                ),
                &METADATA,
            )
        });
        recorder.describe_counter(
            KeyName::from_const_str("seqhook_source_posts_total"),
            None,
            "Providers' posts to inbound sources, taken or refused.".into(),
        );
        let source_posts = SOURCE_POST_OUTCOMES.map(|outcome| {
            recorder.register_counter(
                &Key::from_parts(
                    "seqhook_source_posts_total",
                    vec![Label::from_static_parts("outcome", outcome)],
                ),
                &METADATA,
            )
        });
        Arc::new(Self {
            handle: recorder.handle(),
            source_posts,
            events_appended,
            pulls,
            held_long_polls,
            open_streams,
            deliveries,
            delivery_duration,
            delivery_lag,
            outbox_depth,
            connections_open,
            connections_refused,
            events_removed,
            deliveries_trimmed,
            sweep_last_run,
            oldest_event_age,
            database_bytes,
        })
    }

    pub fn delivery_attempted(&self, outcome: &AttemptOutcome) {
        let index = match outcome {
            AttemptOutcome::Delivered => 0,
            AttemptOutcome::RetryAt(_) => 1,
            AttemptOutcome::GaveUp => 2,
            AttemptOutcome::Gone => 3,
        };
        self.deliveries[index].increment(1);
    }

    /// A provider's post to a source, taken or refused.
    pub fn source_post(&self, taken: bool) {
        self.source_posts[usize::from(!taken)].increment(1);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}
