//! Faces: detection, landmarks, alignment and embeddings, as dlib computes them.

mod align;
mod cancel;
mod detect;
mod embed;
mod engine;
mod landmarks;
pub(crate) mod rect;

pub use align::{face_chip, face_chip_details, Affine, AlignError, Chip, ChipDetails};
pub use cancel::{cancel_requested, Cancel};
pub use detect::{DetectOptions, Detection, Detector};
pub use embed::{EmbedOptions, Embedding};
pub use engine::{Face, FaceEngine, FaceOptions, CHIP_PADDING, CHIP_SIZE};
pub use landmarks::{FaceLandmarks, Rect, ShapePredictor};

pub(crate) use align::similarity_transform;
