//! The model slot's face side: an [`Embedder`] turns the faces found in a
//! photo (dlib's five landmarks align every model) into vectors ready for
//! Euclidean comparison. dlib's ResNet ([`super::FaceEngine`]) and SFace
//! ([`crate::sface::SFace`]) implement it; a third model is one file with
//! its network and this trait, plus its weights.

use image::RgbImage;

use super::FaceLandmarks;
use crate::store::ModelSpec;

/// An embedding model.
pub trait Embedder: Send + Sync {
    /// Name, version, dimension and metric, as a registry records them.
    /// The version names the weights and how faces are prepared (it ends
    /// in `+flip` when each vector averages the face and its mirror image).
    fn spec(&self) -> ModelSpec;
    /// The face crop the network reads, in words (for `homeward models`).
    fn input_template(&self) -> &'static str;
    /// One vector per face of `photo`, from dlib's landmarks (the rounded
    /// points the face pipeline gives), in order, each averaged with its
    /// mirror image's and ready for Euclidean comparison.
    fn embed(&self, photo: &RgbImage, landmarks: &[FaceLandmarks]) -> Vec<Vec<f32>>;
}
