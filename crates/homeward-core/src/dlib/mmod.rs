//! dlib's CNN face detector (`mmod_human_face_detector.dat`, MMOD loss).
//!
//! Definition, input side first (dlib's `dnn_mmod_face_detection_ex.cpp`):
//!
//! ```text
//! input_rgb_image_pyramid<pyramid_down<6>>
//! 3 × downsampler: con 5x5/2 (16, 32, 32 filters), affine, relu
//! 3 × rcon5:       con 5x5/1 (45 filters), affine, relu
//! con 9x9/1, 1 filter                      → one score per position
//! ```
//!
//! The image and its 5/6-scaled copies are tiled into one plane
//! ([`TiledPyramid`]), the network scores every position, and each positive
//! score becomes a detector-window-sized box mapped back through the strides
//! and the pyramid level. Boxes are then kept greedily by score with dlib's
//! non-max suppression.

use image::RgbImage;
use ndarray::{s, Array3};

use super::format::Reader;
use super::net::{compile, multiply_adds, read_layers, run, InputLayer, Op, Step};
use super::resize::resize_plane;
use super::{verify, ModelError, ModelKind};
use crate::geometry::{BoxOverlap, Rect};
use crate::nn::Tensor;

/// Pyramid rate of `pyramid_down<6>`: each level is 5/6 of the one before.
const PYRAMID_N: f64 = 6.0;
/// Levels shorter than this are not built (dlib's `min_height`).
const MIN_LEVEL_HEIGHT: i64 = 5;

pub(crate) fn definition() -> Vec<Op> {
    let mut ops = Vec::new();
    for filters in [16, 32, 32] {
        ops.extend([
            Op::Con {
                filters,
                k: 5,
                stride: 2,
            },
            Op::Affine,
            Op::Relu,
        ]);
    }
    for _ in 0..3 {
        ops.extend([
            Op::Con {
                filters: 45,
                k: 5,
                stride: 1,
            },
            Op::Affine,
            Op::Relu,
        ]);
    }
    ops.push(Op::Con {
        filters: 1,
        k: 9,
        stride: 1,
    });
    ops
}

/// The pyramid input layer's padding between levels and around the plane,
/// as the published model stores them (checked by a test).
pub(crate) const PYRAMID_PADDING: i64 = 10;
pub(crate) const PYRAMID_OUTER_PADDING: i64 = 11;

/// Bytes the detector network needs at its peak on a `width × height` image
/// (no upsampling), from the dimensions alone: the tiled pyramid plane, then
/// at the worst layer its input, a padded copy of it and its output (all
/// `f32`). `None` when the plane's size overflows `u64`, which no budget fits.
///
/// Mirrors [`Mmod::detect`] for the published model's definition, so that a
/// budget can be checked before the photo is decoded.
pub(crate) fn network_peak_bytes(width: u32, height: u32) -> Option<u64> {
    let Some((_, rows, cols)) = layout(
        i64::from(height),
        i64::from(width),
        PYRAMID_PADDING,
        PYRAMID_OUTER_PADDING,
    ) else {
        return Some(0);
    };
    let (mut c, mut h, mut w) = (3u64, u64::try_from(rows).ok()?, u64::try_from(cols).ok()?);
    let plane = c.checked_mul(h)?.checked_mul(w)?.checked_mul(4)?;
    let mut peak = plane;
    for op in definition() {
        let Op::Con { filters, k, stride } = op else {
            continue;
        };
        let (k, stride, filters) = (k as u64, stride as u64, filters as u64);
        let pad = if stride != 1 { 0 } else { k / 2 };
        if h + 2 * pad < k || w + 2 * pad < k {
            break; // the network stops here (smaller than its receptive field)
        }
        let (oh, ow) = (
            (h + 2 * pad - k) / stride + 1,
            (w + 2 * pad - k) / stride + 1,
        );
        let input = c.checked_mul(h)?.checked_mul(w)?;
        let output = filters.checked_mul(oh)?.checked_mul(ow)?;
        let step = input.checked_mul(2)?.checked_add(output)?.checked_mul(4)?;
        peak = peak.max(step);
        (c, h, w) = (filters, oh, ow);
    }
    Some(peak)
}

/// A scored box in the coordinates of the image given to [`Mmod::detect`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawDetection {
    /// The face box.
    pub rect: Rect,
    /// Detection score.
    pub score: f64,
}

/// The loaded detector network.
#[derive(Debug, Clone)]
pub struct Mmod {
    input: InputLayer,
    steps: Vec<Step>,
    /// Detector window sizes (width, height), one per output channel.
    windows: Vec<(f64, f64)>,
    nms: BoxOverlap,
}

impl Mmod {
    /// Parses the model after checking its SHA-256.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        verify(ModelKind::Detector, bytes)?;
        Self::parse(bytes)
    }

    /// Parses the model without the checksum (the fuzz entry point's way in).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let mut r = Reader::new(bytes, ModelKind::Detector.file_name());
        r.version(1, "add_loss_layer")?;
        r.tag(&["loss_mmod_"])?;
        let (windows, nms) = read_options(&mut r)?;
        let (input, layers) = read_layers(&mut r, &definition())?;
        if !input.kind.starts_with("input_rgb_image_pyramid") {
            return Err(r.error(format!(
                "expected an image pyramid input layer, found {}",
                input.kind
            )));
        }
        if windows.len() != 1 {
            return Err(r.error(format!(
                "expected one detector window, found {}",
                windows.len()
            )));
        }
        if !r.is_at_end() {
            return Err(r.error("unexpected bytes after the network"));
        }
        let steps = compile(layers).ok_or_else(|| r.error("unexpected fully connected layer"))?;
        Ok(Mmod {
            input,
            steps,
            windows,
            nms,
        })
    }

    /// Detects faces in `img` (no upsampling here): boxes with score > 0,
    /// strongest first, after non-max suppression.
    pub fn detect(&self, img: &RgbImage) -> Vec<RawDetection> {
        let mut pyramid = TiledPyramid::new(img, &self.input);
        let Some(tensor) = pyramid.tensor.take() else {
            return Vec::new();
        };
        let Some(scores) = run(&self.steps, Tensor::from_array3(tensor)) else {
            return Vec::new(); // smaller than the network's receptive field
        };
        let Some(scores) = scores.into_array3() else {
            return Vec::new();
        };
        let (w, h) = self.windows[0];
        let mut found = Vec::new();
        for ((_, r, c), &score) in scores.indexed_iter() {
            if score > 0.0 {
                let (x, y) = self.output_to_input(c as f64, r as f64);
                let rect = centered_drect(x, y, w, h);
                if let Some(rect) = pyramid.to_image_space(rect) {
                    found.push(RawDetection {
                        rect: round_rect(rect),
                        score: score as f64,
                    });
                }
            }
        }
        // dlib sorts by descending score before suppression.
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut kept: Vec<RawDetection> = Vec::new();
        for d in found {
            if !kept.iter().any(|k| self.nms.overlaps(&k.rect, &d.rect)) {
                kept.push(d);
            }
        }
        kept
    }

    /// Multiply-adds of detecting faces in a `width × height` image (no
    /// upsampling): the network over the tiled pyramid.
    pub fn multiply_adds(&self, width: u32, height: u32) -> u64 {
        let [padding, outer] = self.input.extra.map(|v| v as i64);
        let Some((_, rows, cols)) = layout(height as i64, width as i64, padding, outer) else {
            return 0;
        };
        multiply_adds(&self.steps, rows as usize, cols as usize).unwrap_or(0)
    }

    /// Maps an output position back to the input tensor through every
    /// convolution, outermost first: `p ← p·stride − pad + k/2`.
    fn output_to_input(&self, mut x: f64, mut y: f64) -> (f64, f64) {
        for step in self.steps.iter().rev() {
            if let Step::Conv { conv, .. } = step {
                let p = conv.params();
                x = x * p.stride_x as f64 - p.pad_x as f64 + (p.kernel_w / 2) as f64;
                y = y * p.stride_y as f64 - p.pad_y as f64 + (p.kernel_h / 2) as f64;
            }
        }
        (x, y)
    }
}

fn read_options(r: &mut Reader) -> Result<(Vec<(f64, f64)>, BoxOverlap), ModelError> {
    let version = r.int()?;
    if !(1..=4).contains(&version) {
        return Err(r.error(format!("unknown mmod_options version {version}")));
    }
    let mut windows = Vec::new();
    if version == 1 {
        windows.push((r.uint()? as f64, r.uint()? as f64));
    } else {
        let n = r.size(64)?;
        for _ in 0..n {
            let v = r.int()?;
            let (w, h) = (r.uint()? as f64, r.uint()? as f64);
            if v == 2 {
                r.string()?; // label
            }
            windows.push((w, h));
        }
    }
    r.f64()?; // loss per false alarm
    r.f64()?; // loss per missed target
    r.f64()?; // truth match IoU threshold
    let nms = BoxOverlap {
        iou_thresh: r.f64()?,
        percent_covered_thresh: r.f64()?,
    };
    r.f64()?; // overlaps_ignore
    r.f64()?;
    if version >= 3 {
        r.uint()?; // assume_image_pyramid
    }
    if version >= 4 && r.bool()? {
        return Err(r.error("bounding box regression is not supported"));
    }
    if version >= 4 {
        r.f64()?; // bbr lambda
    }
    Ok((windows, nms))
}

/// A box with real-valued corners (dlib's `drectangle`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct DRect {
    l: f64,
    t: f64,
    r: f64,
    b: f64,
}

/// dlib's `centered_drect`: a `w × h` box (inclusive corners) around `(x, y)`.
fn centered_drect(x: f64, y: f64, w: f64, h: f64) -> DRect {
    let (w, h) = (w - 1.0, h - 1.0);
    DRect {
        l: x - w / 2.0,
        t: y - h / 2.0,
        r: x + w / 2.0,
        b: y + h / 2.0,
    }
}

/// `lround` of each corner, as dlib converts a `drectangle` to a `rectangle`.
fn round_rect(d: DRect) -> Rect {
    Rect::new(
        d.l.round() as i64,
        d.t.round() as i64,
        d.r.round() as i64,
        d.b.round() as i64,
    )
}

/// The image and its `pyramid_down<6>` levels tiled into one tensor, and the
/// box each level occupies in it.
struct TiledPyramid {
    tensor: Option<Array3<f32>>,
    rects: Vec<Rect>,
}

impl TiledPyramid {
    fn new(img: &RgbImage, input: &InputLayer) -> Self {
        let (nr, nc) = (img.height() as i64, img.width() as i64);
        let [padding, outer] = input.extra.map(|v| v as i64);
        let Some((rects, total_nr, total_nc)) = layout(nr, nc, padding, outer) else {
            return TiledPyramid {
                tensor: None,
                rects: Vec::new(),
            };
        };
        let mut t = Array3::<f32>::zeros((3, total_nr as usize, total_nc as usize));
        let top = &rects[0];
        for (x, y, p) in img.enumerate_pixels() {
            for ch in 0..3 {
                t[[
                    ch,
                    (top.top + y as i64) as usize,
                    (top.left + x as i64) as usize,
                ]] = (p[ch] as f32 - input.mean[ch]) / 256.0;
            }
        }
        for i in 1..rects.len() {
            // A cancelled analysis (faces::Cancel) stops before the next level.
            if crate::cancel::cancel_requested() {
                return TiledPyramid {
                    tensor: None,
                    rects,
                };
            }
            let (a, b) = (rects[i - 1], rects[i]);
            for ch in 0..3 {
                let src = t
                    .slice(s![ch, span(a.top, a.bottom), span(a.left, a.right)])
                    .to_owned();
                let dst = t.slice_mut(s![ch, span(b.top, b.bottom), span(b.left, b.right)]);
                resize_plane(src.view(), dst);
            }
        }
        TiledPyramid {
            tensor: Some(t),
            rects,
        }
    }

    /// Maps a box in tensor space to the original image: find the level nearest
    /// the box centre, then scale up by that level (dlib's `tiled_pyramid_to_image`).
    fn to_image_space(&self, r: DRect) -> Option<DRect> {
        let cx = ((r.l + r.r) / 2.0 + 0.5).floor() as i64;
        let cy = ((r.t + r.b) / 2.0 + 0.5).floor() as i64;
        let level = nearest_rect(&self.rects, cx, cy)?;
        let origin = &self.rects[level];
        let up = |x: f64, y: f64| {
            let (mut x, mut y) = (x - origin.left as f64, y - origin.top as f64);
            for _ in 0..level {
                x = x * (PYRAMID_N / (PYRAMID_N - 1.0)) + 0.3;
                y = y * (PYRAMID_N / (PYRAMID_N - 1.0)) + 0.3;
            }
            (x, y)
        };
        let (l, t) = up(r.l, r.t);
        let (rr, b) = up(r.r, r.b);
        Some(DRect { l, t, r: rr, b })
    }
}

/// Index of the box containing `(x, y)`, else of the nearest box.
fn nearest_rect(rects: &[Rect], x: i64, y: i64) -> Option<usize> {
    let mut best = None;
    let mut best_dist = f64::INFINITY;
    for (i, r) in rects.iter().enumerate() {
        if r.contains(x, y) {
            return Some(i);
        }
        let nx = x.clamp(r.left, r.right);
        let ny = y.clamp(r.top, r.bottom);
        let dist = (((nx - x) * (nx - x) + (ny - y) * (ny - y)) as f64).sqrt();
        if dist < best_dist {
            best_dist = dist;
            best = Some(i);
        }
    }
    best
}

/// dlib's `compute_tiled_image_pyramid_details`: where each pyramid level goes
/// in the tiled plane, and the plane's size `(rows, cols)`. The first level is
/// the image; levels go down a first column, then back up a second one.
fn layout(nr: i64, nc: i64, padding: i64, outer: i64) -> Option<(Vec<Rect>, i64, i64)> {
    if nr * nc == 0 {
        return None;
    }
    let mut rects = vec![Rect::new(0, 0, nc - 1, nr - 1)];
    let (mut r, mut c) = (nr, nc);
    let rate = (PYRAMID_N - 1.0) / PYRAMID_N;
    loop {
        r = (rate * r as f64).floor() as i64;
        c = (rate * c as f64).floor() as i64;
        if r * c == 0 || r < MIN_LEVEL_HEIGHT {
            break;
        }
        rects.push(Rect::new(0, 0, c - 1, r - 1));
    }
    let total_height: i64 = rects.iter().map(|r| r.height() + padding).sum::<i64>() - 2 * padding;
    let first = rects[0];
    let mut height = 0;
    let mut prev_width = 0;
    for rect in &rects {
        if rect.width() <= first.width() - prev_width - padding
            && (height - first.height()) * 2 >= total_height - first.height()
        {
            break;
        }
        height += rect.height() + padding;
        prev_width = rect.width();
    }
    height -= padding;
    let width = first.width();
    let (out_nr, out_nc) = (height + outer * 2, width + outer * 2);

    let mut y = outer;
    let mut i = 0;
    while y < height + outer && i < rects.len() {
        rects[i] = translate(rects[i], outer, y);
        y += rects[i].height() + padding;
        i += 1;
    }
    y -= padding;
    while i < rects.len() {
        let (x1, y1) = (outer + width - 1, y - 1);
        let br = (rects[i].right, rects[i].bottom);
        let rect = Rect::new(x1 - br.0, y1 - br.1, x1, y1);
        if rects[0].intersect(&rect).area() > 0 {
            break;
        }
        rects[i] = rect;
        y -= rects[i].height() + padding;
        i += 1;
    }
    rects.truncate(i);
    Some((rects, out_nr, out_nc))
}

/// The inclusive index range `a..=b` of a box side inside the plane.
fn span(a: i64, b: i64) -> std::ops::RangeInclusive<usize> {
    a as usize..=b as usize
}

#[cfg(all(test, feature = "bundled-models"))]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_uses_the_published_models_padding() {
        let m = Mmod::from_bytes(ModelKind::Detector.bundled_bytes()).expect("bundled model");
        assert_eq!(
            m.input.extra,
            [PYRAMID_PADDING as u64, PYRAMID_OUTER_PADDING as u64]
        );
    }

    #[test]
    fn a_very_wide_strip_costs_far_more_than_its_pixels() {
        // 3,000,000 × 1: the plane is padded to 23 rows, so the network's
        // first layer alone needs gigabytes for 3 MB of pixels.
        let peak = network_peak_bytes(3_000_000, 1).expect("fits u64");
        assert!(peak > 1 << 30, "{peak}");
        let photo = network_peak_bytes(1000, 750).expect("fits u64");
        assert!(photo < 200 << 20, "{photo}");
    }
}

fn translate(r: Rect, dx: i64, dy: i64) -> Rect {
    Rect::new(r.left + dx, r.top + dy, r.right + dx, r.bottom + dy)
}
