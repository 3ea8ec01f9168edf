//! A photo read once: its bytes, faces (with chip hashes) and PDQ hashes.

use std::path::Path;

use homeward_core::faces::{Embedder, FaceEngine, FaceLandmarks, FaceOptions};
use homeward_core::hash::{chip_hash, pdq_dihedral, PdqDihedral};
use homeward_core::intake::{self, Limits};
use homeward_core::store::{FaceRecord, ModelVector};
use image::RgbImage;

use super::MatchError;
use crate::policy::pdq_usable;

/// Model id recorded with every face. Registry embeddings are always
/// flip-averaged (measured +1–3 points of top-10 on children), so the
/// queries must be too.
pub const MODEL_ID: &str = FaceEngine::MODEL_ID;

/// A photo with what matching needs from it.
pub struct Analyzed {
    /// The file's bytes (stored content-addressed).
    pub bytes: Vec<u8>,
    /// Decoded, upright image.
    pub image: RgbImage,
    /// Faces, strongest detection first.
    pub faces: Vec<FaceRecord>,
    /// Mirrored chip hashes of the faces (same order), for mirrored reposts.
    pub mirrored_chips: Vec<Option<[u8; 32]>>,
    /// Whole-photo PDQ hashes under the 8 rotations/mirrorings, when the
    /// photo is large and detailed enough.
    pub pdq: Option<PdqDihedral>,
}

impl std::fmt::Debug for Analyzed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzed")
            .field("dimensions", &self.image.dimensions())
            .field("faces", &self.faces.len())
            .finish_non_exhaustive()
    }
}

/// Hash words as the 32 bytes stored in the registry (little-endian words).
pub fn hash_bytes(h: &homeward_core::hash::Hash256) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, w) in h.0.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// Inverse of [`hash_bytes`].
pub fn hash_from_bytes(b: &[u8; 32]) -> homeward_core::hash::Hash256 {
    let mut w = [0u64; 4];
    for (i, o) in w.iter_mut().enumerate() {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[i * 8..i * 8 + 8]);
        *o = u64::from_le_bytes(x);
    }
    homeward_core::hash::Hash256(w)
}

impl Analyzed {
    /// Reads and analyses a photo file. Flip averaging is always on.
    pub fn from_path(
        engine: &FaceEngine,
        second: &[&dyn Embedder],
        path: &Path,
        limits: &Limits,
        options: &FaceOptions,
    ) -> Result<Analyzed, MatchError> {
        // The size limit is checked before reading; the file is read once.
        let (photo, bytes) = intake::load_path_with_bytes(path, limits)?;
        Ok(Self::from_image(
            engine,
            second,
            bytes,
            photo.image,
            options,
        ))
    }

    /// Analyses an uploaded photo held in memory (limits checked before
    /// decoding). Flip averaging is always on.
    pub fn from_bytes(
        engine: &FaceEngine,
        second: &[&dyn Embedder],
        bytes: Vec<u8>,
        limits: &Limits,
        options: &FaceOptions,
    ) -> Result<Analyzed, MatchError> {
        let photo = intake::load_bytes(&bytes, limits)?;
        Ok(Self::from_image(
            engine,
            second,
            bytes,
            photo.image,
            options,
        ))
    }

    fn from_image(
        engine: &FaceEngine,
        second: &[&dyn Embedder],
        bytes: Vec<u8>,
        image: RgbImage,
        options: &FaceOptions,
    ) -> Analyzed {
        let mut options = *options;
        options.embed.flip = true;
        let found = engine.analyze(&image, &options);
        let mut faces = Vec::with_capacity(found.len());
        let mut mirrored_chips = Vec::with_capacity(found.len());
        for f in &found {
            let ch = chip_hash(&f.chip).ok();
            let r = f.rect;
            let lm = f.landmarks.points;
            faces.push(FaceRecord {
                bbox: [r.left as f32, r.top as f32, r.right as f32, r.bottom as f32],
                landmarks: [0, 1, 2, 3, 4].map(|i| [lm[i][0] as f32, lm[i][1] as f32]),
                embedding: f.embedding.0,
                chip_hash: ch.map(|c| hash_bytes(&c.hash)),
                model: MODEL_ID.into(),
                vectors: Vec::new(),
            });
            mirrored_chips.push(ch.map(|c| hash_bytes(&c.mirrored)));
        }
        // Every other model reads the same faces, aligned from the same
        // landmarks, so a face's vectors always describe one face.
        let marks: Vec<FaceLandmarks> = found.iter().map(|f| f.landmarks).collect();
        for model in second.iter().filter(|_| !marks.is_empty()) {
            let spec = model.spec();
            let vectors = model.embed(&image, &marks);
            for (face, vector) in faces.iter_mut().zip(vectors) {
                face.vectors.push(ModelVector {
                    model: spec.name.clone(),
                    version: spec.version.clone(),
                    vector,
                });
            }
        }
        let pdq = pdq_dihedral(&image).ok().filter(|p| pdq_usable(p.quality));
        Analyzed {
            bytes,
            image,
            faces,
            mirrored_chips,
            pdq,
        }
    }

    /// Index of the largest face.
    pub fn largest_face(&self) -> Option<usize> {
        let area = |b: &[f32; 4]| (b[2] - b[0]) * (b[3] - b[1]);
        (0..self.faces.len())
            .max_by(|&a, &b| area(&self.faces[a].bbox).total_cmp(&area(&self.faces[b].bbox)))
    }
}
