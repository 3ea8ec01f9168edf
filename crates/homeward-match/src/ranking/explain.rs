//! The why of every candidate: which photo pair decided it, its distance,
//! the age gap, the priors applied and the calibrated rates.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::calibration::Band;
use super::priors::PriorApplied;

/// One gallery photo compared with the sighting face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairScore {
    /// Case photo.
    pub photo_id: u64,
    /// Face in that photo.
    pub face_id: u64,
    /// Embedding distance (dlib).
    pub distance: f64,
    /// SFace distance (Euclidean between unit vectors), when both faces
    /// have an SFace vector and SFace scored the pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sface_distance: Option<f64>,
    /// Years between the photo's age and the child's expected age, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_gap_years: Option<f64>,
    /// Set when the photo was enrolled from a confirmed sighting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolled_from_sighting: Option<u64>,
}

/// Why a case is a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Why {
    /// Which face of the sighting photo (0 = strongest detection).
    pub sighting_face: usize,
    /// The photo pair that decided the score.
    pub best: PairScore,
    /// The case photos compared, nearest first (at most three).
    pub nearest: Vec<PairScore>,
    /// How many photos the case has.
    pub photos_compared: usize,
    /// Fusion used.
    pub fusion: Cow<'static, str>,
    /// The face model(s) behind the score: `dlib`, `sface` or `dlib+sface`
    /// (tables and stored scores from before version 4 are dlib's).
    #[serde(default = "dlib_name")]
    pub models: Cow<'static, str>,
    /// Fused distance before priors (for the `calibrated` fusion, the
    /// adult-equivalent distance after the age-gap credit).
    pub fused_distance: f64,
    /// Child's expected age on the sighting day, if the birth is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_age_years: Option<f64>,
    /// Priors that changed the score.
    pub priors: Vec<PriorApplied>,
}

fn dlib_name() -> Cow<'static, str> {
    Cow::Borrowed("dlib")
}

/// One case ranked for review: never a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The case.
    pub case_id: u64,
    /// Final distance (fused + priors): lower ranks first.
    pub score: f64,
    /// Estimated false-match rate of one photo pair at this distance.
    pub pair_fmr: f64,
    /// Estimated chance that a different child's case scores this well.
    pub case_fmr: f64,
    /// Review band.
    pub band: Band,
    /// Why.
    pub why: Why,
}

impl Candidate {
    /// One line for terminals and pages: the band in plain words, then the
    /// evidence behind it.
    pub fn summary(&self) -> String {
        let w = &self.why;
        let mut s = format!(
            "case {:>5}  {:<8} {}. Closest: photo {} at {:.3}",
            self.case_id,
            self.band.name(),
            self.band.plain(),
            w.best.photo_id,
            w.best.distance
        );
        if let Some(g) = w.best.age_gap_years {
            s.push_str(&format!(", age gap {g:.1} years"));
        }
        if let Some(sid) = w.best.enrolled_from_sighting {
            s.push_str(&format!(", enrolled from sighting {sid}"));
        }
        if let Some(sd) = w.best.sface_distance {
            s.push_str(&format!(" (SFace {sd:.3})"));
        }
        let by = if w.models == "dlib" {
            String::new()
        } else {
            format!(", {}", w.models)
        };
        s.push_str(&format!(
            "; {} photo(s) compared; est. false-match {} ({}{by})",
            w.photos_compared,
            rate(self.case_fmr),
            w.fusion
        ));
        for p in &w.priors {
            s.push_str(&format!("; {} +{:.3}", p.name, p.penalty));
        }
        s
    }
}

/// A rate as a short percentage.
pub fn rate(r: f64) -> String {
    if r < 1e-4 {
        format!("<{:.2}%", 0.01)
    } else if r < 0.01 {
        format!("{:.2}%", 100.0 * r)
    } else {
        format!("{:.1}%", 100.0 * r)
    }
}
