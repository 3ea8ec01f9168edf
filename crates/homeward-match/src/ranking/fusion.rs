//! Fusion: one value per case from all its photos.
//!
//! The default, [`Fusion::Calibrated`], reads each photo's distance through
//! the calibration (for children: an adult-equivalent distance that credits
//! the years between the photo and the sighting, see `calibration.rs`) and
//! keeps the nearest; the case is then ranked by its per-case false-match
//! rate, which corrects for the number of photos. `min` and `mean2` rank by
//! raw distance, for comparison.

use serde::{Deserialize, Serialize};

/// How a case's photo distances are fused into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Fusion {
    /// The photo with the smallest calibrated (adult-equivalent) distance;
    /// cases ranked by their per-case false-match rate, so that a case with
    /// many photos gains nothing from chance alone (default).
    Calibrated,
    /// The nearest photo by raw distance (the plain model).
    Min,
    /// The mean of the two nearest photos (the nearest alone for one photo).
    Mean2,
}

impl Fusion {
    /// Name as printed.
    pub fn name(self) -> &'static str {
        match self {
            Fusion::Calibrated => "calibrated",
            Fusion::Min => "min",
            Fusion::Mean2 => "mean2",
        }
    }
}

/// Which face model(s) score a photo pair under [`Fusion::Calibrated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Models {
    /// dlib alone (default; the registry stores no other vectors yet).
    #[default]
    Dlib,
    /// SFace alone where both faces have its vector, else dlib.
    Sface,
    /// dlib and SFace fused as calibrated normal scores where both faces
    /// have an SFace vector, else dlib alone.
    Fusion,
}

impl Models {
    /// Name as printed.
    pub fn name(self) -> &'static str {
        match self {
            Models::Dlib => "dlib",
            Models::Sface => "sface",
            Models::Fusion => "fusion",
        }
    }
}

/// The model(s) that scored one photo pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Used {
    /// dlib alone.
    #[default]
    Dlib,
    /// SFace alone.
    Sface,
    /// Both, fused.
    Both,
}

impl Used {
    /// Name as shown in explanations.
    pub fn name(self) -> &'static str {
        match self {
            Used::Dlib => "dlib",
            Used::Sface => "sface",
            Used::Both => "dlib+sface",
        }
    }
}

/// One photo's distance, age gap and calibrated distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Index of the photo in its gallery.
    pub index: usize,
    /// Embedding distance to the sighting face (dlib).
    pub distance: f64,
    /// SFace distance (Euclidean between unit vectors), when both faces
    /// have an SFace vector.
    pub sface_distance: Option<f64>,
    /// The model(s) behind `equivalent`.
    pub used: Used,
    /// Years between the photo's age and the expected age, if known.
    pub gap: Option<f64>,
    /// Adult-equivalent distance (the calibration's reading of `distance`
    /// at `gap`).
    pub equivalent: f64,
}

/// The fused value and the photo that decides it.
pub fn fuse(fusion: Fusion, scored: &[Scored]) -> Option<(f64, usize)> {
    let key = |s: &Scored| match fusion {
        Fusion::Calibrated => s.equivalent,
        Fusion::Min | Fusion::Mean2 => s.distance,
    };
    let best = scored.iter().min_by(|a, b| key(a).total_cmp(&key(b)))?;
    let value = match fusion {
        Fusion::Min | Fusion::Calibrated => key(best),
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

    fn s(index: usize, distance: f64, equivalent: f64) -> Scored {
        Scored {
            index,
            distance,
            sface_distance: None,
            used: Used::Dlib,
            gap: None,
            equivalent,
        }
    }

    #[test]
    fn min_takes_the_nearest_photo() {
        let v = [s(0, 0.5, 0.5), s(1, 0.4, 0.4), s(2, 0.7, 0.7)];
        assert_eq!(fuse(Fusion::Min, &v), Some((0.4, 1)));
        assert_eq!(fuse(Fusion::Min, &[]), None);
    }

    #[test]
    fn calibrated_takes_the_smallest_equivalent_distance() {
        // Photo 0 is nearer in raw distance; photo 1, taken longer before,
        // reads as stronger once the gap is credited.
        let v = [s(0, 0.40, 0.56), s(1, 0.42, 0.50)];
        assert_eq!(fuse(Fusion::Calibrated, &v), Some((0.50, 1)));
        assert_eq!(fuse(Fusion::Min, &v), Some((0.40, 0)));
    }

    #[test]
    fn mean2_averages_the_two_nearest() {
        let v = [s(0, 0.5, 0.5), s(1, 0.3, 0.3), s(2, 0.9, 0.9)];
        let (d, i) = fuse(Fusion::Mean2, &v).unwrap();
        assert!((d - 0.4).abs() < 1e-9 && i == 1);
        assert_eq!(fuse(Fusion::Mean2, &v[..1]), Some((0.5, 0)));
    }
}
