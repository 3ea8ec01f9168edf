//! The scores stored with each match: what the ranking said when the match
//! was queued, versioned so that a later build reads what an earlier one
//! wrote (docs/formats.md).
//!
//! Compatibility rule: version 1 is the ranking candidate's JSON with a
//! `"version": 1` field. Unversioned JSON of the same shape (written before
//! versions existed) reads as version 0. A newer version, or JSON of another
//! shape, is a [`ScoresError`]: never a silent default band.

use serde::{Deserialize, Serialize};

use super::types::{CaseId, FaceId, PhotoId, SightingId};

/// Version written by this build.
pub const SCORES_VERSION: u32 = 1;

/// Review band of a match, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreBand {
    /// Lowest estimated false-match rate.
    Strong,
    /// Worth a careful look.
    Possible,
    /// Most such candidates are other children.
    Weak,
    /// Not similar enough to queue.
    Below,
}

impl ScoreBand {
    /// The band's word, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreBand::Strong => "strong",
            ScoreBand::Possible => "possible",
            ScoreBand::Weak => "weak",
            ScoreBand::Below => "below",
        }
    }
}

/// One case photo compared with the sighting face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPair {
    /// The case photo.
    pub photo_id: PhotoId,
    /// The face in it.
    pub face_id: FaceId,
    /// Embedding distance.
    pub distance: f64,
    /// Years between the photo's age and the child's expected age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_gap_years: Option<f64>,
    /// Set when the photo was enrolled from a confirmed sighting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled_from_sighting: Option<SightingId>,
}

/// A prior that changed the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPrior {
    /// Which prior (`sex`, `apparent_age`).
    pub name: String,
    /// What was compared.
    #[serde(default)]
    pub detail: String,
    /// Distance added.
    pub penalty: f64,
}

/// Why the case was a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredWhy {
    /// Which face of the sighting photo (0 = strongest detection).
    pub sighting_face: usize,
    /// The photo pair that decided the score.
    pub best: StoredPair,
    /// The case photos compared, nearest first.
    #[serde(default)]
    pub nearest: Vec<StoredPair>,
    /// How many photos the case had.
    pub photos_compared: usize,
    /// Name of the fusion of the case's photos.
    pub fusion: String,
    /// Fused distance before priors.
    pub fused_distance: f64,
    /// The child's expected age on the sighting day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_age_years: Option<f64>,
    /// Priors that changed the score.
    #[serde(default)]
    pub priors: Vec<StoredPrior>,
}

/// The scores of one match, as stored.
///
/// ```
/// use homeward_core::store::{ScoreBand, StoredScores};
/// let old = r#"{"case_id":7,"score":0.41,"pair_fmr":0.002,"case_fmr":0.004,"band":"possible",
///   "why":{"sighting_face":0,"best":{"photo_id":3,"face_id":5,"distance":0.4},
///   "nearest":[],"photos_compared":2,"fusion":"calibrated","fused_distance":0.41,"priors":[]}}"#;
/// let s = StoredScores::parse(old).unwrap();
/// assert_eq!((s.version, s.band), (0, ScoreBand::Possible));
/// let again = StoredScores::parse(&s.to_json()).unwrap();
/// assert_eq!(again.version, 1);
/// assert!(StoredScores::parse(r#"{"embedding_distance":0.4}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredScores {
    /// Format version: 0 for unversioned JSON, else [`SCORES_VERSION`] or older.
    #[serde(default)]
    pub version: u32,
    /// The case.
    pub case_id: CaseId,
    /// Final score (fused distance plus priors); lower ranks first.
    pub score: f64,
    /// Estimated false-match rate of one photo pair at this distance.
    pub pair_fmr: f64,
    /// Estimated chance that a different child's case scores this well.
    pub case_fmr: f64,
    /// Review band.
    pub band: ScoreBand,
    /// Why.
    pub why: StoredWhy,
}

/// Stored scores that this build cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoresError {
    /// Written by a newer build.
    #[error("the stored scores have version {found}, this build reads up to {supported}; upgrade Homeward")]
    TooNew {
        /// Version in the row.
        found: u32,
        /// Newest version known here.
        supported: u32,
    },
    /// Not JSON of the stored-scores shape.
    #[error("the stored scores are not a ranking record ({0}); compare the photos by eye, or re-run the match")]
    Malformed(String),
}

impl StoredScores {
    /// Reads stored scores: the current version, an older one, or the
    /// unversioned JSON of the same shape.
    pub fn parse(json: &str) -> Result<StoredScores, ScoresError> {
        #[derive(Deserialize)]
        struct Version {
            #[serde(default)]
            version: u32,
        }
        let v: Version =
            serde_json::from_str(json).map_err(|e| ScoresError::Malformed(e.to_string()))?;
        if v.version > SCORES_VERSION {
            return Err(ScoresError::TooNew {
                found: v.version,
                supported: SCORES_VERSION,
            });
        }
        serde_json::from_str(json).map_err(|e| ScoresError::Malformed(e.to_string()))
    }

    /// Builds the stored form of a ranking record that serialises to the
    /// stored shape (the matching library's candidate does), checking it on
    /// the way so that what is written can be read back.
    pub fn from_serialize<T: Serialize>(candidate: &T) -> Result<StoredScores, ScoresError> {
        let value =
            serde_json::to_value(candidate).map_err(|e| ScoresError::Malformed(e.to_string()))?;
        let mut s: StoredScores =
            serde_json::from_value(value).map_err(|e| ScoresError::Malformed(e.to_string()))?;
        s.version = SCORES_VERSION;
        Ok(s)
    }

    /// The JSON written to the store, always at [`SCORES_VERSION`].
    pub fn to_json(&self) -> String {
        let mut s = self.clone();
        s.version = SCORES_VERSION;
        // Only numbers, strings and derived structs: serialising cannot fail
        // except on non-finite floats, which JSON writes as null.
        serde_json::to_string(&s).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGACY: &str = r#"{"case_id":7,"score":0.41,"pair_fmr":0.002,"case_fmr":0.004,"band":"possible",
        "why":{"sighting_face":0,"best":{"photo_id":3,"face_id":5,"distance":0.4,"age_gap_years":2.5},
        "nearest":[],"photos_compared":2,"fusion":"age_min","fused_distance":0.41,
        "priors":[{"name":"sex","detail":"female vs male","penalty":0.05}]}}"#;

    #[test]
    fn unversioned_json_reads_as_version_0() {
        let s = StoredScores::parse(LEGACY).unwrap();
        assert_eq!(s.version, 0);
        assert_eq!(
            (s.case_id, s.band, s.case_fmr),
            (7, ScoreBand::Possible, 0.004)
        );
        assert_eq!(s.why.best.age_gap_years, Some(2.5));
        assert_eq!(s.why.fusion, "age_min");
        assert_eq!(s.why.priors[0].penalty, 0.05);
    }

    #[test]
    fn written_json_is_versioned_and_reads_back() {
        let s = StoredScores::parse(LEGACY).unwrap();
        let json = s.to_json();
        assert!(json.contains("\"version\":1"), "{json}");
        let back = StoredScores::parse(&json).unwrap();
        assert_eq!(back.version, SCORES_VERSION);
        assert_eq!(back.why, s.why);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v["why"]["best"]["distance"], 0.4,
            "readers of the old paths still work"
        );
    }

    #[test]
    fn written_floats_read_back_to_the_same_bits() {
        // Found by fuzz/stored_scores: serde_json's default float parser
        // read "123456789.1234568" one ulp off, so written scores did not
        // read back equal.
        let json = LEGACY.replace(
            "\"fused_distance\":0.41",
            "\"fused_distance\":123456789.1234568",
        );
        let s = StoredScores::parse(&json).unwrap();
        assert_eq!(s.why.fused_distance, 123_456_789.123_456_8_f64);
        let back = StoredScores::parse(&s.to_json()).unwrap();
        assert_eq!(
            back.why.fused_distance.to_bits(),
            s.why.fused_distance.to_bits()
        );
    }

    #[test]
    fn other_shapes_and_newer_versions_are_errors_not_weak() {
        assert!(matches!(
            StoredScores::parse(r#"{"embedding_distance":0.4}"#),
            Err(ScoresError::Malformed(_))
        ));
        assert!(matches!(
            StoredScores::parse("not json"),
            Err(ScoresError::Malformed(_))
        ));
        let newer = LEGACY.replacen('{', "{\"version\":2,", 1);
        assert_eq!(
            StoredScores::parse(&newer),
            Err(ScoresError::TooNew {
                found: 2,
                supported: 1
            })
        );
        let bad_band = LEGACY.replace("possible", "certain");
        assert!(StoredScores::parse(&bad_band).is_err());
    }

    #[test]
    fn from_serialize_checks_the_shape() {
        let v: serde_json::Value = serde_json::from_str(LEGACY).unwrap();
        assert_eq!(StoredScores::from_serialize(&v).unwrap().version, 1);
        assert!(StoredScores::from_serialize(&serde_json::json!({"x": 1})).is_err());
    }
}
