//! What happens after an attempt: delivered, retried when, given up, or gone. Pure: the
//! caller passes the time and the randomness.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::delivery::AttemptOutcome;
use rand::Rng;

/// `Retry-After` is honoured up to this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The delay before each attempt, counted from the previous one; its length is the number
/// of attempts.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySchedule(Vec<Duration>);

impl Default for RetrySchedule {
    fn default() -> Self {
        "0s,5s,30s,2m,10m,30m,1h,2h"
            .parse()
            .expect("the default schedule parses")
    }
}

impl std::str::FromStr for RetrySchedule {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let delays = raw
            .split(',')
            .map(|delay| {
                humantime::parse_duration(delay.trim()).map_err(|e| format!("`{delay}`: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if delays.is_empty() {
            return Err("a schedule needs at least one attempt".into());
        }
        Ok(Self(delays))
    }
}

impl RetrySchedule {
    pub fn attempts(&self) -> usize {
        self.0.len()
    }
}

/// What an endpoint answered, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Response {
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// Timeout, refused connection, TLS failure, blocked address…
    NoResponse,
}

impl RetrySchedule {
    /// The outcome of attempt number `attempt` (1-based), made at `now`.
    pub fn outcome(
        &self,
        attempt: usize,
        response: Response,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> AttemptOutcome {
        let retry_after = match response {
            Response::Status {
                code: 200..=299, ..
            } => return AttemptOutcome::Delivered,
            Response::Status { code: 410, .. } => return AttemptOutcome::Gone,
            Response::Status {
                code: 429 | 503,
                retry_after,
            } => retry_after,
            _ => None,
        };
        let Some(&scheduled) = self.0.get(attempt) else {
            return AttemptOutcome::GaveUp;
        };
        let delay = match retry_after {
            Some(asked) => asked.min(MAX_RETRY_AFTER),
            // ±10 %, so endpoints that failed together are not retried together.
            None => scheduled.mul_f64(rng.random_range(0.9..=1.1)),
        };
        AttemptOutcome::RetryAt(
            now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX),
        )
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value.trim()).ok()?;
    (at.with_timezone(&Utc) - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn at(outcome: AttemptOutcome, now: DateTime<Utc>) -> Duration {
        match outcome {
            AttemptOutcome::RetryAt(when) => (when - now).to_std().unwrap(),
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn failures_follow_the_schedule_with_jitter_then_give_up() {
        let schedule = RetrySchedule::default();
        let now = Utc::now();
        let mut rng = StdRng::seed_from_u64(7);
        let failure = Response::Status {
            code: 500,
            retry_after: None,
        };
        let expected = [5, 30, 120, 600, 1800, 3600, 7200];
        for (attempt, seconds) in (1..).zip(expected) {
            let delay = at(schedule.outcome(attempt, failure, now, &mut rng), now).as_secs_f64();
            assert!(
                (seconds as f64 * 0.9..=seconds as f64 * 1.1).contains(&delay),
                "{attempt}: {delay}"
            );
        }
        assert_eq!(
            schedule.outcome(8, failure, now, &mut rng),
            AttemptOutcome::GaveUp
        );
        // No answer at all (timeout, refused) is retried like a 5xx.
        assert!(matches!(
            schedule.outcome(1, Response::NoResponse, now, &mut rng),
            AttemptOutcome::RetryAt(_)
        ));
    }

    #[test]
    fn success_gone_and_retry_after_are_honoured() {
        let schedule = RetrySchedule::default();
        let now = Utc::now();
        let mut rng = StdRng::seed_from_u64(7);
        let ok = Response::Status {
            code: 204,
            retry_after: None,
        };
        assert_eq!(
            schedule.outcome(1, ok, now, &mut rng),
            AttemptOutcome::Delivered
        );
        let gone = Response::Status {
            code: 410,
            retry_after: None,
        };
        assert_eq!(
            schedule.outcome(1, gone, now, &mut rng),
            AttemptOutcome::Gone
        );
        let busy = Response::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(90)),
        };
        assert_eq!(
            at(schedule.outcome(1, busy, now, &mut rng), now),
            Duration::from_secs(90)
        );
        let capped = Response::Status {
            code: 503,
            retry_after: Some(Duration::from_secs(86_400)),
        };
        assert_eq!(
            at(schedule.outcome(1, capped, now, &mut rng), now),
            MAX_RETRY_AFTER
        );
    }

    #[test]
    fn schedules_and_retry_after_parse() {
        assert_eq!("0s, 1m".parse::<RetrySchedule>().unwrap().attempts(), 2);
        assert!("".parse::<RetrySchedule>().is_err());
        assert!("soon".parse::<RetrySchedule>().is_err());
        let now = Utc::now();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("later", now), None);
    }
}
