//! Retention: how long a tenant's events are held. `forever`, or a window from one second to
//! a hundred years, written as a duration (`90d`, `12h`, `10s`).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most events one removal step takes on; the sweep adapts its batches below this to
/// the store's pace.
pub const REMOVAL_BATCH: u32 = 10_000;

/// How long events are held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    Forever,
    Window(Duration),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidRetention {
    #[error("a retention is `forever` or a duration such as `90d`, `12h` or `10s`")]
    Unreadable,
    #[error("a retention is at least 1s (`forever` keeps every event)")]
    TooShort,
    #[error("a retention is at most 36500d (`forever` keeps every event)")]
    TooLong,
}

impl Retention {
    pub const MIN: Duration = Duration::from_secs(1);
    pub const MAX: Duration = Duration::from_secs(36_500 * 86_400);
    /// What the document states a retention's text to be: `forever`, or 1 to 9999 of one
    /// unit. The server reads any duration within the limits (`1day 12h`): a little more.
    pub const PATTERN: &str = "^(forever|[1-9][0-9]{0,3}[smhd])$";

    pub fn parse(raw: &str) -> Result<Self, InvalidRetention> {
        let raw = raw.trim();
        if raw == "forever" {
            return Ok(Self::Forever);
        }
        // A leading sign is not a duration humantime would refuse on its own terms.
        if raw.starts_with(['-', '+']) {
            return Err(InvalidRetention::Unreadable);
        }
        let window = humantime::parse_duration(raw).map_err(|_| InvalidRetention::Unreadable)?;
        Self::window(window)
    }

    /// A window in whole seconds within the limits.
    pub fn window(window: Duration) -> Result<Self, InvalidRetention> {
        if window < Self::MIN {
            return Err(InvalidRetention::TooShort);
        }
        if window > Self::MAX {
            return Err(InvalidRetention::TooLong);
        }
        Ok(Self::Window(Duration::from_secs(window.as_secs())))
    }

    /// How the store keeps it: seconds, 0 for forever.
    pub fn as_secs(self) -> u64 {
        match self {
            Self::Forever => 0,
            Self::Window(window) => window.as_secs(),
        }
    }

    /// Back from the store's seconds; out of range reads as forever, the safe side.
    pub fn from_secs(secs: u64) -> Self {
        Self::window(Duration::from_secs(secs)).unwrap_or(Self::Forever)
    }

    /// Events created before this are expired at `now`; none are under `forever`.
    pub fn cutoff(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Forever => None,
            Self::Window(window) => chrono::Duration::from_std(window)
                .ok()
                .and_then(|window| now.checked_sub_signed(window)),
        }
    }
}

/// The shortest exact form: `90d`, `36h`, `90s`.
impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self::Window(window) = self else {
            return f.write_str("forever");
        };
        let secs = window.as_secs();
        match secs {
            _ if secs % 86_400 == 0 => write!(f, "{}d", secs / 86_400),
            _ if secs % 3_600 == 0 => write!(f, "{}h", secs / 3_600),
            _ if secs % 60 == 0 => write!(f, "{}m", secs / 60),
            _ => write!(f, "{secs}s"),
        }
    }
}

impl std::str::FromStr for Retention {
    type Err = InvalidRetention;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl Serialize for Retention {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Retention {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::text(Self::PATTERN, 2..=7, "90d").into()
    }
}

impl utoipa::ToSchema for Retention {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_forever_are_read_and_shown_in_their_shortest_form() {
        for (raw, shown) in [
            ("90d", "90d"),
            ("10s", "10s"),
            ("2m", "2m"),
            ("120s", "2m"),
            ("36h", "36h"),
            ("1day 12h", "36h"),
            ("forever", "forever"),
            ("36500d", "36500d"),
        ] {
            assert_eq!(Retention::parse(raw).unwrap().to_string(), shown, "{raw}");
        }
    }

    #[test]
    fn negative_zero_absurd_and_unreadable_values_are_refused() {
        assert_eq!(Retention::parse("0s"), Err(InvalidRetention::TooShort));
        assert_eq!(Retention::parse("500ms"), Err(InvalidRetention::TooShort));
        assert_eq!(Retention::parse("36501d"), Err(InvalidRetention::TooLong));
        for bad in ["-1d", "+1d", "", "soon", "10", "1x", "Forever"] {
            assert_eq!(
                Retention::parse(bad),
                Err(InvalidRetention::Unreadable),
                "{bad}"
            );
        }
        assert_eq!(
            Retention::parse("99999999999999999999d"),
            Err(InvalidRetention::Unreadable)
        );
    }

    #[test]
    fn a_window_expires_what_is_older_and_forever_nothing() {
        let now = Utc::now();
        let window = Retention::parse("10s").unwrap();
        assert_eq!(
            window.cutoff(now),
            Some(now - chrono::Duration::seconds(10))
        );
        assert_eq!(Retention::Forever.cutoff(now), None);
        assert_eq!(Retention::from_secs(window.as_secs()), window);
        assert_eq!(Retention::from_secs(0), Retention::Forever);
    }
}
