//! Five facial landmarks (eye corners and the base of the nose) found inside a
//! face box by dlib's 5-point shape predictor.

use std::path::Path;

use image::RgbImage;

use crate::dlib::shape_predictor::{round_half_up, ShapePredictorModel};
use crate::dlib::{self, ModelError, ModelKind};
use crate::geometry::Rect;

/// The five points of dlib's 5-point model, in its order: right eye outer
/// corner, right eye inner corner, left eye outer corner, left eye inner
/// corner (image left/right: the subject's right eye is on the image's right
/// side), then the base of the nose. `[x, y]` in image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceLandmarks {
    /// The five points, `[x, y]` in pixels.
    pub points: [[f64; 2]; 5],
}

impl FaceLandmarks {
    /// The points rounded to whole pixels as dlib does (`floor(v + 0.5)`).
    /// dlib's Python and C++ APIs only ever hand out these rounded points, and
    /// align faces from them: use this for results that match dlib's.
    pub fn rounded(&self) -> FaceLandmarks {
        FaceLandmarks {
            points: self.points.map(|p| p.map(|v| round_half_up(v) as f64)),
        }
    }
}

/// dlib's 5-point face landmark predictor (`shape_predictor_5_face_landmarks.dat`).
///
/// ```
/// use homeward_core::faces::{Rect, ShapePredictor};
/// let predictor = ShapePredictor::bundled()?;
/// let img = image::RgbImage::new(64, 64);
/// let marks = predictor.predict(&img, Rect::new(8, 8, 55, 55));
/// assert!(marks.points.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
/// # Ok::<(), homeward_core::dlib::ModelError>(())
/// ```
pub struct ShapePredictor {
    model: ShapePredictorModel,
}

impl ShapePredictor {
    /// Loads the model from its bytes after checking them against the
    /// published SHA-256; a wrong or damaged file is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        dlib::verify(ModelKind::Landmarks, bytes)?;
        Self::parse(bytes)
    }

    /// Loads `dir/shape_predictor_5_face_landmarks.dat`.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        Self::parse(&dlib::read_verified(dir, ModelKind::Landmarks)?)
    }

    /// The model built into this binary.
    #[cfg(feature = "bundled-models")]
    pub fn bundled() -> Result<Self, ModelError> {
        Self::from_bytes(ModelKind::Landmarks.bundled_bytes())
    }

    fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let name = ModelKind::Landmarks.file_name();
        let model = ShapePredictorModel::parse(bytes, name)?;
        if model.num_parts() != 5 {
            return Err(ModelError::Shape {
                model: name.to_string(),
                layer: "initial_shape".to_string(),
                expected: "5 landmarks".to_string(),
                got: model.num_parts().to_string(),
            });
        }
        Ok(ShapePredictor { model })
    }

    /// Finds the five landmarks of the face in `face_box` (usually the
    /// detector's box). Pixels the model looks at outside the image count as
    /// black, as in dlib, so boxes partly or wholly outside the image are fine.
    pub fn predict(&self, img: &RgbImage, face_box: Rect) -> FaceLandmarks {
        let found = self.model.predict(img, face_box);
        let mut points = [[0.0; 2]; 5];
        for (p, q) in points.iter_mut().zip(found) {
            *p = q;
        }
        FaceLandmarks { points }
    }
}
