//! Whole numbers in request bodies. JSON has one number type and JSON Schema counts `7.0`
//! as an integer, so clients and generated SDKs send either; both mean seven. A fraction,
//! a negative number or one out of range is still refused.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A whole number of type `T`, written `7` or `7.0` in the body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Whole<T>(pub T);

impl<'de, T: TryFrom<u64>> Deserialize<'de> for Whole<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WholeVisitor(PhantomData))
    }
}

struct WholeVisitor<T>(PhantomData<T>);

impl<T: TryFrom<u64>> WholeVisitor<T> {
    fn fit<E: de::Error>(value: u64) -> Result<Whole<T>, E> {
        T::try_from(value)
            .map(Whole)
            .map_err(|_| E::custom(format!("{value} is out of range")))
    }
}

impl<T: TryFrom<u64>> Visitor<'_> for WholeVisitor<T> {
    type Value = Whole<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a whole number, 0 or more")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Whole<T>, E> {
        Self::fit(value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Whole<T>, E> {
        u64::try_from(value)
            .map_err(|_| E::custom(format!("{value} is negative")))
            .and_then(Self::fit)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Whole<T>, E> {
        // Above 2^53 a float no longer holds every whole number exactly.
        const EXACT: f64 = 9_007_199_254_740_992.0;
        if value.fract() != 0.0 || !(0.0..=EXACT).contains(&value) {
            return Err(E::custom(format!(
                "{value} is not a whole number from 0 to 2^53"
            )));
        }
        Self::fit(value as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: TryFrom<u64>>(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str::<Whole<T>>(json).map(|whole| whole.0)
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_point_zero() {
        assert_eq!(parse::<u32>("7").unwrap(), 7);
        assert_eq!(parse::<u32>("7.0").unwrap(), 7);
        assert_eq!(parse::<u64>("1758252403311.0").unwrap(), 1_758_252_403_311);
        assert_eq!(parse::<u64>("1e3").unwrap(), 1000);
    }

    #[test]
    fn fractions_negatives_overflows_and_other_types_are_refused() {
        assert!(parse::<u32>("7.5").is_err());
        assert!(parse::<u32>("-1").is_err());
        assert!(parse::<u32>("-0.0").is_ok());
        assert!(parse::<u32>("4294967296").is_err());
        assert!(parse::<u64>("1e300").is_err());
        assert!(parse::<u32>("\"7\"").is_err());
        assert!(parse::<u32>("null").is_err());
    }
}
