//! The latency histogram every scenario records into: microseconds in, milliseconds out.
//!
//! Each task owns one and they are merged at the end, so the hot path takes no lock and
//! shares no cache line with the other tasks.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Values above this are clamped: a request slower than two minutes is a failure anyway
/// (the HTTP client gives up after one), and the bound keeps each histogram small.
const HIGHEST_MICROS: u64 = 120_000_000;

/// Three significant figures: 1.23 ms and 123 ms are both told apart from their neighbours.
const SIGNIFICANT_FIGURES: u8 = 3;

pub struct Latency(Histogram<u64>);

impl Latency {
    pub fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, HIGHEST_MICROS, SIGNIFICANT_FIGURES)
            .expect("constant bounds are valid");
        Self(histogram)
    }

    pub fn record(&mut self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros);
    }

    pub fn merge(&mut self, other: &Latency) {
        // Both were built with the same bounds, and clamped on record, so addition cannot
        // overflow the range.
        self.0.add(&other.0).expect("histograms share their bounds");
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn p50_ms(&self) -> f64 {
        self.quantile_ms(0.50)
    }

    pub fn p99_ms(&self) -> f64 {
        self.quantile_ms(0.99)
    }

    pub fn max_ms(&self) -> f64 {
        micros_to_ms(self.0.max())
    }

    fn quantile_ms(&self, quantile: f64) -> f64 {
        micros_to_ms(self.0.value_at_quantile(quantile))
    }
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

fn micros_to_ms(micros: u64) -> f64 {
    micros as f64 / 1_000.0
}
