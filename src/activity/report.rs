//! A report of activity over a window: per-minute series for the charts, totals, and each
//! webhook's health. What it reads is bounded by the window's minutes times the tenant's
//! webhooks (the totals) or the page of them (the health), never by how many events or
//! deliveries there are.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::latency;
use crate::domain::activity::{AttemptKind, FailedAttempt, Minute};
use crate::domain::webhook::Webhook;
use crate::id::{TenantId, WebhookId};
use crate::store::activity::Backlog;
use crate::store::{Store, StoreResult};

/// Pending deliveries a report counts per webhook, at most.
pub const PENDING_CAP: u32 = 1_000;
/// Points in a series, about: the step grows with the window.
const POINTS: u32 = 60;

/// How far back a report reads: whole minutes, from 5 minutes to 24 hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    minutes: u32,
}

impl Default for Window {
    fn default() -> Self {
        Self { minutes: 60 }
    }
}

impl Window {
    const SHORTEST: u32 = 5;
    const LONGEST: u32 = 24 * 60;

    /// A duration such as `15m`, `1h` or `24h`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let refused = || {
            format!(
                "`window` must be a whole number of minutes from {}m to {}h, such as `15m`, `1h` or `24h`",
                Self::SHORTEST,
                Self::LONGEST / 60
            )
        };
        let duration = humantime::parse_duration(raw.trim()).map_err(|_| refused())?;
        let seconds = duration.as_secs();
        if duration.subsec_nanos() != 0 || seconds % 60 != 0 {
            return Err(refused());
        }
        match u32::try_from(seconds / 60) {
            Ok(minutes) if (Self::SHORTEST..=Self::LONGEST).contains(&minutes) => {
                Ok(Self { minutes })
            }
            _ => Err(refused()),
        }
    }

    /// Minutes per point of the series.
    fn step(self) -> u32 {
        self.minutes.div_ceil(POINTS)
    }

    fn points(self) -> u32 {
        self.minutes.div_ceil(self.step())
    }

    /// The first minute read: the last point ends with the minute under way.
    fn first_minute(self, now: DateTime<Utc>) -> Minute {
        Minute(Minute::of(now).0 + 1 - i64::from(self.points() * self.step()))
    }

    fn label(self) -> String {
        if self.minutes % 60 == 0 {
            format!("{}h", self.minutes / 60)
        } else {
            format!("{}m", self.minutes)
        }
    }
}

/// Activity over a window.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// The window read, in its shortest form (`120m` reads back as `2h`).
    #[schema(example = "1h")]
    pub window: String,
    /// The start of the first point. A window that is not a whole number of steps starts
    /// a little earlier (`61m` reads 62 minutes, in 31 steps of 2).
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub from: DateTime<Utc>,
    /// Now: the last point is the minute under way.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub to: DateTime<Utc>,
    /// How much of the window each point covers: a minute up to an hour's window, more
    /// beyond, so a series has about 60 points.
    #[schema(example = 60)]
    pub step_seconds: u32,
    pub totals: Totals,
    /// Oldest first, one per step, with zeros where nothing happened.
    pub series: Vec<Point>,
    /// A page of the tenant's webhooks, by id, each with its health over the window.
    pub webhooks: Vec<WebhookHealth>,
    /// Pass as `after` for the next page of webhooks; null on the last.
    pub next: Option<String>,
}

/// Attempts by what they came to. `retrying`: not delivered, to be tried again; `failed`:
/// not delivered on the last attempt, so the delivery failed.
#[derive(Clone, Copy, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempts {
    pub delivered: u64,
    pub retrying: u64,
    pub failed: u64,
}

impl Attempts {
    fn add(&mut self, kind: AttemptKind, attempts: u64) {
        match kind {
            AttemptKind::Delivered => self.delivered += attempts,
            AttemptKind::Retrying => self.retrying += attempts,
            AttemptKind::Failed => self.failed += attempts,
        }
    }

    /// Delivered attempts over all attempts; null when there were none.
    fn success_rate(self) -> Option<f64> {
        let all = self.delivered + self.retrying + self.failed;
        (all > 0).then(|| self.delivered as f64 / all as f64)
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Events appended by the tenant.
    pub appended: u64,
    #[serde(flatten)]
    pub attempts: Attempts,
    /// Delivered attempts over all attempts, 0–1; null when there were none.
    pub success_rate: Option<f64>,
}

/// One step of the series: events appended and delivery attempts made in it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub at: DateTime<Utc>,
    pub appended: u64,
    #[serde(flatten)]
    pub attempts: Attempts,
}

/// A webhook's health over the window, and how far behind it is now.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookHealth {
    pub id: WebhookId,
    #[schema(format = "uri")]
    pub url: String,
    pub description: String,
    pub active: bool,
    pub disabled_reason: Option<String>,
    #[serde(flatten)]
    pub attempts: Attempts,
    /// Delivered attempts over all attempts, 0–1; null when there were none.
    pub success_rate: Option<f64>,
    /// How long the receiver took to answer, over the attempts it answered (timeouts and
    /// refused connections count in `successRate`, not here), within about 10%; null when
    /// it answered none.
    pub latency_ms: Option<Latency>,
    pub backlog: BacklogView,
    /// Its latest attempt that did not deliver, however long ago; null when there was none.
    pub last_failure: Option<FailedAttempt>,
}

#[derive(Serialize, ToSchema)]
pub struct Latency {
    pub p50: u32,
    pub p99: u32,
}

/// Pending deliveries: those not yet delivered, retries included.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BacklogView {
    /// Counted up to 1,000: the oldest one's age says how far behind, at any depth.
    pub pending: u64,
    /// There are more than `pending`.
    pub capped: bool,
    /// When the oldest pending delivery was made; null when none is pending.
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub oldest_at: Option<DateTime<Utc>>,
    /// How long it has waited, in seconds.
    pub oldest_age_seconds: Option<f64>,
}

/// Reads a report of `tenant`'s activity over `window`, with the health of `webhooks` (a
/// page of the tenant's).
pub async fn read(
    store: &dyn Store,
    tenant: TenantId,
    webhooks: Vec<Webhook>,
    window: Window,
    now: DateTime<Utc>,
) -> StoreResult<Stats> {
    // Up to the minute under way: a count stamped later by a process whose clock runs
    // ahead waits until its minute comes.
    let minutes = window.first_minute(now)..=Minute::of(now);
    let ids: Vec<WebhookId> = webhooks.iter().map(|webhook| webhook.id).collect();
    let readings = Readings {
        appends: store.append_minutes(tenant, minutes.clone()).await?,
        attempts: store.attempt_minutes(tenant, minutes.clone()).await?,
        per_webhook: store.webhook_attempts(&ids, minutes).await?,
        backlogs: store.backlogs(&ids, PENDING_CAP).await?,
        failures: store.last_failures(&ids).await?,
    };
    Ok(readings.report(window, now, webhooks))
}

/// What a report is made of, as read.
struct Readings {
    appends: Vec<(Minute, u64)>,
    attempts: Vec<(Minute, AttemptKind, u64)>,
    per_webhook: Vec<(WebhookId, AttemptKind, i16, u64)>,
    backlogs: Vec<Backlog>,
    failures: Vec<(WebhookId, FailedAttempt)>,
}

impl Readings {
    fn report(self, window: Window, now: DateTime<Utc>, webhooks: Vec<Webhook>) -> Stats {
        let first = window.first_minute(now);
        let step = i64::from(window.step());
        let mut series: Vec<Point> = (0..i64::from(window.points()))
            .map(|i| Point {
                at: Minute(first.0 + i * step).start(),
                appended: 0,
                attempts: Attempts::default(),
            })
            .collect();
        let point = |minute: Minute| usize::try_from((minute.0 - first.0).div_euclid(step)).ok();
        let mut appended = 0;
        for (minute, events) in self.appends {
            if let Some(point) = point(minute).and_then(|i| series.get_mut(i)) {
                point.appended += events;
                appended += events;
            }
        }
        let mut attempts = Attempts::default();
        for (minute, kind, count) in self.attempts {
            if let Some(point) = point(minute).and_then(|i| series.get_mut(i)) {
                point.attempts.add(kind, count);
                attempts.add(kind, count);
            }
        }

        let mut by_webhook: HashMap<WebhookId, (Attempts, Vec<(i16, u64)>)> = HashMap::new();
        for (webhook, kind, bucket, count) in self.per_webhook {
            let (attempts, latencies) = by_webhook.entry(webhook).or_default();
            attempts.add(kind, count);
            latencies.push((bucket, count));
        }
        let mut backlogs: HashMap<WebhookId, Backlog> = self
            .backlogs
            .into_iter()
            .map(|backlog| (backlog.webhook, backlog))
            .collect();
        let mut failures: HashMap<WebhookId, FailedAttempt> = self.failures.into_iter().collect();
        let webhooks = webhooks
            .into_iter()
            .map(|webhook| {
                let (attempts, latencies) = by_webhook.remove(&webhook.id).unwrap_or_default();
                let latency_ms =
                    latency::percentile(&latencies, 0.5).zip(latency::percentile(&latencies, 0.99));
                let backlog = backlogs.remove(&webhook.id);
                let oldest_at = backlog
                    .and_then(|backlog| backlog.oldest)
                    .map(|oldest| oldest.made_at());
                WebhookHealth {
                    id: webhook.id,
                    url: webhook.url.as_str().to_owned(),
                    description: webhook.description,
                    active: webhook.active,
                    disabled_reason: webhook.disabled_reason,
                    success_rate: attempts.success_rate(),
                    attempts,
                    latency_ms: latency_ms.map(|(p50, p99)| Latency { p50, p99 }),
                    backlog: BacklogView {
                        pending: backlog
                            .map_or(0, |backlog| backlog.pending.min(u64::from(PENDING_CAP))),
                        capped: backlog
                            .is_some_and(|backlog| backlog.pending > u64::from(PENDING_CAP)),
                        oldest_at,
                        oldest_age_seconds: oldest_at
                            .map(|oldest| (now - oldest).num_milliseconds().max(0) as f64 / 1000.0),
                    },
                    last_failure: failures.remove(&webhook.id),
                }
            })
            .collect();
        Stats {
            window: window.label(),
            from: first.start(),
            to: now,
            step_seconds: window.step() * 60,
            totals: Totals {
                appended,
                success_rate: attempts.success_rate(),
                attempts,
            },
            series,
            webhooks,
            next: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().expect("a timestamp")
    }

    #[test]
    fn windows_are_whole_minutes_from_five_to_a_day() {
        assert_eq!(Window::parse("1h"), Ok(Window { minutes: 60 }));
        assert_eq!(Window::parse("15m"), Ok(Window { minutes: 15 }));
        assert_eq!(Window::parse("24h"), Ok(Window { minutes: 1440 }));
        for refused in ["4m", "25h", "90s", "1h30s", "", "soon", "-1h", "0m"] {
            assert!(Window::parse(refused).is_err(), "{refused:?} was taken");
        }
    }

    #[test]
    fn a_series_has_about_sixty_points_ending_with_the_minute_under_way() {
        let now = at("2026-12-06T12:30:20Z");
        for (window, step, points) in [(60, 1, 60), (15, 1, 15), (360, 6, 60), (1440, 24, 60)] {
            let window = Window { minutes: window };
            assert_eq!((window.step(), window.points()), (step, points));
            let last = Minute(window.first_minute(now).0 + i64::from((points - 1) * step));
            assert!(last.start() <= now && now < Minute(last.0 + i64::from(step)).start());
        }
    }

    fn webhook() -> Webhook {
        Webhook {
            id: WebhookId::generate(),
            tenant_id: TenantId::generate(),
            url: crate::domain::target::WebhookUrl::trusted(
                "https://example.com/hook".parse().expect("a URL"),
            ),
            events: Default::default(),
            identities: None,
            description: String::new(),
            ordered: false,
            rate_limit: None,
            dialect: crate::domain::dialect::SignatureDialect::standard_webhooks(),
            active: true,
            disabled_reason: None,
            created_at: at("2026-12-06T12:00:00Z"),
        }
    }

    #[test]
    fn a_backlog_is_capped_only_past_the_cap() {
        let now = at("2026-12-06T12:30:20Z");
        let (at_cap, past_cap) = (webhook(), webhook());
        let oldest = crate::id::DeliveryId::floor(at("2026-12-06T12:30:00Z"));
        let readings = Readings {
            appends: Vec::new(),
            attempts: Vec::new(),
            per_webhook: Vec::new(),
            backlogs: vec![
                Backlog {
                    webhook: at_cap.id,
                    pending: u64::from(PENDING_CAP),
                    oldest: Some(oldest),
                },
                Backlog {
                    webhook: past_cap.id,
                    pending: u64::from(PENDING_CAP) + 1,
                    oldest: Some(oldest),
                },
            ],
            failures: Vec::new(),
        };
        let stats = readings.report(Window::default(), now, vec![at_cap, past_cap]);
        let [exact, more] = &stats.webhooks[..] else {
            panic!("two webhooks")
        };
        assert_eq!(
            (exact.backlog.pending, exact.backlog.capped),
            (1_000, false)
        );
        assert_eq!((more.backlog.pending, more.backlog.capped), (1_000, true));
        assert_eq!(more.backlog.oldest_at, Some(at("2026-12-06T12:30:00Z")));
        assert_eq!(more.backlog.oldest_age_seconds, Some(20.0));
        assert!(more.latency_ms.is_none() && more.success_rate.is_none());
    }

    #[test]
    fn counts_fall_into_their_points_and_outside_ones_are_left_out() {
        let now = at("2026-12-06T12:30:20Z");
        let window = Window { minutes: 60 };
        let first = window.first_minute(now);
        let last = Minute::of(now);
        let readings = Readings {
            appends: vec![(first, 3), (last, 4), (Minute(first.0 - 1), 100)],
            attempts: vec![
                (first, AttemptKind::Delivered, 9),
                (first, AttemptKind::Retrying, 1),
                (last, AttemptKind::Failed, 2),
            ],
            per_webhook: Vec::new(),
            backlogs: Vec::new(),
            failures: Vec::new(),
        };
        let stats = readings.report(window, now, Vec::new());
        assert_eq!(stats.series.len(), 60);
        assert_eq!(stats.series[0].at, first.start());
        assert_eq!(stats.series[0].appended, 3);
        assert_eq!(stats.series[59].appended, 4);
        assert_eq!(stats.series[59].attempts.failed, 2);
        assert_eq!(stats.totals.appended, 7);
        assert_eq!(stats.totals.success_rate, Some(0.75));
        assert_eq!(stats.from, at("2026-12-06T11:31:00Z"));
    }
}
