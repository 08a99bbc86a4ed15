//! How long receivers take, kept as counts in buckets of a log scale: four buckets per
//! doubling, so a percentile read back is within about 10% of the true value (12% below
//! 20 ms, where a bucket holds two or three whole milliseconds), and a minute of one
//! webhook's attempts fits in a handful of rows however many there were.

/// Buckets per doubling of the duration.
const PER_DOUBLING: f64 = 4.0;

/// The bucket of an attempt the receiver did not answer (no connection, a timeout, an
/// address refused, nothing sent): counted, but no latency.
pub const NO_ANSWER: i16 = -1;

/// The bucket of a duration in whole milliseconds: 0 for under a millisecond, then
/// `1 + floor(4·log2(ms))`.
pub fn bucket(ms: u32) -> i16 {
    if ms == 0 {
        return 0;
    }
    1 + (PER_DOUBLING * f64::from(ms).log2()).floor() as i16
}

/// The duration a bucket stands for: the middle of its whole milliseconds on the log
/// scale.
pub fn representative(bucket: i16) -> u32 {
    if bucket <= 0 {
        return 0;
    }
    let (low, high) = range(bucket);
    ((f64::from(low) * f64::from(high)).sqrt().round() as u32).clamp(low, high)
}

/// The whole milliseconds a bucket holds, from `low` to `high` inclusive.
fn range(bucket: i16) -> (u32, u32) {
    let edge = |b: i16| (f64::from(b - 1) / PER_DOUBLING).exp2();
    let low = edge(bucket).ceil() as u32;
    let high = (edge(bucket + 1).ceil() as u32).saturating_sub(1).max(low);
    (low, high)
}

/// The `quantile` (0–1) of durations counted by bucket, or `None` when nothing was;
/// unanswered attempts are not durations and are left out.
pub fn percentile(counts: &[(i16, u64)], quantile: f64) -> Option<u32> {
    let mut sorted: Vec<(i16, u64)> = counts
        .iter()
        .copied()
        .filter(|&(bucket, n)| bucket != NO_ANSWER && n > 0)
        .collect();
    sorted.sort_unstable_by_key(|(bucket, _)| *bucket);
    let total: u64 = sorted.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let rank = ((quantile * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    sorted.into_iter().find_map(|(bucket, n)| {
        seen += n;
        (seen >= rank).then(|| representative(bucket))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duration_reads_back_within_a_tenth() {
        for ms in (0..2_000).chain((2_000..120_000).step_by(97)) {
            let back = representative(bucket(ms));
            let (low, high) = range(bucket(ms).max(1));
            assert!(
                ms == 0 || (low..=high).contains(&ms),
                "{ms} outside {low}..={high}"
            );
            let error = (f64::from(back) - f64::from(ms)).abs() / f64::from(ms.max(1));
            let bound = if ms < 20 { 0.12 } else { 0.1 };
            assert!(error <= bound, "{ms} ms reads back as {back}");
        }
    }

    #[test]
    fn small_durations_are_exact() {
        for ms in 0..=7 {
            assert_eq!(representative(bucket(ms)), ms);
        }
    }

    #[test]
    fn buckets_grow_with_the_duration() {
        let buckets: Vec<i16> = (0..100_000).map(bucket).collect();
        assert!(buckets.windows(2).all(|pair| pair[0] <= pair[1]));
        assert_eq!(bucket(15_000), 56);
    }

    #[test]
    fn percentiles_walk_the_buckets_in_order() {
        let counts = [(bucket(100), 1), (bucket(3), 98), (bucket(2_000), 1)];
        assert_eq!(percentile(&counts, 0.5), Some(3));
        assert_eq!(percentile(&counts, 0.99), Some(representative(bucket(100))));
        assert_eq!(
            percentile(&counts, 1.0),
            Some(representative(bucket(2_000)))
        );
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[(4, 0)], 0.5), None);
        assert_eq!(percentile(&[(NO_ANSWER, 5)], 0.5), None);
        assert_eq!(
            percentile(&[(NO_ANSWER, 5), (bucket(40), 1)], 0.5),
            Some(representative(bucket(40)))
        );
    }
}
