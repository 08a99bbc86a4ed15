//! What a scenario counts and how it prints it: the measured window, the error count, and
//! the output (an aligned table for people, one JSON line for scripts comparing runs).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Not counted: connections are still opening and the server's caches filling, which
/// would lower throughput and inflate p99 in a way that depends on the run's length.
const WARMUP: Duration = Duration::from_secs(1);

/// The interval whose completed requests are counted; the clients run from its warm-up on.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub from: Instant,
    pub until: Instant,
}

impl Window {
    /// Starts now with a warm-up, then measures for `duration`.
    pub fn after_warmup(duration: Duration) -> Self {
        let from = Instant::now() + WARMUP;
        Self {
            from,
            until: from + duration,
        }
    }

    /// Whether a request that completed at `done` is counted. By completion rather than
    /// start, so requests straddling either edge balance out in the rate.
    pub fn counts(&self, done: Instant) -> bool {
        done >= self.from && done < self.until
    }

    pub fn is_over(&self) -> bool {
        Instant::now() >= self.until
    }

    pub fn secs(&self) -> f64 {
        (self.until - self.from).as_secs_f64()
    }
}

/// Failed requests of one scenario. Counted, never fatal: a load tool that stops at the
/// first 503 measures nothing. The first one is printed, since they usually share a cause.
#[derive(Default)]
pub struct Errors {
    count: AtomicU64,
    printed: AtomicBool,
}

impl Errors {
    pub fn record(&self, scenario: &str, why: &str) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if !self.printed.swap(true, Ordering::Relaxed) {
            eprintln!("{scenario}: first error: {why}");
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

struct Column {
    key: &'static str,
    label: &'static str,
    shown: String,
    json: Value,
}

/// One scenario's parameters and figures, in the order they are added.
pub struct Report {
    scenario: &'static str,
    columns: Vec<Column>,
}

impl Report {
    pub fn new(scenario: &'static str) -> Self {
        Self {
            scenario,
            columns: Vec::new(),
        }
    }

    pub fn text(self, key: &'static str, label: &'static str, value: &str) -> Self {
        self.column(key, label, value.to_owned(), Value::from(value))
    }

    pub fn int(self, key: &'static str, label: &'static str, value: u64) -> Self {
        self.column(key, label, value.to_string(), Value::from(value))
    }

    /// Rounded to `decimals` in the JSON too, so lines diff cleanly between runs.
    pub fn float(
        self,
        key: &'static str,
        label: &'static str,
        value: f64,
        decimals: usize,
    ) -> Self {
        let scale = 10_f64.powi(decimals as i32);
        let rounded = (value * scale).round() / scale;
        let json = serde_json::Number::from_f64(rounded).map_or(Value::Null, Value::Number);
        self.column(key, label, format!("{value:.decimals$}"), json)
    }

    /// A figure that could not be measured prints as `-` and `null`.
    pub fn maybe_float(
        self,
        key: &'static str,
        label: &'static str,
        value: Option<f64>,
        decimals: usize,
    ) -> Self {
        match value {
            Some(value) => self.float(key, label, value, decimals),
            None => self.column(key, label, "-".to_owned(), Value::Null),
        }
    }

    pub fn maybe_int(self, key: &'static str, label: &'static str, value: Option<u64>) -> Self {
        match value {
            Some(value) => self.int(key, label, value),
            None => self.column(key, label, "-".to_owned(), Value::Null),
        }
    }

    fn column(
        mut self,
        key: &'static str,
        label: &'static str,
        shown: String,
        json: Value,
    ) -> Self {
        self.columns.push(Column {
            key,
            label,
            shown,
            json,
        });
        self
    }

    /// Prints the table (a header row and a value row, right-aligned) then the JSON line.
    pub fn print(&self) {
        let first = "scenario".len().max(self.scenario.len());
        let mut header = format!("{:<first$}", "scenario");
        let mut values = format!("{:<first$}", self.scenario);
        for column in &self.columns {
            let width = column.label.len().max(column.shown.len());
            let _ = write!(header, "  {:>width$}", column.label);
            let _ = write!(values, "  {:>width$}", column.shown);
        }
        // Built by hand rather than through a serde_json map, which would sort the keys and
        // lose "scenario first, then parameters, then figures".
        let mut line = format!("{{\"scenario\":{}", Value::from(self.scenario));
        for column in &self.columns {
            let _ = write!(line, ",\"{}\":{}", column.key, column.json);
        }
        line.push('}');
        println!("{header}\n{values}\n{line}");
    }
}
