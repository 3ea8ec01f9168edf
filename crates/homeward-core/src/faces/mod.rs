//! Faces: landmarks and alignment (detection and embedding live beside them).

mod align;
mod detect;
mod landmarks;
pub(crate) mod rect;

pub use align::{face_chip, face_chip_details, Affine, AlignError, Chip, ChipDetails};
pub use detect::{DetectOptions, Detection, Detector};
pub use landmarks::{FaceLandmarks, Rect, ShapePredictor};

pub(crate) use align::similarity_transform;
