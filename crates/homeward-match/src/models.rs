//! Which face models a registry uses beside dlib's, and the job that
//! re-embeds stored photos when one is added.
//!
//! A new registry enables SFace: dlib and SFace fused beat dlib alone on
//! every children's manifest, on the fold that did not fit
//! (`docs/adr-ranking.md`). A registry made before the model slot keeps
//! dlib alone until a case worker adds SFace; the job then embeds its
//! stored faces in small transactions, so it can stop at any time and
//! resume, and the search works meanwhile (a face without an SFace vector
//! is scored by dlib alone).

use std::collections::{BTreeMap, HashSet};

use homeward_core::faces::{Embedder, FaceLandmarks};
use homeward_core::intake::{self, Limits};
use homeward_core::sface::{SFace, SFACE_DIM};
use homeward_core::store::{FaceTable, MatchStore, Metric, ModelSpec};
use serde::Serialize;

use crate::MatchError;

/// The name SFace's vectors are stored under.
pub const SFACE: &str = SFace::NAME;

/// SFace as a registry records it.
pub fn sface_spec() -> ModelSpec {
    ModelSpec {
        name: SFace::NAME.into(),
        version: SFace::VERSION.into(),
        dim: SFACE_DIM as u32,
        metric: Metric::Cosine,
    }
}

/// The models a new registry enables beside dlib's.
pub fn default_models() -> Vec<ModelSpec> {
    vec![sface_spec()]
}

/// A model this build can add, by name.
///
/// # Errors
/// [`MatchError::UnknownModel`] for any other name.
pub fn known_model(name: &str) -> Result<ModelSpec, MatchError> {
    match name {
        SFACE => Ok(sface_spec()),
        other => Err(MatchError::UnknownModel(other.to_string())),
    }
}

/// The network of a model this build can add, as built into the binary.
///
/// # Errors
/// [`MatchError::UnknownModel`], or [`MatchError::Model`] when the bundled
/// weights fail their checksum.
pub fn bundled(name: &str) -> Result<Box<dyn Embedder>, MatchError> {
    match name {
        SFACE => Ok(Box::new(SFace::bundled()?)),
        other => Err(MatchError::UnknownModel(other.to_string())),
    }
}

/// Enables the default models in a registry that has never chosen any and
/// holds no face yet (a new one). An older registry with faces is left as
/// it is: adding a model there is a case worker's choice, since it
/// re-embeds every stored photo. Returns whether it chose.
pub fn choose_for_new(reg: &mut dyn MatchStore, actor: &str) -> Result<bool, MatchError> {
    if reg.models_chosen()? {
        return Ok(false);
    }
    if !reg.index().is_empty() || reg.sighting_count()? > 0 {
        return Ok(false);
    }
    reg.enable_models(actor, &default_models())?;
    Ok(true)
}

/// How far a re-embedding job has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReembedProgress {
    /// Faces given a vector by this call.
    pub embedded: usize,
    /// Faces whose photo could not be read again (left without a vector).
    pub unreadable: usize,
    /// Faces still without a vector after this call.
    pub left: u64,
}

/// Gives up to `budget` stored faces their vector from `embedder`'s model
/// (enabled in `reg`), `batch` faces per transaction, so that an
/// interrupted job loses at most one batch and the next call goes on where
/// it stopped. Each photo is decoded once per batch, from the stored bytes,
/// and aligned from the stored landmarks, exactly as at intake.
///
/// # Errors
/// [`MatchError::Store`] when the model is not enabled or the registry
/// fails.
pub fn reembed(
    reg: &mut dyn MatchStore,
    embedder: &dyn Embedder,
    budget: usize,
    batch: usize,
) -> Result<ReembedProgress, MatchError> {
    let model = embedder.spec().name;
    let batch = batch.max(1);
    let limits = Limits::default();
    let mut progress = ReembedProgress::default();
    let mut unreadable: HashSet<(bool, u64)> = HashSet::new();
    while progress.embedded < budget {
        let want = batch.min(budget - progress.embedded);
        let pending: Vec<_> = reg
            .pending_faces(&model, want + unreadable.len())?
            .into_iter()
            .filter(|p| !unreadable.contains(&(p.table == FaceTable::Case, p.face_id)))
            .take(want)
            .collect();
        if pending.is_empty() {
            break;
        }
        let mut by_photo: BTreeMap<[u8; 32], Vec<usize>> = BTreeMap::new();
        for (i, p) in pending.iter().enumerate() {
            by_photo.entry(p.sha256).or_default().push(i);
        }
        let mut vectors = Vec::with_capacity(pending.len());
        for (sha, faces) in by_photo {
            let image = intake::load_path(&reg.photo_path(&sha), &limits).map(|p| p.image);
            let got = match image {
                Ok(image) => {
                    let marks: Vec<FaceLandmarks> = faces
                        .iter()
                        .map(|&i| FaceLandmarks {
                            points: pending[i].landmarks.map(|p| p.map(f64::from)),
                        })
                        .collect();
                    embedder.embed(&image, &marks)
                }
                Err(_) => Vec::new(),
            };
            if got.len() != faces.len() {
                for &i in &faces {
                    unreadable.insert((pending[i].table == FaceTable::Case, pending[i].face_id));
                }
                progress.unreadable += faces.len();
                continue;
            }
            for (&i, v) in faces.iter().zip(got) {
                vectors.push((pending[i].table, pending[i].face_id, v));
            }
        }
        progress.embedded += reg.store_vectors(&model, &vectors)?;
    }
    progress.left = reg
        .model_status()?
        .into_iter()
        .find(|s| s.spec.name == model)
        .map_or(0, |s| {
            (s.case_faces.0 - s.case_faces.1) + (s.sighting_faces.0 - s.sighting_faces.1)
        });
    Ok(progress)
}
