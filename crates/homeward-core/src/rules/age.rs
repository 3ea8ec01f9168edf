//! Apparent age range of a child in a sighting, in years.

use std::fmt;
use std::str::FromStr;

use super::serde_str::serde_via_str;

/// The oldest apparent age accepted, in years. Homeward's registry is of
/// missing children, and a child missing for some years may look like a
/// young adult when seen; 25 bounds that without admitting typing errors
/// such as `60` (docs/adr-store.md).
pub const MAX_APPARENT_AGE: f32 = 25.0;

/// An apparent age range in years, `0 <= min <= max <= 25`.
///
/// Accepts one age (`8`) or a range (`6-9`); prints `8` or `6-9`.
///
/// ```
/// use homeward_core::rules::AgeRange;
/// let r: AgeRange = "6-9".parse().unwrap();
/// assert_eq!((r.min(), r.max(), r.to_string().as_str()), (6.0, 9.0, "6-9"));
/// assert!("9-6".parse::<AgeRange>().is_err());
/// assert!("40".parse::<AgeRange>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgeRange {
    min: f32,
    max: f32,
}

/// An apparent age range that is malformed or out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "apparent age `{0}` is not accepted; give years as one age such as 8 or a range such as 6-9, from 0 to 25, the lower first"
)]
pub struct AgeRangeError(pub String);

impl AgeRange {
    /// A range; refuses bounds outside 0..=[`MAX_APPARENT_AGE`], not finite, or reversed.
    pub fn new(min: f32, max: f32) -> Result<AgeRange, AgeRangeError> {
        let ok = min.is_finite()
            && max.is_finite()
            && (0.0..=MAX_APPARENT_AGE).contains(&min)
            && (min..=MAX_APPARENT_AGE).contains(&max);
        if ok {
            Ok(AgeRange { min, max })
        } else {
            Err(AgeRangeError(format!("{min}-{max}")))
        }
    }

    /// Lower bound, years.
    pub fn min(&self) -> f32 {
        self.min
    }

    /// Upper bound, years.
    pub fn max(&self) -> f32 {
        self.max
    }

    /// As the `(min, max)` pair the store records.
    pub fn pair(&self) -> (f32, f32) {
        (self.min, self.max)
    }
}

impl FromStr for AgeRange {
    type Err = AgeRangeError;
    fn from_str(s: &str) -> Result<AgeRange, AgeRangeError> {
        let bad = || AgeRangeError(s.trim().chars().take(40).collect());
        let num = |p: &str| p.trim().parse::<f32>().map_err(|_| bad());
        let (lo, hi) = match s.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let a = num(s)?;
                (a, a)
            }
        };
        AgeRange::new(lo, hi).map_err(|_| bad())
    }
}

impl fmt::Display for AgeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

serde_via_str!(AgeRange);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_age_or_a_range() {
        assert_eq!("7".parse::<AgeRange>().unwrap().pair(), (7.0, 7.0));
        assert_eq!(" 6 - 9 ".parse::<AgeRange>().unwrap().pair(), (6.0, 9.0));
        assert_eq!("0-25".parse::<AgeRange>().unwrap().to_string(), "0-25");
        assert_eq!("7.5".parse::<AgeRange>().unwrap().to_string(), "7.5");
    }

    #[test]
    fn reversed_out_of_range_and_garbage_are_refused() {
        for s in [
            "9-6", "26", "0-30", "-1", "NaN", "inf", "", "six", "6-", "6-9-12",
        ] {
            let e = s.parse::<AgeRange>().unwrap_err();
            assert!(e.to_string().contains("from 0 to 25"), "{s}: {e}");
        }
        assert!(AgeRange::new(f32::NAN, 3.0).is_err());
    }
}
