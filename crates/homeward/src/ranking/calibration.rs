//! Calibration: from an embedding distance to an estimated false-match rate,
//! and from that rate to a review band.
//!
//! The table is data (`calibration.json`, written by
//! `homeward eval search --write-calibration`): the empirical cumulative
//! distribution of *impostor* distances (pairs of photos of different people),
//! i.e. for each distance d the share of different-person pairs at d or
//! nearer. That share is the false-match rate (FMR) of accepting d.
//!
//! Children look more alike to the model than the adults the table is fitted
//! on: on a held-out set of real children's photos 21 % of different-child
//! pairs fall under dlib's 0.6 threshold. Until a children's impostor set is
//! available, [`Population::Child`] moves the adult curve by the distance
//! shift that reproduces that figure (the "child anchor" in the table).

use serde::{Deserialize, Serialize};

/// The shipped calibration table.
const SHIPPED: &str = include_str!("calibration.json");

/// Format name and version of a calibration table file.
pub const CALIBRATION_FORMAT: &str = "homeward-calibration";
/// Version of the calibration table file written by this build.
pub const CALIBRATION_VERSION: u32 = 1;

/// Per-case false-match-rate ceilings of the bands.
pub const STRONG_FMR: f64 = 1e-3;
/// See [`STRONG_FMR`].
pub const POSSIBLE_FMR: f64 = 1e-2;
/// See [`STRONG_FMR`]. Candidates above it are shown by `search` but never queued.
pub const WEAK_FMR: f64 = 5e-2;

/// Whose faces are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Population {
    /// Children: the adult curve shifted to the children's anchor (default).
    Child,
    /// Adults: the fitted curve as is (use for LFW).
    Adult,
}

/// A review band, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    /// Estimated per-case false-match rate at most [`STRONG_FMR`].
    Strong,
    /// At most [`POSSIBLE_FMR`].
    Possible,
    /// At most [`WEAK_FMR`].
    Weak,
    /// Above [`WEAK_FMR`]: shown on request, not queued for review.
    Below,
}

impl Band {
    /// The band of a per-case false-match rate.
    pub fn of(fmr: f64) -> Band {
        if fmr <= STRONG_FMR {
            Band::Strong
        } else if fmr <= POSSIBLE_FMR {
            Band::Possible
        } else if fmr <= WEAK_FMR {
            Band::Weak
        } else {
            Band::Below
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Band::Strong => "strong",
            Band::Possible => "possible",
            Band::Weak => "weak",
            Band::Below => "below",
        }
    }

    /// The bands that are queued for review, with their FMR ceilings.
    pub const QUEUED: [(Band, f64); 3] = [
        (Band::Strong, STRONG_FMR),
        (Band::Possible, POSSIBLE_FMR),
        (Band::Weak, WEAK_FMR),
    ];
}

/// The anchor used to move the adult curve to children.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildAnchor {
    /// Distance at which the children's FMR is known.
    pub distance: f64,
    /// The children's FMR at that distance.
    pub fmr: f64,
    /// Where the figure comes from.
    pub source: String,
}

/// A calibration table: impostor distance CDF at fixed distances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Always [`CALIBRATION_FORMAT`].
    pub format: String,
    /// File version.
    pub version: u32,
    /// Embedding model and options the distances come from.
    pub model: String,
    /// Data set and protocol the impostor pairs come from.
    pub source: String,
    /// Number of impostor pairs behind the table.
    pub impostor_pairs: u64,
    /// Distances, ascending.
    pub distances: Vec<f64>,
    /// Share of impostor pairs at or below each distance.
    pub cdf: Vec<f64>,
    /// Children's anchor.
    pub child_anchor: ChildAnchor,
}

/// Why a calibration table cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// Not JSON of the expected shape.
    #[error("calibration table is not valid: {0}; regenerate it with `homeward eval search --write-calibration`")]
    Parse(String),
    /// Wrong format or version.
    #[error("calibration table has format {format:?} version {version}; this build reads {CALIBRATION_FORMAT:?} version {CALIBRATION_VERSION}")]
    Version {
        /// Found format.
        format: String,
        /// Found version.
        version: u32,
    },
    /// Inconsistent columns.
    #[error("calibration table is inconsistent: {0}")]
    Shape(String),
}

impl Calibration {
    /// The table shipped with this build.
    pub fn shipped() -> Result<Calibration, CalibrationError> {
        Self::from_json(SHIPPED)
    }

    /// Parses and checks a table.
    pub fn from_json(text: &str) -> Result<Calibration, CalibrationError> {
        let c: Calibration =
            serde_json::from_str(text).map_err(|e| CalibrationError::Parse(e.to_string()))?;
        if c.format != CALIBRATION_FORMAT || c.version != CALIBRATION_VERSION {
            return Err(CalibrationError::Version {
                format: c.format,
                version: c.version,
            });
        }
        let n = c.distances.len();
        if n < 2 || c.cdf.len() != n {
            return Err(CalibrationError::Shape(format!(
                "{n} distances and {} cdf values",
                c.cdf.len()
            )));
        }
        let ascending = c.distances.windows(2).all(|w| w[0] < w[1]);
        let monotone = c.cdf.windows(2).all(|w| w[0] <= w[1]);
        let in_range = c.cdf.iter().all(|p| (0.0..=1.0).contains(p));
        if !ascending || !monotone || !in_range || c.impostor_pairs == 0 {
            return Err(CalibrationError::Shape(
                "distances must ascend, cdf must be non-decreasing in [0, 1], pairs > 0".into(),
            ));
        }
        Ok(c)
    }

    /// Fits a table from impostor distances (any order).
    pub fn fit(impostor: &[f32], model: &str, source: &str, anchor: ChildAnchor) -> Calibration {
        let mut d: Vec<f32> = impostor.iter().copied().filter(|x| x.is_finite()).collect();
        d.sort_by(f32::total_cmp);
        let n = d.len().max(1) as f64;
        // 0.01 steps from 0.20 to 1.20: covers every distance dlib produces
        // between faces that are not the same photo.
        let distances: Vec<f64> = (20..=120).map(|i| f64::from(i) / 100.0).collect();
        let cdf = distances
            .iter()
            .map(|&t| d.partition_point(|&x| f64::from(x) <= t) as f64 / n)
            .collect();
        Calibration {
            format: CALIBRATION_FORMAT.into(),
            version: CALIBRATION_VERSION,
            model: model.into(),
            source: source.into(),
            impostor_pairs: d.len() as u64,
            distances,
            cdf,
            child_anchor: anchor,
        }
    }

    /// Serialises the table.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Smallest rate the table can tell apart from zero (half a pair).
    pub fn floor(&self) -> f64 {
        0.5 / self.impostor_pairs as f64
    }

    /// Linear interpolation of the CDF at `d`.
    fn cdf_at(&self, d: f64) -> f64 {
        let (x, y) = (&self.distances, &self.cdf);
        let i = x.partition_point(|&v| v <= d);
        if i == 0 {
            return y[0];
        }
        if i == x.len() {
            return y[x.len() - 1];
        }
        let t = (d - x[i - 1]) / (x[i] - x[i - 1]);
        y[i - 1] + t * (y[i] - y[i - 1])
    }

    /// Distance at which the CDF reaches `p` (inverse of `cdf_at`).
    fn quantile(&self, p: f64) -> f64 {
        let (x, y) = (&self.distances, &self.cdf);
        let i = y.partition_point(|&v| v < p);
        if i == 0 {
            return x[0];
        }
        if i == y.len() {
            return x[x.len() - 1];
        }
        let span = y[i] - y[i - 1];
        let t = if span > 0.0 {
            (p - y[i - 1]) / span
        } else {
            0.0
        };
        x[i - 1] + t * (x[i] - x[i - 1])
    }

    /// Distance added before the lookup for `population`.
    pub fn shift(&self, population: Population) -> f64 {
        match population {
            Population::Adult => 0.0,
            Population::Child => {
                (self.quantile(self.child_anchor.fmr) - self.child_anchor.distance).max(0.0)
            }
        }
    }

    /// Estimated share of different-person photo pairs at distance `d` or nearer.
    pub fn pair_fmr(&self, d: f64, population: Population) -> f64 {
        self.cdf_at(d + self.shift(population)).max(self.floor())
    }

    /// Estimated chance that a *different* child's case scores `d` or nearer
    /// when its best of `photos` photos is taken (independence assumed:
    /// 1 − (1 − p)ⁿ), which keeps large galleries from looking stronger than
    /// they are.
    pub fn case_fmr(&self, d: f64, photos: usize, population: Population) -> f64 {
        let p = self.pair_fmr(d, population);
        let n = photos.max(1) as i32;
        (1.0 - (1.0 - p).powi(n)).clamp(self.floor(), 1.0)
    }

    /// Largest single-photo distance that still falls in each queued band.
    pub fn band_edges(&self, population: Population) -> Vec<(Band, f64, f64)> {
        let s = self.shift(population);
        Band::QUEUED
            .iter()
            .map(|&(band, fmr)| (band, fmr, self.quantile(fmr) - s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor() -> ChildAnchor {
        ChildAnchor {
            distance: 0.6,
            fmr: 0.21,
            source: "test".into(),
        }
    }

    /// Impostor distances spread evenly over [0.5, 1.0].
    fn uniform() -> Calibration {
        let d: Vec<f32> = (0..10_000).map(|i| 0.5 + i as f32 / 20_000.0).collect();
        Calibration::fit(&d, "m", "synthetic", anchor())
    }

    #[test]
    fn fitted_table_reads_back_the_distribution() {
        let c = uniform();
        assert!((c.pair_fmr(0.75, Population::Adult) - 0.5).abs() < 0.01);
        assert!((c.pair_fmr(0.55, Population::Adult) - 0.1).abs() < 0.01);
        assert_eq!(c.pair_fmr(0.3, Population::Adult), c.floor());
        let back = Calibration::from_json(&c.to_json()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn child_shift_reproduces_the_anchor() {
        let c = uniform();
        let at = c.pair_fmr(0.6, Population::Child);
        assert!((at - 0.21).abs() < 0.01, "{at}");
        assert!(c.pair_fmr(0.5, Population::Child) > c.pair_fmr(0.5, Population::Adult));
    }

    #[test]
    fn more_photos_raise_the_case_rate_and_bands_follow() {
        let c = uniform();
        let one = c.case_fmr(0.52, 1, Population::Adult);
        let ten = c.case_fmr(0.52, 10, Population::Adult);
        assert!(ten > one * 5.0, "{one} {ten}");
        assert_eq!(Band::of(0.0005), Band::Strong);
        assert_eq!(Band::of(0.005), Band::Possible);
        assert_eq!(Band::of(0.03), Band::Weak);
        assert_eq!(Band::of(0.2), Band::Below);
        let edges = c.band_edges(Population::Adult);
        assert!(edges[0].2 < edges[1].2 && edges[1].2 < edges[2].2);
    }

    #[test]
    fn refuses_bad_tables() {
        let mut c = uniform();
        c.cdf.reverse();
        assert!(Calibration::from_json(&c.to_json()).is_err());
        assert!(Calibration::from_json("{}").is_err());
        let mut v = uniform();
        v.version = 99;
        assert!(matches!(
            Calibration::from_json(&v.to_json()),
            Err(CalibrationError::Version { .. })
        ));
    }

    #[test]
    fn shipped_table_loads_and_its_default_bands_are_stricter_than_dlib() {
        let c = Calibration::shipped().unwrap();
        // dlib's 0.6 lets ~21 % of different-child pairs through; the weakest
        // queued band must sit well inside that.
        let weak_edge = c.band_edges(Population::Child)[2].2;
        assert!(weak_edge < 0.6, "weak band edge {weak_edge}");
        assert!(c.pair_fmr(weak_edge, Population::Child) <= WEAK_FMR + 1e-9);
    }
}
