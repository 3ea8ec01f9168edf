//! The whole face pipeline: photo → boxes → landmarks → chips → embeddings.

use std::path::Path;

use image::RgbImage;
use rayon::prelude::*;

use super::embed::{embed_chip, embed_chips, EmbedOptions, Embedding};
use super::{face_chip, DetectOptions, Detector, Embedder, FaceLandmarks, Rect, ShapePredictor};
use crate::dlib::resnet::ResNet;
use crate::dlib::{self, ModelError, ModelKind};
use crate::store::{Metric, ModelSpec};

/// Chip size and padding of dlib's face recognition model.
pub const CHIP_SIZE: u32 = 150;
/// Padding around the face in a chip, as a share of its side (dlib's default 0.25).
pub const CHIP_PADDING: f64 = 0.25;

/// Options for [`FaceEngine::analyze`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaceOptions {
    /// Detection options.
    pub detect: DetectOptions,
    /// Embedding options.
    pub embed: EmbedOptions,
}

/// One face found in a photo, in the photo's (upright) coordinates.
#[derive(Debug, Clone)]
pub struct Face {
    /// The face box.
    pub rect: Rect,
    /// Detection score.
    pub score: f64,
    /// The five landmarks, rounded to whole pixels as dlib gives them.
    pub landmarks: FaceLandmarks,
    /// The 128-d embedding.
    pub embedding: Embedding,
    /// The aligned 150×150 chip the embedding was computed from.
    pub chip: RgbImage,
}

/// The three dlib models, loaded once and shared across threads.
///
/// ```no_run
/// use homeward_core::faces::{FaceEngine, FaceOptions};
/// let engine = FaceEngine::bundled()?;
/// let photo = image::open("fixtures/obama.jpg")?.to_rgb8();
/// for face in engine.analyze(&photo, &FaceOptions::default()) {
///     println!("{:?} {:.3}", face.rect, face.score);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FaceEngine {
    detector: Detector,
    predictor: ShapePredictor,
    net: ResNet,
}

impl FaceEngine {
    /// The models built into this binary (checksums verified).
    #[cfg(feature = "bundled-models")]
    pub fn bundled() -> Result<Self, ModelError> {
        Ok(FaceEngine {
            detector: Detector::bundled()?,
            predictor: ShapePredictor::bundled()?,
            net: ResNet::from_bytes(ModelKind::Embedder.bundled_bytes())?,
        })
    }

    /// Loads the three model files from `dir` (checksums verified).
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        Ok(FaceEngine {
            detector: Detector::from_dir(dir)?,
            predictor: ShapePredictor::from_dir(dir)?,
            net: ResNet::from_bytes(&dlib::read_verified(dir, ModelKind::Embedder)?)?,
        })
    }

    /// The face detector.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Every face in `photo`, strongest detection first.
    ///
    /// Landmarks and chips are computed in parallel, then every face's chip
    /// goes through the embedding network in one batch.
    pub fn analyze(&self, photo: &RgbImage, options: &FaceOptions) -> Vec<Face> {
        let detections = self.detector.detect(photo, &options.detect);
        // A cancelled analysis (see `Cancel`) stops here with no faces.
        if super::cancel_requested() {
            return Vec::new();
        }
        let aligned: Vec<_> = detections
            .par_iter()
            .filter_map(|d| {
                let landmarks = self.predictor.predict(photo, d.rect).rounded();
                let chip = face_chip(photo, &landmarks, CHIP_SIZE, CHIP_PADDING).ok()?;
                Some((d, landmarks, chip.image))
            })
            .collect();
        if super::cancel_requested() {
            return Vec::new();
        }
        let chips: Vec<&RgbImage> = aligned.iter().map(|(_, _, chip)| chip).collect();
        let Some(embeddings) = embed_chips(&self.net, &chips, &options.embed) else {
            return Vec::new(); // chips are always CHIP_SIZE; kept total
        };
        aligned
            .into_iter()
            .zip(embeddings)
            .map(|((d, landmarks, chip), embedding)| Face {
                rect: d.rect,
                score: d.score,
                landmarks,
                embedding,
                chip,
            })
            .collect()
    }

    /// Multiply-adds of one chip embedding (about 0.26 G).
    pub fn embedding_multiply_adds(&self) -> u64 {
        self.net.multiply_adds()
    }

    /// Embeds many aligned 150×150 chips as one batch, in order; `None` if a
    /// chip has another size.
    pub fn embed_chips(
        &self,
        chips: &[&RgbImage],
        options: &EmbedOptions,
    ) -> Option<Vec<Embedding>> {
        embed_chips(&self.net, chips, options)
    }

    /// The model id recorded with every dlib face (flip-averaged).
    pub const MODEL_ID: &'static str = "dlib_face_recognition_resnet_model_v1+flip";

    /// Embeds an already aligned 150×150 chip; `None` for another size.
    pub fn embed_chip(&self, chip: &RgbImage, options: &EmbedOptions) -> Option<Embedding> {
        embed_chip(&self.net, chip, options)
    }
}

impl Embedder for FaceEngine {
    fn spec(&self) -> ModelSpec {
        ModelSpec {
            name: "dlib".into(),
            version: Self::MODEL_ID.into(),
            dim: crate::dlib::resnet::EMBEDDING_DIM as u32,
            metric: Metric::Euclidean,
        }
    }

    fn input_template(&self) -> &'static str {
        "150×150 chip, dlib's five-point alignment with 25% padding"
    }

    fn embed(&self, photo: &RgbImage, landmarks: &[FaceLandmarks]) -> Vec<Vec<f32>> {
        let chips: Vec<RgbImage> = landmarks
            .iter()
            .filter_map(|l| face_chip(photo, l, CHIP_SIZE, CHIP_PADDING).ok())
            .map(|c| c.image)
            .collect();
        if chips.len() != landmarks.len() {
            return Vec::new();
        }
        let refs: Vec<&RgbImage> = chips.iter().collect();
        let options = EmbedOptions {
            jitter: 0,
            flip: true,
        };
        self.embed_chips(&refs, &options)
            .map(|v| v.into_iter().map(|e| e.0.to_vec()).collect())
            .unwrap_or_default()
    }
}
