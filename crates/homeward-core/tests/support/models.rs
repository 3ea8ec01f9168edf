//! Fixtures of the model-slot tests: a second model's spec and a case.

use homeward_core::store::{CaseStatus, Metric, ModelSpec, NewCase, Sex};

/// A test SFace: 128-d, cosine.
pub fn sface() -> ModelSpec {
    ModelSpec {
        name: "sface".into(),
        version: "test-v1".into(),
        dim: 128,
        metric: Metric::Cosine,
    }
}

/// A searching case named `name`, with dates.
pub fn case(name: &str) -> NewCase {
    NewCase {
        child_name: name.into(),
        sex: Sex::Female,
        birth_date: Some("2015-03-14".into()),
        birth_year: None,
        missing_date: Some("2023-06-01".into()),
        missing_place: "Chengdu".into(),
        missing_location: None,
        status: CaseStatus::Searching,
        contact_ref: None,
        notes: None,
    }
}
