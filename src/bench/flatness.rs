//! Whether a soak's series stayed flat: its last third against its first.

/// How close the last third must stay to the first.
const FLAT_WITHIN: f64 = 0.15;

/// `Some(true)` when the last third's median is within `FLAT_WITHIN` of the first third's,
/// or within `floor` of it (for series near zero); `None` with too few lines to tell.
pub(super) fn flatness(values: &[f64], floor: f64) -> Option<bool> {
    let third = values.len() / 3;
    if third == 0 {
        return None;
    }
    let median = |part: &[f64]| {
        let mut sorted = part.to_vec();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        if sorted.len() % 2 == 0 {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        } else {
            sorted[middle]
        }
    };
    let first = median(&values[..third]);
    let last = median(&values[values.len() - third..]);
    let difference = (last - first).abs();
    Some(difference <= first.abs() * FLAT_WITHIN || difference <= floor)
}

#[cfg(test)]
mod tests {
    use super::flatness;

    #[test]
    fn one_minutes_stall_is_not_a_trend_but_growth_is() {
        let steady = [9.0, 8.5, 9.2, 8.8, 9.1, 8.7, 9.0, 28.1, 8.9];
        assert_eq!(flatness(&steady, 2.0), Some(true));
        let growing = [9.0, 9.1, 8.9, 10.5, 11.0, 11.2, 12.0, 12.4, 12.1];
        assert_eq!(flatness(&growing, 2.0), Some(false));
    }

    #[test]
    fn a_series_near_zero_is_flat_within_its_floor_and_too_few_lines_tell_nothing() {
        assert_eq!(flatness(&[1.0, 0.0, 1.0, 3.0, 4.0, 2.0], 100.0), Some(true));
        assert_eq!(flatness(&[1.0, 0.0, 1.0, 3.0, 4.0, 2.0], 0.5), Some(false));
        assert_eq!(flatness(&[5.0, 6.0], 0.0), None);
    }
}
