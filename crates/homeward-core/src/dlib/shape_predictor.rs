//! dlib's `shape_predictor` (a cascade of regression-tree forests): reading it
//! from dlib's serialization and running it on an image exactly as dlib does.
//!
//! Layout of the file (`dlib/image_processing/shape_predictor.h`, version 1):
//!
//! | field          | type                                              |
//! |----------------|---------------------------------------------------|
//! | version        | int, must be 1                                    |
//! | initial_shape  | `matrix<float,0,1>`: x0, y0, x1, y1, … in the box's unit square |
//! | forests        | `vector<vector<tree>>`: one forest per cascade step |
//! | tree           | splits `vector<{idx1: ulong, idx2: ulong, thresh: float}>`, leaf_values `vector<matrix<float,0,1>>` |
//! | anchor_idx     | `vector<vector<ulong>>`: per step, the shape part each feature pixel hangs from |
//! | deltas         | `vector<vector<vector<float,2>>>`: per step, each feature pixel's offset from its anchor |
//!
//! Running it (dlib's `shape_predictor::operator()`): start from
//! `initial_shape`; at each cascade step, place the step's feature pixels
//! relative to the current shape, read their grey levels, and add the leaf
//! vector of every tree; finally map the shape from the box's unit square to
//! image pixels.

use image::RgbImage;

use super::format::{Reader, MIN_FLOAT_BYTES};
use super::ModelError;
use crate::geometry::{similarity_transform, Affine, Rect};

/// Caps that stop a corrupted header from asking for absurd allocations; the
/// published 5-point model uses 15 steps × 500 trees × 15 splits × 800 pixels.
const MAX_STEPS: usize = 1_000;
const MAX_TREES: usize = 100_000;
const MAX_SPLITS: usize = 1 << 16;
const MAX_PIXELS: usize = 1 << 20;
const MAX_PARTS: usize = 10_000;

/// One node of a tree: go left when `pixel[idx1] - pixel[idx2] > thresh`.
struct Split {
    idx1: usize,
    idx2: usize,
    thresh: f32,
}

/// A complete binary tree: `splits` in breadth-first order, then
/// `splits.len() + 1` leaves, each a shape increment of `2 × parts` floats.
struct Tree {
    splits: Vec<Split>,
    leaves: Vec<f32>,
}

impl Tree {
    /// The shape increment of the leaf the feature pixels lead to.
    fn leaf(&self, pixels: &[f32], shape_len: usize) -> &[f32] {
        let mut i = 0;
        while let Some(s) = self.splits.get(i) {
            i = if pixels[s.idx1] - pixels[s.idx2] > s.thresh {
                2 * i + 1
            } else {
                2 * i + 2
            };
        }
        let leaf = i - self.splits.len();
        &self.leaves[leaf * shape_len..(leaf + 1) * shape_len]
    }
}

/// One cascade step: its forest and where its feature pixels sit relative to
/// the shape (`anchor` part + `delta`, in the unit-square frame).
struct Step {
    trees: Vec<Tree>,
    anchors: Vec<usize>,
    deltas: Vec<[f32; 2]>,
}

/// A loaded, validated `shape_predictor`.
pub(crate) struct ShapePredictorModel {
    /// The mean shape, x/y interleaved, in the box's unit square.
    initial_shape: Vec<f32>,
    steps: Vec<Step>,
}

impl ShapePredictorModel {
    /// Parses dlib's serialization of a `shape_predictor` and checks that every
    /// index in it is in range, so running it can never index out of bounds.
    /// `model` names the file in error messages.
    pub(crate) fn parse(bytes: &[u8], model: &str) -> Result<Self, ModelError> {
        let mut r = Reader::new(bytes, model);
        r.version(1, "shape_predictor")?;
        let (_, _, initial_shape) = r.matrix_f32()?;
        if initial_shape.is_empty() || initial_shape.len() % 2 != 0 {
            return Err(shape_error(
                model,
                "initial_shape",
                "an even, non-zero length".into(),
                initial_shape.len(),
            ));
        }
        let shape_len = initial_shape.len();
        if shape_len / 2 > MAX_PARTS {
            return Err(r.error(format!(
                "{} parts is more than the limit {MAX_PARTS}",
                shape_len / 2
            )));
        }

        let parts = shape_len / 2;
        let forests = read_vec(&mut r, MAX_STEPS, |r| {
            read_vec(r, MAX_TREES, |r| read_tree(r, shape_len))
        })?;
        let anchors = read_vec(&mut r, MAX_STEPS, |r| {
            read_vec(r, MAX_PIXELS, |r| read_anchor(r, parts))
        })?;
        let deltas = read_vec(&mut r, MAX_STEPS, |r| {
            read_vec(r, MAX_PIXELS, |r| Ok([r.f32()?, r.f32()?]))
        })?;
        if !r.is_at_end() {
            return Err(r.error("unexpected bytes after the shape predictor"));
        }
        if forests.len() != anchors.len() || forests.len() != deltas.len() {
            return Err(r.error(format!(
                "{} forests but {} anchor lists and {} delta lists; they must match",
                forests.len(),
                anchors.len(),
                deltas.len()
            )));
        }
        let steps = forests
            .into_iter()
            .zip(anchors)
            .zip(deltas)
            .enumerate()
            .map(|(i, ((trees, anchors), deltas))| {
                let step = Step {
                    trees,
                    anchors,
                    deltas,
                };
                step.check(model, i).map(|()| step)
            })
            .collect::<Result<_, _>>()?;
        Ok(ShapePredictorModel {
            initial_shape,
            steps,
        })
    }

    /// Number of landmarks the model predicts.
    pub(crate) fn num_parts(&self) -> usize {
        self.initial_shape.len() / 2
    }

    /// Runs the cascade on `img` inside `rect` and returns each part's
    /// sub-pixel position in image coordinates (dlib rounds these to integers
    /// when it builds a `full_object_detection`).
    pub(crate) fn predict(&self, img: &RgbImage, rect: Rect) -> Vec<[f64; 2]> {
        let to_image = unit_square_to_box(rect);
        let mut shape = self.initial_shape.clone();
        let mut pixels = Vec::new();
        for step in &self.steps {
            let to_current = shape_transform(&self.initial_shape, &shape);
            feature_pixels(img, &to_image, &to_current, &shape, step, &mut pixels);
            for tree in &step.trees {
                let leaf = tree.leaf(&pixels, shape.len());
                for (s, d) in shape.iter_mut().zip(leaf) {
                    *s += d;
                }
            }
        }
        shape
            .chunks_exact(2)
            .map(|p| to_image.apply([f64::from(p[0]), f64::from(p[1])]))
            .collect()
    }
}

/// A `std::vector`: its length (at most `limit`), then each element.
fn read_vec<T>(
    r: &mut Reader<'_>,
    limit: usize,
    mut item: impl FnMut(&mut Reader<'_>) -> Result<T, ModelError>,
) -> Result<Vec<T>, ModelError> {
    let len = r.size(limit)?;
    (0..len).map(|_| item(r)).collect()
}

fn read_anchor(r: &mut Reader<'_>, parts: usize) -> Result<usize, ModelError> {
    let idx = r.size(MAX_PIXELS)?;
    if idx >= parts {
        return Err(r.error(format!("anchor index {idx} is not below the {parts} parts")));
    }
    Ok(idx)
}

impl Step {
    /// Every pixel has a delta and every split reads an existing pixel.
    fn check(&self, model: &str, i: usize) -> Result<(), ModelError> {
        if self.anchors.len() != self.deltas.len() {
            let layer = format!("cascade step {i} deltas");
            return Err(shape_error(
                model,
                &layer,
                self.anchors.len().to_string(),
                self.deltas.len(),
            ));
        }
        for (t, tree) in self.trees.iter().enumerate() {
            for s in &tree.splits {
                let worst = s.idx1.max(s.idx2);
                if worst >= self.anchors.len() {
                    let expected = format!("feature indices below {}", self.anchors.len());
                    return Err(shape_error(
                        model,
                        &format!("cascade step {i} tree {t}"),
                        expected,
                        worst,
                    ));
                }
            }
        }
        Ok(())
    }
}

fn read_tree(r: &mut Reader<'_>, shape_len: usize) -> Result<Tree, ModelError> {
    let mut splits = Vec::new();
    for _ in 0..r.size(MAX_SPLITS)? {
        let idx1 = r.size(MAX_PIXELS)?;
        let idx2 = r.size(MAX_PIXELS)?;
        splits.push(Split {
            idx1,
            idx2,
            thresh: r.f32()?,
        });
    }
    let num_leaves = r.size(MAX_SPLITS + 1)?;
    if num_leaves != splits.len() + 1 || !num_leaves.is_power_of_two() {
        return Err(r.error(format!(
            "a tree with {} splits has {num_leaves} leaves; dlib needs splits + 1, a power of two",
            splits.len()
        )));
    }
    // Each leaf holds `shape_len` floats of at least 4 bytes each: a count
    // the rest of the file cannot hold is refused before allocating.
    let values = num_leaves.saturating_mul(shape_len);
    if values > r.remaining() / MIN_FLOAT_BYTES {
        return Err(r.error(format!(
            "{num_leaves} leaves of {shape_len} values are larger than the file"
        )));
    }
    let mut leaves = Vec::with_capacity(values);
    for _ in 0..num_leaves {
        let (_, _, values) = r.matrix_f32()?;
        if values.len() != shape_len {
            return Err(r.error(format!(
                "a leaf has {} values; the shape has {shape_len}",
                values.len()
            )));
        }
        leaves.extend(values);
    }
    Ok(Tree { splits, leaves })
}

fn shape_error(model: &str, layer: &str, expected: String, got: usize) -> ModelError {
    ModelError::Shape {
        model: model.to_string(),
        layer: layer.to_string(),
        expected,
        got: got.to_string(),
    }
}

/// dlib's `unnormalizing_tform`: (0,0) → top-left and (1,1) → bottom-right
/// corner of the box. dlib passes the corners through `float` points.
fn unit_square_to_box(rect: Rect) -> Affine {
    let corner = |v: i64| f64::from(v as f32);
    let (l, t) = (corner(rect.left), corner(rect.top));
    let (r, b) = (corner(rect.right), corner(rect.bottom));
    Affine {
        m: [[r - l, 0.0], [0.0, b - t]],
        b: [l, t],
    }
}

/// dlib's `find_tform_between_shapes`: the rotation/scale part of the
/// similarity transform from `from` to `to`, cast to `float` as dlib does.
fn shape_transform(from: &[f32], to: &[f32]) -> [[f32; 2]; 2] {
    if from.len() == 2 {
        return [[1.0, 0.0], [0.0, 1.0]];
    }
    let points = |s: &[f32]| -> Vec<[f64; 2]> {
        s.chunks_exact(2)
            .map(|p| [f64::from(p[0]), f64::from(p[1])])
            .collect()
    };
    let m = similarity_transform(&points(from), &points(to)).m;
    [
        [m[0][0] as f32, m[0][1] as f32],
        [m[1][0] as f32, m[1][1] as f32],
    ]
}

/// dlib's `extract_feature_pixel_values`: the grey level under each of the
/// step's feature pixels, placed relative to the current shape; 0 outside.
fn feature_pixels(
    img: &RgbImage,
    to_image: &Affine,
    m: &[[f32; 2]; 2],
    shape: &[f32],
    step: &Step,
    out: &mut Vec<f32>,
) {
    out.clear();
    for (&anchor, d) in step.anchors.iter().zip(&step.deltas) {
        // In float, as dlib computes `tform*delta + location(shape, anchor)`.
        let x = m[0][0] * d[0] + m[0][1] * d[1] + shape[2 * anchor];
        let y = m[1][0] * d[0] + m[1][1] * d[1] + shape[2 * anchor + 1];
        let [px, py] = to_image.apply([f64::from(x), f64::from(y)]);
        let (px, py) = (round_half_up(px), round_half_up(py));
        let inside =
            px >= 0 && py >= 0 && px < i64::from(img.width()) && py < i64::from(img.height());
        out.push(if inside {
            let [r, g, b] = img.get_pixel(px as u32, py as u32).0;
            // dlib's get_pixel_intensity for rgb_pixel: integer mean of the channels.
            ((u32::from(r) + u32::from(g) + u32::from(b)) / 3) as f32
        } else {
            0.0
        });
    }
}

/// dlib's conversion of a real point to an integer one: `floor(x + 0.5)`.
pub(crate) fn round_half_up(v: f64) -> i64 {
    (v + 0.5).floor() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlib::ModelKind;

    fn published() -> &'static [u8] {
        ModelKind::Landmarks.bundled_bytes()
    }

    #[test]
    fn published_model_has_the_expected_structure() {
        let m = ShapePredictorModel::parse(published(), "sp5").unwrap();
        assert_eq!(m.num_parts(), 5);
        assert_eq!(m.steps.len(), 15);
        assert!(m
            .steps
            .iter()
            .all(|s| s.trees.len() == 500 && s.anchors.len() == 800));
    }

    #[test]
    fn truncation_anywhere_is_an_error_not_a_panic() {
        let bytes = published();
        for cut in [
            0,
            1,
            7,
            100,
            5_000,
            bytes.len() / 2,
            bytes.len() - 3,
            bytes.len() - 1,
        ] {
            let err = ShapePredictorModel::parse(&bytes[..cut], "sp5").err();
            assert!(err.is_some(), "cut at {cut} was accepted");
        }
    }

    #[test]
    fn leaf_count_times_shape_is_refused_before_allocating() {
        // 5,000 parts (10,000 zero floats), one step of one tree with 32,767
        // splits, then the leaf count 32,768: 327,680,000 leaf values (1.3 GB)
        // claimed by a file with nothing after the count.
        let mut b = vec![1u8, 1]; // version 1
        b.extend_from_slice(&[0x82, 0x10, 0x27, 0x81, 1]); // -10000 x -1
        for _ in 0..10_000 {
            b.extend_from_slice(&[1, 0, 1, 0]); // 0 = 0·2^0
        }
        b.extend_from_slice(&[1, 1, 1, 1]); // one step, one tree
        b.extend_from_slice(&[2, 0xff, 0x7f]); // 32,767 splits
        for _ in 0..32_767 {
            b.extend_from_slice(&[1, 0, 1, 0, 1, 0, 1, 0]); // idx 0, 0, thresh 0
        }
        b.extend_from_slice(&[2, 0, 0x80]); // 32,768 leaves
        let err = ShapePredictorModel::parse(&b, "sp5").err().unwrap();
        assert!(err.to_string().contains("larger than the file"), "{err}");
    }

    #[test]
    fn out_of_range_anchor_is_refused_with_its_offset() {
        // Skip to the anchor section (after the forests) as the parser does.
        let bytes = published();
        let mut r = Reader::new(bytes, "sp5");
        r.version(1, "shape_predictor").unwrap();
        let (_, _, initial) = r.matrix_f32().unwrap();
        for _ in 0..r.size(MAX_STEPS).unwrap() {
            for _ in 0..r.size(MAX_TREES).unwrap() {
                read_tree(&mut r, initial.len()).unwrap();
            }
        }
        assert_eq!(r.size(MAX_STEPS).unwrap(), 15);
        assert_eq!(r.size(MAX_PIXELS).unwrap(), 800);
        // The first anchor index is one byte after its control byte 0x01.
        let at = r.position() + 1;
        let mut bad = bytes.to_vec();
        bad[at] = 9; // part 9 of a 5-part shape
        let err = ShapePredictorModel::parse(&bad, "sp5")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("anchor index 9") && err.contains("sp5"),
            "{err}"
        );
    }

    #[test]
    fn out_of_range_split_feature_is_refused() {
        // The first split's idx1 follows: version, initial shape, counts 15
        // and 500, and the first tree's split count.
        let bytes = published();
        let mut r = Reader::new(bytes, "sp5");
        r.version(1, "shape_predictor").unwrap();
        r.matrix_f32().unwrap();
        r.size(MAX_STEPS).unwrap();
        r.size(MAX_TREES).unwrap();
        assert_eq!(r.size(MAX_SPLITS).unwrap(), 15);
        let at = r.position();
        let mut bad = bytes.to_vec();
        // Overwrite the two-byte idx1 in place with 900 (there are 800 pixels).
        assert_eq!(bad[at], 2, "first idx1 is stored in two bytes");
        bad[at + 1] = 0x84; // 900 = 0x0384
        bad[at + 2] = 0x03;
        let err = ShapePredictorModel::parse(&bad, "sp5")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("cascade step 0 tree 0") && err.contains("900"),
            "{err}"
        );
    }
}
