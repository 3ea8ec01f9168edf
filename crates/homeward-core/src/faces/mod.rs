//! Faces: detection, landmarks, alignment and embeddings, as dlib computes them.

mod align;
mod detect;
mod embed;
mod embedder;
mod engine;
mod landmarks;

pub use crate::cancel::{cancel_requested, Cancel};
pub use align::{face_chip, face_chip_details, AlignError, Chip, ChipDetails};
pub use detect::{DetectOptions, Detection, Detector};
pub use embed::{EmbedOptions, Embedding};
pub use embedder::Embedder;
pub use engine::{Face, FaceEngine, FaceOptions, CHIP_PADDING, CHIP_SIZE};
pub use landmarks::{FaceLandmarks, ShapePredictor};

/// Re-exported from [`crate::geometry`], where boxes and maps live.
pub use crate::geometry::{Affine, Rect};
