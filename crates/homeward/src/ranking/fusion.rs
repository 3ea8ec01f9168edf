//! Fusion: one distance per case from the distances of all its photos.
//!
//! Measured facts behind the default (dlib model, cross-age children's set):
//! using every photo of a family and keeping the nearest lifted top-10 from
//! 30 % to 55–60 %; softmin and hub-corrected fusions did worse than min.

use serde::{Deserialize, Serialize};

/// How a case's photo distances are fused into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Fusion {
    /// The nearest photo.
    Min,
    /// The nearest photo after adding `age_weight` per year between the
    /// photo's age and the child's expected age on the sighting day, so that
    /// photos close to that age weigh more (default). Photos of unknown age
    /// get no term; with no ages at all this is `min`.
    AgeMin,
    /// The mean of the two nearest photos (the nearest alone for one photo).
    Mean2,
}

impl Fusion {
    /// Name as printed.
    pub fn name(self) -> &'static str {
        match self {
            Fusion::Min => "min",
            Fusion::AgeMin => "age-min",
            Fusion::Mean2 => "mean2",
        }
    }
}

/// One photo's distance and age gap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Index of the photo in its gallery.
    pub index: usize,
    /// Embedding distance to the sighting face.
    pub distance: f64,
    /// Years between the photo's age and the expected age, if known.
    pub gap: Option<f64>,
}

/// The fused distance and the photo that decides it.
pub fn fuse(fusion: Fusion, age_weight: f64, scored: &[Scored]) -> Option<(f64, usize)> {
    let key = |s: &Scored| match fusion {
        Fusion::AgeMin => s.distance + age_weight * s.gap.unwrap_or(0.0),
        Fusion::Min | Fusion::Mean2 => s.distance,
    };
    let best = scored.iter().min_by(|a, b| key(a).total_cmp(&key(b)))?;
    let value = match fusion {
        Fusion::Min | Fusion::AgeMin => key(best),
        Fusion::Mean2 => {
            let mut d: Vec<f64> = scored.iter().map(|s| s.distance).collect();
            d.sort_by(f64::total_cmp);
            if d.len() >= 2 {
                (d[0] + d[1]) / 2.0
            } else {
                d[0]
            }
        }
    };
    Some((value, best.index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(index: usize, distance: f64, gap: Option<f64>) -> Scored {
        Scored {
            index,
            distance,
            gap,
        }
    }

    #[test]
    fn min_takes_the_nearest_photo() {
        let v = [s(0, 0.5, None), s(1, 0.4, None), s(2, 0.7, None)];
        assert_eq!(fuse(Fusion::Min, 0.01, &v), Some((0.4, 1)));
        assert_eq!(fuse(Fusion::Min, 0.01, &[]), None);
    }

    #[test]
    fn age_min_prefers_a_photo_near_the_expected_age() {
        // Photo 0 is slightly nearer but taken 10 years off; photo 1 is 1 year off.
        let v = [s(0, 0.40, Some(10.0)), s(1, 0.42, Some(1.0))];
        let (d, i) = fuse(Fusion::AgeMin, 0.005, &v).unwrap();
        assert_eq!(i, 1);
        assert!((d - 0.425).abs() < 1e-9);
        // Without ages it is plain min.
        let v = [s(0, 0.40, None), s(1, 0.42, None)];
        assert_eq!(fuse(Fusion::AgeMin, 0.005, &v), Some((0.40, 0)));
    }

    #[test]
    fn mean2_averages_the_two_nearest() {
        let v = [s(0, 0.5, None), s(1, 0.3, None), s(2, 0.9, None)];
        let (d, i) = fuse(Fusion::Mean2, 0.0, &v).unwrap();
        assert!((d - 0.4).abs() < 1e-9 && i == 1);
        assert_eq!(fuse(Fusion::Mean2, 0.0, &v[..1]), Some((0.5, 0)));
    }
}
