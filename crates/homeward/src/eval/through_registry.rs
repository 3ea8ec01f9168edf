//! `eval search --through-registry`: the manifest's cases registered in a
//! throwaway SQLite registry (dlib's and SFace's vectors, one index per
//! model), and each sighting searched the way the product searches
//! (`matching::search_among`: each model's shortlist, widened for the age
//! credit, then the policy). Beside the exhaustive ranking, it measures what
//! the shortlist loses.

use std::collections::HashMap;

use homeward_core::faces::FaceEngine;
use homeward_core::sface::SFace;
use homeward_core::store::{CaseStatus, FaceRecord, ModelVector, NewCase, PhotoMeta, Registry};
use homeward_match::matching;
use homeward_match::models::{sface_spec, SFACE};
use homeward_match::ranking::{CaseGallery, QueryFace, QueryMeta, SfaceVectors};
use homeward_match::Policy;

use crate::error::CliError;

/// One sighting to search.
pub struct Query {
    pub face: QueryFace,
    pub meta: QueryMeta,
    /// The eval's case id of the right child, if registered.
    pub own: Option<u64>,
    /// Which policy (fold) ranks it.
    pub fold: usize,
}

/// The rank of the right child among the first `top` candidates of each
/// query (`None`: not among them), searched through a registry.
pub fn ranks(
    cases: &[CaseGallery],
    sface: &SfaceVectors,
    queries: &[Query],
    policies: &[Policy],
    top: usize,
) -> Result<Vec<Option<usize>>, CliError> {
    let dir = tempfile::tempdir().map_err(|source| CliError::Io {
        context: "cannot make a temporary registry directory".into(),
        source,
    })?;
    let mut reg = Registry::open(dir.path())?;
    reg.enable_models("eval", &[sface_spec()])?;
    let mut eval_id: HashMap<u64, u64> = HashMap::new();
    for c in cases {
        let id = reg.add_case(
            "eval",
            &NewCase {
                child_name: format!("case {}", c.case_id),
                sex: c.sex,
                birth_date: c.birth.map(|b| b.day.iso()),
                birth_year: None,
                missing_date: None,
                missing_place: String::new(),
                missing_location: None,
                status: CaseStatus::Searching,
                contact_ref: None,
                notes: None,
            },
        )?;
        eval_id.insert(id, c.case_id);
        for f in &c.faces {
            let meta = PhotoMeta {
                age_months: f.age_years.map(|a| (a * 12.0).round().max(0.0) as u32),
                taken_date: f.day.map(|d| d.iso()),
                source: None,
            };
            let face = FaceRecord {
                bbox: [0.0, 0.0, 1.0, 1.0],
                landmarks: [[0.0; 2]; 5],
                embedding: f.embedding,
                chip_hash: None,
                model: FaceEngine::MODEL_ID.into(),
                vectors: sface
                    .get(&f.face_id)
                    .map(|v| ModelVector {
                        model: SFACE.into(),
                        version: SFace::VERSION.into(),
                        vector: v.to_vec(),
                    })
                    .into_iter()
                    .collect(),
            };
            let bytes = format!("eval photo {}", f.face_id);
            reg.add_photo("eval", id, bytes.as_bytes(), &meta, &[face])?;
        }
    }
    queries
        .iter()
        .map(|q| {
            let policy = &policies[q.fold.min(policies.len().saturating_sub(1))];
            let ranked = matching::search_among(&reg, policy, &[q.face], &q.meta, top, &[])?;
            Ok(ranked
                .iter()
                .position(|c| eval_id.get(&c.case_id).copied() == q.own && q.own.is_some()))
        })
        .collect()
}
